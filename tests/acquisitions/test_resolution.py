"""Resolution against the item store: identifiers exactly, titles and authors fuzzily, Vietnamese
with and without diacritics, thresholds; on real MARC (the demo's new acquisitions, pymarc's Perl books)."""

import pytest

from crm.acquisitions.services import resolution
from crm.acquisitions.services.resolution import (
    HELD_CONFIDENCE, UNCERTAIN_CONFIDENCE, Candidate, Wanted, confidence, resolve, status_for, title_similarity,
)
from tests.acquisitions.helpers import PERL_MARC, ingest_demo, ingest_file, item_id, shared


@pytest.fixture
async def catalogue(session_maker, factory):
    await ingest_demo(session_maker, factory)
    await ingest_file(session_maker, factory, shared(PERL_MARC), "pymarc")


async def run(session_maker, wanted: Wanted):
    async with session_maker() as s:
        return await resolve(s, wanted)


# --- identifiers --------------------------------------------------------------------------


async def test_an_isbn_resolves_exactly_in_any_spelling(session_maker, catalogue):
    expected = await item_id(session_maker, "Học máy")
    for isbn in ("9786040000057",):
        found = await run(session_maker, Wanted(title="", isbn=isbn))
        assert (found.status, found.item_id, found.confidence, found.method) == ("held", expected, 100.0, "isbn")
    # An ISBN-10 on a record is stored as ISBN-13: "0596000278" is Programming Perl.
    perl = await run(session_maker, Wanted(title="whatever", isbn="9780596000271"))
    assert perl.status == "held" and perl.item_id == await item_id(session_maker, "Programming Perl")


async def test_an_unknown_isbn_falls_back_to_the_title(session_maker, catalogue):
    found = await run(session_maker, Wanted(title="Học máy", authors=["Vũ Hữu Tiệp"], isbn="9780306406157"))
    # Same title and author, but the citation's ISBN is not the item's: another edition at best.
    assert found.status == "uncertain" and found.method == "title"
    assert found.item_id == await item_id(session_maker, "Học máy")


# --- titles and authors -------------------------------------------------------------------


@pytest.mark.parametrize("title, authors", [
    ("Học máy", ["Vũ Hữu Tiệp"]),
    ("Hoc may", ["Vu Huu Tiep"]),                                   # typed without diacritics
    ("HỌC MÁY", ["Vũ, Hữu Tiệp"]),                                  # APA order, capitals
    ("Xử lý ngôn ngữ tự nhiên tiếng Việt", []),                     # no author: title alone
    ("Xu ly ngon ngu tu nhien tieng Viet", ["Nguyen Thi Minh Huyen"]),
    ("Lịch sử Việt Nam thời kỳ cận đại", ["Đinh Xuân Lâm"]),
    ("Lich su Viet Nam thoi ky can dai", ["Dinh Xuan Lam"]),         # đ folds to d
])
async def test_vietnamese_titles_resolve_with_and_without_diacritics(session_maker, catalogue, title, authors):
    found = await run(session_maker, Wanted(title=title, authors=authors))
    assert found.status == "held", (title, found)
    assert found.confidence >= HELD_CONFIDENCE and found.method == "title"


async def test_english_titles_resolve_against_a_real_catalogue(session_maker, catalogue):
    found = await run(session_maker, Wanted(title="Programming Perl", authors=["Wall, L."], year=2000))
    assert found.status == "held" and found.item_id == await item_id(session_maker, "Programming Perl")
    subtitle = await run(session_maker, Wanted(title="Deep learning: adaptive computation and machine learning",
                                               authors=["Goodfellow, I."]))
    assert subtitle.status == "held" and subtitle.item_id == await item_id(session_maker, "Deep learning")


async def test_the_same_title_by_another_author_is_uncertain(session_maker, catalogue):
    found = await run(session_maker, Wanted(title="Học máy", authors=["Nguyễn Văn Bảo"]))
    assert found.status == "uncertain" and UNCERTAIN_CONFIDENCE <= found.confidence < HELD_CONFIDENCE
    assert found.item_id == await item_id(session_maker, "Học máy")


async def test_a_similar_but_different_title_is_not_held(session_maker, catalogue):
    # "Học sâu" shares letters with "Học máy", not a book.
    assert (await run(session_maker, Wanted(title="Học sâu", authors=["Vũ Hữu Tiệp"]))).status == "not_held"
    assert (await run(session_maker, Wanted(title="Giáo trình kế toán tài chính"))).status == "not_held"
    assert (await run(session_maker, Wanted(title="", authors=["Vũ Hữu Tiệp"]))).status == "not_held"


async def test_rejected_candidates_are_never_proposed_again(session_maker, catalogue):
    first = await run(session_maker, Wanted(title="Học máy", authors=["Nguyễn Văn Bảo"]))
    again = await run(session_maker, Wanted(title="Học máy", authors=["Nguyễn Văn Bảo"], exclude=(first.item_id,)))
    assert again.item_id != first.item_id


async def test_withdrawn_items_are_not_held(session_maker, factory, catalogue):
    from sqlalchemy import update

    from crm.sources.models import ItemSource

    hoc_may = await item_id(session_maker, "Học máy")
    async with session_maker() as s, s.begin():
        await s.execute(update(ItemSource).where(ItemSource.item_id == hoc_may).values(deleted=True))
    assert (await run(session_maker, Wanted(title="", isbn="9786040000057"))).status == "not_held"
    assert (await run(session_maker, Wanted(title="Học máy", authors=["Vũ Hữu Tiệp"]))).status == "not_held"


# --- the score itself ---------------------------------------------------------------------


def test_thresholds_are_ordered_and_named():
    assert 0 < UNCERTAIN_CONFIDENCE < HELD_CONFIDENCE <= resolution.EXACT_CONFIDENCE
    assert status_for(HELD_CONFIDENCE) == "held"
    assert status_for(UNCERTAIN_CONFIDENCE) == "uncertain"
    assert status_for(UNCERTAIN_CONFIDENCE - 0.1) == "not_held"


def test_titles_compare_without_case_diacritics_or_punctuation():
    assert title_similarity("Thư viện số!", "THU VIEN SO") == 100
    assert title_similarity("Học máy", "Học sâu") < UNCERTAIN_CONFIDENCE
    assert title_similarity("Thư viện số hóa: lý thuyết", "Thư viện số hóa", "lý thuyết") == 100


def test_a_different_year_lowers_the_confidence():
    item = Candidate(id=1, title="Thi pháp học", subtitle=None, authors=["Trần Đình Sử"], year=2023, isbns=[])
    same = confidence(Wanted(title="Thi pháp học", authors=["Trần Đình Sử"], year=2023), item)
    other = confidence(Wanted(title="Thi pháp học", authors=["Trần Đình Sử"], year=1993), item)
    assert same == 100 and other == same - resolution.YEAR_PENALTY

"""Preview: what a profile, saved or being edited, would have matched in the last N days, with hits marked."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from crm.errors import FieldErrors
from crm.interests.models import InterestProfile
from crm.interests.query import QueryError
from crm.liaison.search import profile_key
from crm.matching.analysis import analyze_item
from crm.matching.evaluate import compile_query
from crm.matching.preview import Scanned, prefilter, preview_profile
from crm.sources.ingest import ingest
from crm.sources.models import Item, Source
from crm.sources.records import ItemRecord, Subject
from tests.conftest import bearer
from tests.liaison.people import make_contact

LONG = "Thư viện số hóa trong trường đại học"
PLAIN = "thu vien so va du lieu mo"
OLD = "Quản trị thư viện đại học"
XSS = '<script>alert("thư viện")</script> Thư viện <b>số</b>'


@pytest.fixture
async def library(factory, session_maker):
    """Two sources and five items; one was first seen 200 days ago."""
    books = await factory.add(Source(name="Sách mới", kind="marc", path="/tmp/sach-moi.mrc"))
    theses = await factory.add(Source(name="Kho luận văn", kind="oai", url="https://repo.example.edu.vn/oai"))
    await ingest(session_maker, books.id, [
        ItemRecord(record_key="1", title=LONG, language="vie", year=2025, authors=["Nguyễn Văn An"],
                   subjects=[Subject("Thư viện số", "local")],
                   abstract="Bài viết bàn về " + "việc tổ chức, " * 40 + "thư viện số ở Việt Nam."),
        ItemRecord(record_key="3", title=OLD, language="vie", ddc="025.1"),
        ItemRecord(record_key="4", title="Học máy", language="vie", ddc="006.31"),
        ItemRecord(record_key="5", title=XSS, language="vie"),
    ])
    await ingest(session_maker, theses.id, [ItemRecord(record_key="oai:2", title=PLAIN, language="vie")])
    async with session_maker() as s, s.begin():
        await s.execute(update(Item).where(Item.title == OLD)
                        .values(first_seen_at=datetime.now(UTC) - timedelta(days=200)))
    return {"books": books, "theses": theses}


@pytest.fixture
async def profile(factory, library):
    unit = await factory.unit()
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", unit.id)
    return await factory.add(InterestProfile(contact_id=an.id, name="Thư viện số", keywords=["thư viện số"],
                                             search_key=profile_key("Thư viện số", None, ["thư viện số"])))


def titles(preview) -> list[str]:
    return [found.item.title for found in preview.items]


async def test_folded_query_finds_both_spellings_best_first(session_maker, library):
    async with session_maker() as s:
        preview = await preview_profile(s, '"thư viện số"', False, 90)
    assert set(titles(preview)) == {LONG, PLAIN}
    assert titles(preview)[0] == LONG  # title and subject heading hits score above a title alone
    assert preview.scanned == 4 and preview.matched == 2  # the item seen 200 days ago is outside the window
    best = preview.items[0].match
    assert best.score > preview.items[1].match.score
    assert {hit.clause for hit in best.hits} == {'"thu vien so"'}
    assert set(best.hits[0].fields) == {"title", "subjects", "abstract"}
    async with session_maker() as s:
        folded = await preview_profile(s, '"thu vien so"', False, 90)
        words = await preview_profile(s, "thu vien so", False, 90)
    assert set(titles(folded)) == {LONG, PLAIN}
    assert set(titles(words)) == {LONG, PLAIN, XSS}  # words, not a phrase: anywhere in the title


async def test_exact_flag_excludes_the_unaccented_spelling(session_maker, library):
    async with session_maker() as s:
        assert titles(await preview_profile(s, '"Thư viện số"', True, 90)) == [LONG]
        assert titles(await preview_profile(s, '"thư Viện số"', True, 90)) == []  # case matters too
        assert titles(await preview_profile(s, '"thu vien so"', True, 90)) == [PLAIN]


async def test_days_window(session_maker, library):
    async with session_maker() as s:
        recent = await preview_profile(s, '"thư viện"', False, 30)
        year = await preview_profile(s, '"thư viện"', False, 365)
    assert OLD not in titles(recent)
    assert OLD in titles(year) and year.scanned == 5
    assert recent.since > year.since


async def test_source_clause_uses_the_items_sources(session_maker, library):
    async with session_maker() as s:
        by_name = await preview_profile(s, '"thư viện số" AND source:"kho luận văn"', False, 90)
        by_id = await preview_profile(s, f'"thư viện số" AND source:{library["books"].id}', False, 90)
    assert titles(by_name) == [PLAIN]
    assert by_name.items[0].sources == [(library["theses"].id, "Kho luận văn")]
    assert titles(by_id) == [LONG]


async def test_limit_keeps_the_best_and_counts_all_with_small_batches(session_maker, library):
    async with session_maker() as s:
        full = await preview_profile(s, "thư OR học", False, 365, 50)
        best_two = await preview_profile(s, "thư OR học", False, 365, 2, batch_size=1)
    assert full.matched == best_two.matched == 5
    assert titles(best_two) == titles(full)[:2]
    scores = [found.match.score for found in full.items]
    assert scores == sorted(scores, reverse=True)


async def test_bad_input(session_maker, library):
    async with session_maker() as s:
        with pytest.raises(QueryError) as caught:
            await preview_profile(s, "title:(a OR b", False, 90)
        assert caught.value.position == 6
        for days in (0, 366):
            with pytest.raises(FieldErrors) as refused:
                await preview_profile(s, "a", False, days)
            assert "days" in refused.value.errors
        with pytest.raises(FieldErrors):
            await preview_profile(s, "a", False, 90, 0)


async def test_api_preview_of_a_saved_profile(client, librarian_token, profile):
    r = await client.get(f"/api/profiles/{profile.id}/preview", headers=bearer(librarian_token))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["query"] == '"thư viện số"' and data["exact"] is False and data["days"] == 90
    assert (data["matched"], data["scanned"]) == (2, 4)
    first = data["items"][0]
    assert first["title"] == LONG and first["url"] == f"/items/{first['id']}"
    assert first["title_html"] == "<mark>Thư viện số</mark> hóa trong trường đại học"
    assert "<mark>thư viện số</mark>" in first["abstract_html"] and first["abstract_html"].startswith("…")
    assert first["hits"][0]["clause"] == '"thu vien so"' and "title" in first["hits"][0]["fields"]
    assert first["authors"] == ["Nguyễn Văn An"] and first["year"] == 2025

    r = await client.get(f"/api/profiles/{profile.id}/preview", params={"days": 365, "limit": 1},
                         headers=bearer(librarian_token))
    assert r.json()["matched"] == 2 and len(r.json()["items"]) == 1
    for days in ("0", "366", "abc"):
        r = await client.get(f"/api/profiles/{profile.id}/preview", params={"days": days},
                             headers=bearer(librarian_token))
        assert r.status_code == 400 and "days" in r.json()["errors"], days
    assert (await client.get("/api/profiles/999999/preview", headers=bearer(librarian_token))).status_code == 404


async def test_api_preview_of_a_profile_being_edited(client, librarian_token, library):
    headers = bearer(librarian_token)
    r = await client.get("/api/profiles/preview", headers=headers, params={"query": '"Thư viện số"', "exact": "true"})
    assert r.status_code == 200 and [i["title"] for i in r.json()["items"]] == [LONG]
    r = await client.get("/api/profiles/preview", headers=headers, params={"keywords": "thu vien so", "languages": "vi"})
    assert r.json()["query"] == '"thu vien so" AND lang:vie' and r.json()["matched"] == 2

    r = await client.get("/api/profiles/preview", headers=headers, params={"query": "thư AND (viện"})
    assert r.status_code == 400
    assert r.json()["position"] == 8 and "(vị trí 9)" in r.json()["errors"]["query"]
    r = await client.get("/api/profiles/preview", headers=headers, params={"class_ranges": "999-100"})
    assert r.status_code == 400 and "class_ranges" in r.json()["errors"]
    r = await client.get("/api/profiles/preview", headers=headers, params={"topics": "Một câu mô tả dài, không thành cụm từ nào ngắn"})
    assert r.status_code == 400 and "query" in r.json()["errors"]  # nothing to look for


async def test_permissions(client, profile):
    assert (await client.get(f"/api/profiles/{profile.id}/preview")).status_code == 401
    assert (await client.get("/api/profiles/preview", params={"query": "a"})).status_code == 401
    for path in (f"/profiles/{profile.id}/preview", "/profiles/preview?query=a"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_preview_page_of_a_saved_profile(client, librarian, profile):
    r = await client.get(f"/profiles/{profile.id}/preview")
    assert r.status_code == 200
    assert "<mark>Thư viện số</mark> hóa trong trường đại học" in r.text
    assert "<mark>thu vien so</mark> va du lieu mo" in r.text
    assert "Kho luận văn" in r.text and "Trong 4 tài liệu mới" in r.text
    r = await client.get(f"/profiles/{profile.id}/preview", params={"days": "365"})
    assert "Trong 5 tài liệu mới" in r.text and 'value="365"' in r.text
    r = await client.get(f"/profiles/{profile.id}/preview", params={"days": "-3"})
    assert r.status_code == 400 and 'id="e-days"' in r.text and "365" in r.text


async def test_preview_page_of_a_profile_being_edited(client, librarian, profile):
    form = {"name": "Hồ sơ <i>nháp</i>", "query": 'title:"thư viện" AND NOT "quản trị"', "profile_id": str(profile.id),
            "_csrf_token": "from-the-form"}
    r = await client.get("/profiles/preview?" + urlencode(form), follow_redirects=False)
    assert r.status_code == 303 and "_csrf_token" not in r.headers["location"]  # kept out of the address bar
    r = await client.get(r.headers["location"])
    assert r.status_code == 200
    assert "Hồ sơ &lt;i&gt;nháp&lt;/i&gt;" in r.text and "chưa được lưu" in r.text
    assert f'href="/profiles/{profile.id}"' in r.text
    assert "<mark>Thư viện</mark> số hóa" in r.text and "Quản trị" not in r.text
    # The days form carries the draft's fields along.
    assert '<input type="hidden" name="query" value="title:&#34;thư viện&#34; AND NOT &#34;quản trị&#34;">' in r.text

    r = await client.get("/profiles/preview", params={"query": "thư AND (viện"})
    assert r.status_code == 400 and "(vị trí 9)" in r.text
    assert '<mark class="fault">(</mark>' in r.text


async def test_titles_stay_escaped(client, librarian, profile, librarian_token):
    r = await client.get("/profiles/preview", params={"query": "thư viện"})
    assert "<script>alert" not in r.text and "<b>số</b>" not in r.text
    assert "&lt;script&gt;alert(&#34;<mark>thư</mark> <mark>viện</mark>&#34;)&lt;/script&gt;" in r.text
    data = (await client.get("/api/profiles/preview", params={"query": "thư viện"}, headers=bearer(librarian_token))).json()
    xss = next(i for i in data["items"] if i["title"] == XSS)
    assert "<script>" not in xss["title_html"] and "&lt;b&gt;số&lt;/b&gt;" in xss["title_html"]


async def test_detail_page_links_to_the_preview(client, librarian, profile, session_maker):
    r = await client.get(f"/profiles/{profile.id}")
    assert f'href="/profiles/{profile.id}/preview"' in r.text
    assert "&#34;thư viện số&#34;" in r.text  # the compiled query
    async with session_maker() as s:
        assert (await s.scalar(select(InterestProfile.query).where(InterestProfile.id == profile.id))) is None


def _row(**fields) -> SimpleNamespace:
    return SimpleNamespace(**{"title": "", "subtitle": None, "subjects": [], "abstract": None, "authors": [], "ddc": None,
                              "lcc": None, "ddc_key": None, "lcc_key": None, "language": None, "material_type": None,
                              "year": None, **fields})


RAWS = [
    {"title": LONG, "subjects": [{"heading": "Thư viện số"}], "language": "vie", "year": 2025},
    {"title": PLAIN, "language": "eng"}, {"title": OLD, "ddc": "025.1"}, {"title": "x", "abstract": "THƯ VIỆN"},
    {"title": "Sách", "authors": ["Nguyễn Văn An"], "lcc": "QA76.9 .A1", "material_type": "thesis", "year": 2019},
    {"title": "Thư-viện số; hóa", "subtitle": "Đại học", "ddc": "004.6"},
]


@pytest.mark.parametrize(("query", "passing"), [
    ('"thư viện số"', {0, 1, 2, 3, 5}),  # the phrase's longest word, "vien"
    ("thư* AND lang:vi", {0}),
    ('title:"Đại học" OR author:an', {0, 2, 4, 5}),  # a substring test: "an" passes "Quản trị…" too
    ("class:004* AND NOT x", {5}),
    ("class:[QA76 TO QA76.99] AND type:thesis AND year:<2020", {4}),
    ("sách OR source:3", None),  # source: is known only once the item's sources are read
])
def test_prefilter(query, passing):
    check = prefilter(compile_query(query).root)
    if passing is None:
        assert check is None
    else:
        assert {n for n, raw in enumerate(RAWS) if check(Scanned(_row(**raw)))} == passing


def test_the_prefilter_never_skips_a_match():
    """The scan analyzes only the items that pass the prefilter: every match must pass it."""
    queries = ['"thư viện"', "viện*", 'author:"nguyễn văn"', 'subject:"thư viện số" OR sách', '"số hóa" AND title:thư',
               '"Thư viện"', "đại AND NOT x", "Đại*", "class:004* OR class:[QA76 TO QA77]", "lang:vi AND thư",
               "year:[2018 TO 2020] AND type:thesis", "(thư OR class:025*) AND year:>2000", "lang:en OR lang:vie"]
    matched = skipped = 0
    for query in queries:
        for exact in (False, True):
            compiled = compile_query(query, exact)
            check = prefilter(compiled.root)
            for raw in RAWS:
                passes = check is None or check(Scanned(_row(**raw)))
                if compiled.evaluate(analyze_item(raw)) is not None:
                    matched += 1
                    assert passes, (query, exact, raw)
                elif not passes:
                    skipped += 1
    assert matched > 20 and skipped > 40

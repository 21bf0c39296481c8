"""Evaluation: folding, exact mode, phrases, fields, class ranges, filters, scores and explanations."""

import pytest

from crm.matching.analysis import analyze_item
from crm.matching.evaluate import compile_query, evaluate
from crm.sources.records import ItemRecord, Subject
from tests.matching.helpers import item

LONG_TITLE = item("Thư viện số hóa trong trường đại học")
FOLDED_TITLE = item("thu vien so")
DAI_HOC = item("Giáo trình dai hoc")
DAI_HOC_ACCENTS = item("Giáo trình đại học")


def matches(query: str, target, exact: bool = False) -> bool:
    return evaluate(query, target, exact) is not None


@pytest.mark.parametrize("target", [LONG_TITLE, FOLDED_TITLE])
def test_thu_vien_so_matches_with_and_without_diacritics(target):
    assert matches('"thư viện số"', target)
    assert matches("thư viện số", target)
    assert matches('"thu vien so"', target)


@pytest.mark.parametrize("target", [DAI_HOC, DAI_HOC_ACCENTS])
def test_dai_hoc_folds_case_and_d(target):
    assert matches('"Đại học"', target)


def test_exact_mode_refuses_the_folded_spellings():
    assert matches('"thư viện số"', LONG_TITLE, exact=True) is False
    assert matches('"Thư viện số"', LONG_TITLE, exact=True)
    assert not matches('"thư viện số"', FOLDED_TITLE, exact=True)
    assert not matches('"Đại học"', DAI_HOC, exact=True)
    assert not matches('"Đại học"', DAI_HOC_ACCENTS, exact=True)  # case must match too
    assert matches('"đại học"', DAI_HOC_ACCENTS, exact=True)
    assert matches("Thư*", LONG_TITLE, exact=True) and not matches("thư*", LONG_TITLE, exact=True)


def test_phrases_need_consecutive_words():
    assert not matches('"thư số"', LONG_TITLE)
    assert matches('"số hóa"', LONG_TITLE)


def test_phrases_do_not_span_two_subject_headings():
    target = item("x", subjects=("Thư viện", "Số hóa"))
    assert matches('subject:"số hóa"', target)
    assert not matches('subject:"viện số"', target)


def test_fields():
    target = item("Dữ liệu mở", subtitle="Hướng dẫn", subjects=("Khoa học dữ liệu",), abstract="Về thư viện",
                  authors=("Nguyễn Văn An",))
    assert matches("title:huong", target) and not matches("title:khoa", target)
    assert matches("subject:khoa", target) and not matches("subject:mo", target)
    assert matches("author:nguyen", target) and not matches("nguyen", target)
    assert matches("thu AND vien", target)  # the abstract is in the default field


def test_prefix_and_boolean_operators():
    assert matches("vi*", LONG_TITLE)
    assert not matches("vienx*", LONG_TITLE)
    assert matches("thư -chó", LONG_TITLE)
    assert not matches("thư AND NOT trường", LONG_TITLE)
    assert matches("chó OR trường", LONG_TITLE)


DDC = item("x", ddc="006.995 NGU")
LCC = item("x", lcc="QA76.73.P98 V36 2019")


def test_ddc_ranges_are_inclusive_and_cover_extensions():
    assert matches("class:[004 TO 006.99]", DDC)  # 006.995 extends 006.99
    assert matches("class:[006.995 TO 007]", DDC)
    assert matches("class:006*", DDC) and matches("class:006.9", DDC)
    assert not matches("class:[004 TO 006.98]", DDC)
    assert not matches("class:007*", DDC)
    assert matches("class:[004 TO 004]", item("x", ddc="004"))


def test_lcc_ranges_order_letters_q_qa_qb():
    assert matches("class:[QA76 TO QA76.99]", LCC)
    assert matches("class:QA76*", LCC) and matches("class:QA*", LCC)
    assert not matches("class:Q*", LCC)  # Q is the class Q alone: Q < QA < QB
    assert matches("class:Q*", item("x", lcc="Q180.55"))
    assert not matches("class:QB*", LCC) and not matches("class:QA*", item("x", lcc="Q180.55"))
    assert matches("class:[Q1 TO QB1]", LCC)
    assert not matches("class:[QB1 TO QB999]", LCC)
    assert not matches("class:[Q1 TO Q999]", LCC)
    assert not matches("class:[004 TO 999]", LCC)


def test_filters():
    target = item("Thư viện", language="vie", material_type="book", year=2024, sources=((3, "Koha Đại học Huế"),))
    assert matches("thư AND lang:vi", target) and not matches("thư AND lang:en", target)
    assert matches("thư AND type:book", target) and not matches("thư AND type:article", target)
    assert matches("thư AND year:[2020 TO 2025]", target) and matches("thư year:>=2024", target)
    assert not matches("thư year:<2024", target)
    assert matches("thư source:3", target) and matches('thư source:"dai hoc hue"', target)
    assert not matches("thư source:4", target)


def test_item_records_are_analyzed_like_items():
    record = ItemRecord(record_key="1", title="Thư viện số", subjects=[Subject("Thư viện số", "local")],
                        ddc="025.04", language="vie")
    target = analyze_item(record)
    assert matches('subject:"thu vien so" AND class:025* AND lang:vie', target)


def test_explanation_names_fields_and_terms():
    target = item("Thư viện số", subjects=("Thư viện số",), abstract="dữ liệu mở", ddc="025.04")
    found = evaluate('"thư viện số" OR dữ OR class:025* OR robot', target)
    by_clause = {hit.clause: hit for hit in found.hits}
    assert by_clause['"thu vien so"'].fields == ("title", "subjects")
    assert by_clause['"thu vien so"'].weight == 3.0
    assert by_clause["du"].fields == ("abstract",) and by_clause["du"].weight == 1.0
    assert by_clause["class:025*"].kind == "class"
    assert "robot" not in by_clause
    assert found.score == 7.0
    assert "abstract: du (1)" in found.explanation()


def test_scores_rank_subject_and_class_above_title_above_abstract():
    query = compile_query("mạng")
    subject = query.evaluate(item("x", subjects=("Mạng máy tính",)))
    title = query.evaluate(item("Mạng máy tính"))
    abstract = query.evaluate(item("x", abstract="mạng máy tính"))
    assert subject.score > title.score > abstract.score > 0
    assert compile_query("class:004*").evaluate(item("x", ddc="004.6")).score == subject.score


def test_not_clauses_add_no_hits():
    found = evaluate("thư -chó", LONG_TITLE)
    assert [hit.clause for hit in found.hits] == ["thu"]

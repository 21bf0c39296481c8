"""The query language: every syntax element parses to the meaning we document, and every fault
is reported with its position."""

import pytest

from crm.i18n import language
from crm.interests.query import (
    And, ClassRange, Not, Or, Phrase, QueryError, Term, Value, YearRange, parse_query,
)


def root(text: str, exact: bool = False):
    return parse_query(text, exact).root


def test_words_are_folded_terms_in_the_default_field():
    assert root("Thư") == Term("default", "thu", False, False, 0)
    assert root("Đại").text == "dai"


def test_phrase_keeps_its_words_in_order():
    node = root('"Thư viện số"')
    assert isinstance(node, Phrase) and node.tokens == ("thu", "vien", "so")


def test_a_hyphenated_word_is_a_phrase():
    assert root("e-learning").tokens == ("e", "learning")


def test_implicit_operator_is_and_and_binds_loosest():
    node = root("a b OR c")
    assert isinstance(node, And)
    assert node.children[0].text == "a" and isinstance(node.children[1], Or)


def test_and_binds_tighter_than_or():
    node = root("a OR b AND c")
    assert isinstance(node, Or) and isinstance(node.children[1], And)


def test_not_minus_and_plus():
    assert isinstance(root("a AND NOT b").children[1], Not)
    assert isinstance(root("a -b").children[1], Not)
    assert root("+a b").children[0] == Term("default", "a", False, False, 1)


def test_parentheses_group():
    node = root("(a OR b) AND c")
    assert isinstance(node.children[0], Or)


def test_prefix():
    assert root("thư*") == Term("default", "thu", True, False, 0)


def test_text_fields():
    assert root("title:số").field == "title"
    assert root("author:Nguyễn").field == "author"
    assert root('subject:"thư viện"').field == "subject"
    group = root('title:(a OR "b c")')
    assert {child.field for child in group.children} == {"title"}


def test_class_values_ranges_and_prefixes():
    ddc = root("class:[004 TO 006.99]")
    assert isinstance(ddc, ClassRange) and ddc.low == "004" and ddc.high.startswith("006.99")
    assert root("class:004*").low == "004"
    lcc = root("class:[QA76 TO QA76.99]")
    assert lcc.low < lcc.high and lcc.low.startswith("QA0")
    assert root("class:QA76*").low == root("class:QA76").low


def test_lang_type_source():
    assert root("lang:vi") == Value("lang", "vie", (), 5)
    assert root("lang:(vi OR en)").children[1].value == "eng"
    assert root("type:Book").value == "book"
    assert root("source:12") == Value("source", "12", (), 7)
    assert root('source:"Thư viện Trung tâm"').words == ("thu", "vien", "trung", "tam")


def test_years():
    assert root("year:2024") == YearRange(2024, 2024, 5)
    assert (root("year:[2020 TO 2025]").low, root("year:[2020 TO 2025]").high) == (2020, 2025)
    assert (root("year:{2019 TO 2026}").low, root("year:{2019 TO 2026}").high) == (2020, 2025)
    assert root("year:>=2020").low == 2020 and root("year:>2020").low == 2021
    assert root("year:<2000").high == 1999
    assert root("year:[2020 TO *]").high == 9999


def test_exact_mode_keeps_case_and_diacritics():
    assert root("Đại", exact=True).text == "Đại"


def test_fields_are_case_insensitive():
    assert root("TITLE:x").field == "title"


@pytest.mark.parametrize(("text", "position"), [
    ("", 0),
    ("   ", 0),
    ("foo:bar", 0),
    ("a AND bogus:x", 6),
    ("a AND (b", 6),
    ("a) b", 1),
    ('a "b c', 2),
    ("class:[004 TO 006", 6),
    ("NOT a", 0),
    ("-a", 0),
    ("a OR NOT b", 5),
    ("(x -y) OR -z", 10),
    ("*", 0),
    ("title:*", 6),
    ("a AND", 5),
    ("AND a", 0),
    ("class:[004 TO QA76]", 6),
    ("class:[006 TO 004]", 6),
    ("class:[@@ TO 004]", 7),
    ("class:{004 TO 005}", 6),
    ("class:hello", 6),
    ("class:>004", 6),
    ("title:[a TO b]", 6),
    ("year:abc", 5),
    ("year:[2025 TO 2020]", 5),
    ("lang:xx", 5),
    ("type:boo", 5),
    ("th*ng", 0),
    ("a th?ng", 2),
    ("a e-learn*", 2),
    ("a~2", 0),
    ("a^2", 0),
    ("x title:y:z", 8),
    ("a AND ---", 9),
])
def test_errors_have_positions(text, position):
    with pytest.raises(QueryError) as info:
        parse_query(text)
    assert info.value.position == position, info.value.message


def test_error_messages_are_translated():
    with pytest.raises(QueryError) as info:
        parse_query("foo:bar")
    with language("en"):
        assert info.value.message.startswith("Unknown field “foo”")
    with language("vi"):
        assert info.value.message.startswith("Trường “foo” không tồn tại")

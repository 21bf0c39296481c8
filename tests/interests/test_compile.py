"""Profiles' structured fields compile to queries the parser accepts and that mean what they say."""

from crm.interests.compile import compile_profile
from crm.matching.evaluate import evaluate
from crm.interests.query import parse_query
from tests.matching.helpers import item


def test_structured_fields_compile_to_one_query():
    query = compile_profile("AI", None, ["AI", "thư viện số", "AND"], ["Khoa học máy tính"],
                            ["004-006.99", "QA76-QA76.99", "025.04"], ["vi", "eng", "vie"])
    assert query == ('(AI OR "thư viện số" OR "AND" OR subject:"Khoa học máy tính" OR class:[004 TO 006.99] '
                     'OR class:[QA76 TO QA76.99] OR class:025.04) AND lang:(vie OR eng)')
    parse_query(query)


def test_a_single_clause_needs_no_parentheses():
    assert compile_profile("x", None, ["robot"], [], [], []) == "robot"
    assert compile_profile("x", None, [], [], ["025.04"], ["en"]) == "class:025.04 AND lang:eng"


def test_quotes_inside_keywords_are_escaped():
    query = compile_profile("x", None, ['sách "giáo khoa"'], [], [], [])
    parse_query(query)
    assert evaluate(query, item("Sách giáo khoa lớp 1"))


def test_a_written_query_is_used_as_written_and_anded_with_languages():
    assert compile_profile("x", "ignored", ["ignored"], [], [], [], query="a OR b") == "a OR b"
    assert compile_profile("x", None, [], [], [], ["vi"], query="a OR b") == "(a OR b) AND lang:vie"


def test_topics_are_a_fallback_of_short_phrases():
    topics = "Chuyển đổi số, dữ liệu mở; một câu rất dài mô tả mối quan tâm của giảng viên"
    assert compile_profile("x", topics, [], [], [], []) == '("Chuyển đổi số" OR "dữ liệu mở")'
    assert compile_profile("x", topics, ["robot"], [], [], []) == "robot"
    assert compile_profile("x", "", [], [], [], ["vi"]) == ""


def test_compiled_profile_matches():
    query = compile_profile("x", None, ["thư viện số"], ["Đại học"], ["QA76-QA76.99"], ["vi"])
    assert evaluate(query, item("Thu vien so hoa", language="vie"))
    assert evaluate(query, item("x", lcc="QA76.9", language="vie"))
    assert not evaluate(query, item("Thư viện số", language="eng"))

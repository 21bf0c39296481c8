"""Why a match happened, in plain words, with the words as the profile wrote them."""

from crm import i18n
from crm.interests.compile import compile_profile
from crm.matching.evaluate import compile_query
from crm.matching.reasons import describe, reasons, source_ids, spellings
from crm.matching.services import _explanation
from tests.matching.helpers import item


def _why(query: str, found_in, spelled=None, names=None, language="vi") -> list[str]:
    match = compile_query(query).evaluate(found_in)
    assert match is not None
    with i18n.language(language):
        return [reason.text for reason in reasons(_explanation(match), spelled, names)]


def test_keywords_read_back_as_the_librarian_wrote_them():
    query = compile_profile("Thư viện", None, ["thư viện số"], [], ["025-025.99"], ["vie"])
    spelled = spellings(["thư viện số", query])
    book = item("Thư viện số hóa", subjects=("Thư viện số",), ddc="025.1", language="vie")
    assert _why(query, book, spelled) == [
        "từ khóa “thư viện số” trong nhan đề, chủ đề",
        "ký hiệu phân loại 025–025.99",
        "ngôn ngữ: Tiếng Việt",
    ]
    assert _why(query, book, spelled, language="en") == [
        "keyword “thư viện số” in title, subjects",
        "classification 025–025.99",
        "language: Vietnamese",
    ]


def test_every_kind_of_clause_has_words():
    query = 'subject:"học máy" AND author:Nguyễn AND dữ* AND type:book AND year:[2020 TO 2025] AND source:7'
    book = item("Dữ liệu lớn", subjects=("Học máy",), authors=("Nguyễn Văn An",), material_type="book", year=2024,
                sources=((7, "Sách mới"),))
    assert _why(query, book, spellings([query]), {"7": "Sách mới"}) == [
        "tiêu đề đề mục “học máy”",
        "từ bắt đầu bằng “dữ” trong nhan đề",
        "tác giả “Nguyễn”",
        "loại tài liệu: Sách",
        "năm xuất bản 2020–2025",
        "nguồn “Sách mới”",
    ]


def test_open_year_ranges_and_unknown_spellings():
    with i18n.language("vi"):
        assert describe({"clause": "year:2020-9999", "kind": "year", "fields": ["year"]}) == "năm xuất bản từ 2020"
        assert describe({"clause": "year:0-1999", "kind": "year", "fields": ["year"]}) == "năm xuất bản đến 1999"
        # Edited since: the profile no longer has the words, the stored (folded) clause is shown.
        assert describe({"clause": '"thu vien"', "kind": "phrase", "fields": ["abstract"]}) == \
            "từ khóa “thu vien” trong tóm tắt"
        assert describe({"clause": "source:sach moi", "kind": "source", "fields": ["source"]}) == "nguồn “sach moi”"
        assert describe({"clause": "odd", "kind": "new-kind"}) == "odd"


def test_reasons_are_strongest_first_and_bad_entries_skipped():
    explanation = [{"clause": "lang:vie", "kind": "lang", "fields": ["lang"], "weight": 0.0}, "junk",
                   {"clause": "x", "kind": "term", "fields": ["subjects"], "weight": 3.0}]
    with i18n.language("en"):
        assert [r.text for r in reasons(explanation)] == ["keyword “x” in subjects", "language: Vietnamese"]
    assert source_ids([[{"clause": "source:12", "kind": "source"}, {"clause": "source:abc", "kind": "source"}]]) == {12}

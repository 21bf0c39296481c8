"""RIS and BibTeX exports parse back to what was written."""

from datetime import UTC, datetime

import bibtexparser
import rispy

import crm.models  # noqa: F401  (mappers)
from crm.digests.export import to_bibtex, to_ris
from crm.sources.models import Item

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def item(item_id: int, title: str, **fields) -> Item:
    values = {"authors": [], "isbns": [], "issns": [], "subjects": [], "first_seen_at": NOW, "last_updated_at": NOW,
              **fields}
    return Item(id=item_id, title=title, **values)


BOOK = item(1, "Thư viện số {và} 100% dữ liệu & mở_rộng", subtitle="lý thuyết", year=2024, publisher="NXB Trẻ",
            authors=["Nguyễn Văn An", "Trường Đại học Bách khoa. Khoa Công nghệ"], isbns=["9786041234567"],
            subjects=[{"heading": "Thư viện số", "scheme": "lcsh"}], material_type="book", ddc="025.04",
            abstract="Dòng một.\nDòng hai.", language="vie")
ARTICLE = item(2, "Thư viện số ở Việt Nam", authors=["Nguyễn, Văn An"], year=2024, journal="Tạp chí Thư viện",
               issns=["1859-1234"], doi="10.1234/tv_2024.5", material_type="article")
THESIS = item(3, "Khai thác dữ liệu mở", authors=["Lê Thị Hoa"], year=2025, publisher="Trường Đại học Khoa học",
              material_type="thesis")


def test_ris_parses_back():
    records = rispy.loads(to_ris([(BOOK, "acquisitions", "https://opac.example.edu.vn/r/1"),
                                  (ARTICLE, "articles", None), (THESIS, "repository", None)]))
    book, article, thesis = records
    assert book["type_of_reference"] == "BOOK"
    assert book["title"] == "Thư viện số {và} 100% dữ liệu & mở_rộng: lý thuyết"
    assert book["authors"] == ["Nguyễn, Văn An", "Trường Đại học Bách khoa. Khoa Công nghệ"]
    assert book["year"] == "2024" and book["publisher"] == "NXB Trẻ" and book["issn"] == "9786041234567"
    assert book["urls"] == ["https://opac.example.edu.vn/r/1"] and book["keywords"] == ["Thư viện số"]
    assert book["abstract"] == "Dòng một. Dòng hai." and book["call_number"] == "025.04"
    assert article["type_of_reference"] == "JOUR" and article["doi"] == "10.1234/tv_2024.5"
    assert article["journal_name"] == "Tạp chí Thư viện" and article["issn"] == "1859-1234"
    assert thesis["type_of_reference"] == "THES"


def test_bibtex_parses_back_with_unique_keys_and_escaped_values():
    text = to_bibtex([(BOOK, "acquisitions", "https://opac.example.edu.vn/r?a=1&b_2"), (ARTICLE, "articles", None),
                      (item(4, "Thư viện số nữa", authors=["Nguyễn Văn An"], year=2024), "acquisitions", None),
                      (THESIS, "repository", None)])
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    book, article, again, thesis = library.entries
    assert len({e.key for e in library.entries}) == 4
    assert book.key == "nguyen2024thu" and again.key.startswith("nguyen2024thu") and again.key != book.key
    assert book.entry_type == "book" and article.entry_type == "article" and thesis.entry_type == "phdthesis"
    fields = {f.key: f.value for f in book.fields}
    assert fields["title"] == r"{Thư viện số \{và\} 100\% dữ liệu \& mở\_rộng: lý thuyết}"
    assert fields["author"] == "Nguyễn, Văn An and {Trường Đại học Bách khoa. Khoa Công nghệ}"
    assert fields["url"] == "https://opac.example.edu.vn/r?a=1&b_2" and fields["isbn"] == "9786041234567"
    assert {f.key: f.value for f in article.fields}["journal"] == "Tạp chí Thư viện"
    assert {f.key: f.value for f in article.fields}["doi"] == "10.1234/tv_2024.5"
    assert {f.key: f.value for f in thesis.fields}["school"] == "Trường Đại học Khoa học"
    text.encode("utf-8")  # UTF-8 throughout, no LaTeX accents
    assert "Nguyễn" in text

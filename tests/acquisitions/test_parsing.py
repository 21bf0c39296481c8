"""Reading lists as librarians receive them: pasted lines in the usual styles, RIS, BibTeX and CSV,
with every problem reported by line or record and nothing imported when one is found."""

import pytest

from crm import i18n
from crm.acquisitions.services.parsing import (
    MAX_CITATIONS, detect_format, parse_bibtex, parse_csv, parse_file, parse_line, parse_ris, parse_text, split_authors,
)
from tests.acquisitions.helpers import FIXTURES


@pytest.fixture(autouse=True)
def english():
    with i18n.language("en"):
        yield


@pytest.mark.parametrize("line, title, authors, year, publisher", [
    ("Vũ Hữu Tiệp. (2024). Học máy cơ bản. Khoa học và Kỹ thuật.", "Học máy cơ bản", ["Vũ Hữu Tiệp"], 2024,
     "Khoa học và Kỹ thuật"),
    ("Nguyễn Văn An (2020), Thư viện số, NXB Giáo dục, Hà Nội.", "Thư viện số", ["Nguyễn Văn An"], 2020,
     "NXB Giáo dục, Hà Nội"),
    ("Phan Cự Đệ, Văn học Việt Nam hiện đại, Giáo dục Việt Nam, 2025", "Văn học Việt Nam hiện đại", ["Phan Cự Đệ"],
     2025, "Giáo dục Việt Nam"),
    ("Goodfellow I. Deep learning. MIT Press, 2016.", "Deep learning", ["Goodfellow I"], 2016, "MIT Press"),
    ("Lesk, M. (2005). Understanding digital libraries (2nd ed.). Morgan Kaufmann.",
     "Understanding digital libraries (2nd ed.)", ["Lesk, M"], 2005, "Morgan Kaufmann"),
    ("[3] Trần Đình Sử. Thi pháp học. ĐHSP, 2023", "Thi pháp học", ["Trần Đình Sử"], 2023, "ĐHSP"),
    ("xu ly ngon ngu tu nhien tieng viet", "xu ly ngon ngu tu nhien tieng viet", [], None, None),
])
def test_pasted_lines_in_the_usual_styles(line, title, authors, year, publisher):
    c = parse_line(line)
    assert (c.title, c.authors, c.year, c.publisher) == (title, authors, year, publisher)
    assert c.raw == line.strip()


def test_isbn_and_doi_are_found_anywhere_in_a_line():
    c = parse_line("Goodfellow, I., Bengio, Y., & Courville, A. (2016). Deep learning. MIT Press. https://doi.org/10.1000/ABC.")
    assert c.doi == "10.1000/abc" and c.title == "Deep learning"
    assert c.authors == ["Goodfellow, I", "Bengio, Y", "Courville, A"]
    c = parse_line("Thi pháp học – ISBN: 978-604-0-00011-8 (bìa mềm)")
    assert c.isbn == "9786040000118" and c.title == "Thi pháp học"
    only = parse_line("- ISBN 604-0-00011-2")  # an ISBN-10 alone is enough to look the book up
    assert only.isbn == "9786040000118" and only.title == ""


def test_a_labelled_isbn_with_a_wrong_check_digit_is_a_problem():
    with pytest.raises(ValueError, match="Not a valid ISBN: 978-604-0-00011-9"):
        parse_line("Thi pháp học. ISBN 978-604-0-00011-9")


def test_authors_are_split_the_way_syllabi_write_them():
    assert split_authors("Nguyễn Văn An; Trần Thị Lan") == ["Nguyễn Văn An", "Trần Thị Lan"]
    assert split_authors("Nguyễn Văn An và Trần Thị Lan (chủ biên)") == ["Nguyễn Văn An", "Trần Thị Lan"]
    assert split_authors("Lê, V. A., Trần, T. B. & Phạm, C.") == ["Lê, V. A", "Trần, T. B", "Phạm, C"]
    assert split_authors("Smith, J. et al.") == ["Smith, J"]


def test_pasted_text_reports_problems_by_line_and_headings_switch_the_requirement():
    parsed = parse_text((FIXTURES / "pasted.txt").read_text(encoding="utf-8"))
    assert parsed.problems == []
    assert [c.requirement for c in parsed.citations] == ["required"] * 2 + ["recommended"] * 4
    assert parsed.citations[4].isbn == "9786040000149" and parsed.citations[5].doi == "10.7551/mitpress/9286.001.0001"
    broken = parse_text("Học máy. Vũ Hữu Tiệp\n\n, , ;\nThi pháp học. ISBN 978-604-0-00011-9\n" + "x" * 2001)
    assert [(p.line, p.message) for p in broken.problems] == [
        (3, "No title, ISBN or DOI found."),
        (4, "Not a valid ISBN: 978-604-0-00011-9"),
        (5, "The line is longer than 2000 characters."),
    ]


def test_ris_records_are_read_with_their_identifiers():
    parsed = parse_ris((FIXTURES / "reading-list.ris").read_text(encoding="utf-8"))
    assert parsed.problems == []
    tiep, deep, oa = parsed.citations
    assert (tiep.title, tiep.authors, tiep.year, tiep.isbn, tiep.publisher) == (
        "Học máy", ["Vũ, Hữu Tiệp"], 2024, "9786040000057", "Khoa học và Kỹ thuật")
    assert deep.authors == ["Goodfellow, Ian", "Bengio, Yoshua"] and deep.year == 2016
    assert oa.doi == "10.7551/mitpress/9286.001.0001"


def test_ris_problems_name_the_record_and_its_line():
    parsed = parse_ris((FIXTURES / "broken.ris").read_text(encoding="utf-8") + "stray text\n")
    assert [(p.record, p.line, p.message) for p in parsed.problems] == [
        (2, 6, "Not a year: năm hai nghìn"),
        (3, 11, "The record has no end (ER  - ) before the next record starts."),
        (None, 17, "Text outside a record: a RIS record starts with a TY  - line."),
    ]


def test_bibtex_entries_are_read_and_latex_decoded():
    parsed = parse_bibtex((FIXTURES / "reading-list.bib").read_text(encoding="utf-8"))
    assert parsed.problems == []
    assert [c.title for c in parsed.citations] == ["Học máy", "Understanding Digital Libraries", "Open Access"]
    assert parsed.citations[0].isbn == "9786040000057" and parsed.citations[2].doi == "10.7551/mitpress/9286.001.0001"
    accented = parse_bibtex(r"@book{x, title={Th{\'e}orie}, author={Dupr{\'e}, Jean}, year={1999}}")
    assert accented.citations[0].title == "Théorie" and accented.citations[0].authors == ["Dupré, Jean"]


def test_bibtex_problems_name_the_entry_and_its_line():
    parsed = parse_bibtex((FIXTURES / "broken.bib").read_text(encoding="utf-8"))
    assert [(p.record, p.line, p.message) for p in sorted(parsed.problems, key=lambda p: p.line)] == [
        (2, 7, "Not a year: MMXXIV"),
        (3, 12, "This entry cannot be read (check its braces, quotes and commas)."),
        (4, 16, "Not a valid ISBN: 978-604-0-00024-9"),
    ]
    assert [c.title for c in parsed.citations] == ["Thi pháp học"]


def test_csv_with_vietnamese_headers_a_bom_and_semicolons():
    parsed = parse_csv((FIXTURES / "reading-list.csv").read_bytes())
    assert parsed.problems == []
    assert [(c.title, c.requirement) for c in parsed.citations] == [
        ("Học máy", "required"), ("Thi pháp học", "recommended"), ("Digital libraries", "required")]
    assert parsed.citations[0].isbn == "9786040000057"


def test_csv_problems_name_the_row_and_column():
    parsed = parse_csv((FIXTURES / "broken.csv").read_bytes())
    assert [(p.line, p.column, p.message) for p in parsed.problems] == [
        (3, "year", "Not a year: hai nghìn"),
        (5, "isbn", "Not a valid ISBN: 12345"),
        (6, "requirement", "Write required or recommended (bắt buộc or tham khảo)."),
    ]
    unknown = parse_csv("nhan đề,giá\nHọc máy,100000\n".encode())
    assert unknown.problems[0].line == 1 and unknown.problems[0].column == "giá"


def test_files_are_recognised_and_refused_clearly():
    assert detect_format("TY  - BOOK\nER  - \n", None) == "ris"
    assert detect_format("% comment\n@book{a, title={x}}", None) == "bibtex"
    assert detect_format("anything", "list.csv") == "csv"
    assert detect_format("Học máy", None) == "text"
    assert parse_file("Học máy\n".encode("utf-16")).citations[0].title == "Học máy"
    assert parse_file(b"\xff\xfeabc\xd8").problems[0].message.startswith("The file is not UTF-8")
    assert parse_file(b"\x00\x01\x02").problems[0].message.startswith("This is not a text file")
    assert parse_file(b"  \n").problems[0].message == "The file is empty."
    too_many = parse_file(("\n".join(f"Sách số {i}" for i in range(MAX_CITATIONS + 1))).encode())
    assert [p.message for p in too_many.problems] == [f"At most {MAX_CITATIONS} citations at a time. Split the list."]

"""What every reader of citations shares: the shapes (CitationInput, Problem, Parsed), limits, and
the checks of a citation's fields (year, ISBN, DOI, authors, required or recommended)."""

import re
from datetime import date

import msgspec

from crm.i18n import _
from crm.sources import identifiers
from crm.text import fold, nfc

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_CITATIONS = 2000
MAX_LINE_LENGTH = 2000
MAX_TITLE_LENGTH = 1000
#: Checking stops after this many problems (enough to fix a file).
MAX_PROBLEMS = 200
FORMATS = ("auto", "text", "ris", "bibtex", "csv")
EARLIEST_YEAR = 1400

CSV_HEADERS: dict[str, tuple[str, ...]] = {
    "title": ("title", "Title", "Nhan đề", "Tên tài liệu", "Tên sách", "Nhan đề tài liệu"),
    "authors": ("authors", "Author", "Authors", "Tác giả"),
    "year": ("year", "Year", "Năm", "Năm xuất bản"),
    "isbn": ("isbn", "ISBN"),
    "doi": ("doi", "DOI"),
    "publisher": ("publisher", "Publisher", "Nhà xuất bản", "NXB"),
    "requirement": ("requirement", "Required", "Loại", "Yêu cầu", "Bắt buộc/tham khảo", "Loại tài liệu"),
}
REQUIRED_WORDS = {"required", "r", "1", "bat buoc", "chinh", "tai lieu chinh", "giao trinh", "giao trinh chinh",
                  "tai lieu bat buoc", "hoc lieu bat buoc", "main", "essential", "x"}
RECOMMENDED_WORDS = {"recommended", "2", "tham khao", "tai lieu tham khao", "doc them", "tai lieu doc them",
                     "further reading", "optional", "khong bat buoc"}

YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|&|\band\b|\bvà\b)\s*", re.IGNORECASE)
_AUTHOR_NOISE = re.compile(r"\(?\b(?:eds?|chủ biên|chu bien|cb|biên soạn|bs|dịch|dich)\b\.?\)?|\bet al\b\.?|\bvà nnk\b\.?|\bnnk\b\.?",
                           re.IGNORECASE)
TRAILING = " \t,;.:"
_APA_NAME = re.compile(r"[^,]+,\s*(?:[^\W\d_]{1,2}\.\s*-?\s*)+")


class CitationInput(msgspec.Struct):
    """One citation as read, before it is resolved."""

    title: str = ""
    authors: list[str] = msgspec.field(default_factory=list)
    year: int | None = None
    isbn: str | None = None
    doi: str | None = None
    publisher: str | None = None
    requirement: str = "required"
    raw: str | None = None


class Problem(msgspec.Struct):
    """Why a line or record cannot be imported; ``line`` is 1-based, ``record`` counts records (RIS, BibTeX)."""

    message: str
    line: int | None = None
    record: int | None = None
    column: str | None = None


class Parsed(msgspec.Struct):
    citations: list[CitationInput] = msgspec.field(default_factory=list)
    problems: list[Problem] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.citations)

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def sort(self) -> "Parsed":
        """Problems in file order (by line, then record)."""
        self.problems.sort(key=lambda p: (p.line or 0, p.record or 0))
        return self


def clean(value: str | None, width: int | None = None) -> str | None:
    text = nfc(" ".join((value or "").split()))
    if text and width:
        text = text[:width].rstrip()
    return text or None


def strict_year(value: object) -> int | None:
    """A publication year from "2020", "2020///", "c2019", "2019-05-01"; ValueError when impossible."""
    if value in (None, ""):
        return None
    match = YEAR.search(str(value))
    if match is None:
        raise ValueError(_("Not a year: %(value)s", value=str(value)[:20]))
    year = int(match.group(1))
    if not EARLIEST_YEAR <= year <= date.today().year + 1:
        raise ValueError(_("Not a plausible publication year: %(value)s", value=year))
    return year


def guess_year(value: str) -> int | None:
    """A year a heuristic found in free text: None unless plausible (a title may end in a number)."""
    year = int(value)
    return year if EARLIEST_YEAR <= year <= date.today().year + 1 else None


def requirement_of(value: str | None, default: str) -> str:
    """"required" or "recommended" from a cell or a heading (English or Vietnamese); ValueError otherwise."""
    word = fold(value).strip(TRAILING)
    if not word:
        return default
    if word in REQUIRED_WORDS:
        return "required"
    if word in RECOMMENDED_WORDS:
        return "recommended"
    raise ValueError(_("Write required or recommended (bắt buộc or tham khảo)."))


def split_authors(text: str | None) -> list[str]:
    """Authors from "A; B", "A & B", "A và B", APA's "Nguyễn, V. A., Trần, B." ("et al." and "(chủ biên)" dropped)."""
    text = _AUTHOR_NOISE.sub(" ", text or "")
    out: list[str] = []
    for part in _AUTHOR_SPLIT.split(text):
        part = part.strip(" ,;")
        if not part:
            continue
        names = _APA_NAME.findall(part)
        if len(names) > 1 and sum(len(n) for n in names) >= len(part) - 3:
            out.extend(n.strip(TRAILING + " ") for n in names)
        else:
            out.append(part)
    return [name for name in (clean(a.strip(TRAILING), 500) for a in out) if name][:30]


def finish(citation: CitationInput) -> CitationInput:
    """Normalize a parsed citation, raising ValueError when there is nothing to look for."""
    citation.title = clean(citation.title.strip(TRAILING + "-–—\"'“”«»"), MAX_TITLE_LENGTH) or ""
    citation.publisher = clean((citation.publisher or "").strip(TRAILING), 500)
    citation.authors = [a for a in (clean(a, 500) for a in citation.authors) if a]
    if not citation.title and not citation.isbn and not citation.doi:
        raise ValueError(_("No title, ISBN or DOI found."))
    return citation


def checked_isbn(value: str | None) -> str | None:
    if not (value or "").strip():
        return None
    isbn = identifiers.isbn13(value)
    if isbn is None:
        raise ValueError(_("Not a valid ISBN: %(value)s", value=value.strip()[:30]))
    return isbn


def checked_doi(value: str | None) -> str | None:
    if not (value or "").strip():
        return None
    doi = identifiers.doi(value)
    if doi is None:
        raise ValueError(_("Not a valid DOI: %(value)s", value=value.strip()[:60]))
    return doi

"""Files of citations: RIS, BibTeX and CSV (problems by record or row), and choosing the reader."""

import codecs
import re
from pathlib import PurePath

from crm.acquisitions.services.parsing.common import (
    CSV_HEADERS, MAX_CITATIONS, MAX_IMPORT_BYTES, MAX_LINE_LENGTH, CitationInput, Parsed, Problem, checked_doi,
    checked_isbn, finish, requirement_of, split_authors, strict_year,
)
from crm.acquisitions.services.parsing.text import parse_text
from crm.i18n import _
from crm.liaison.services.csv_table import BadFile, read_table
from crm.sources import identifiers

_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")


def _first(record: dict, *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value and str(value).strip():
            return str(value)
    return None


def parse_ris(text: str, requirement: str = "required") -> Parsed:
    """RIS records (TY … ER); problems name the record and the line it starts on."""
    import rispy

    parsed = Parsed()
    records: list[tuple[int, int, list[str]]] = []
    current: tuple[int, int, list[str]] | None = None
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        tag = _RIS_TAG.match(line.rstrip())
        if tag and tag.group(1) == "TY":
            if current is not None:
                parsed.add(Problem(_("The record has no end (ER  - ) before the next record starts."),
                                   line=current[1], record=current[0]))
            count += 1
            current = (count, number, [line.rstrip()])
        elif tag and tag.group(1) == "ER":
            if current is None:
                parsed.add(Problem(_("An end of record (ER  - ) without a start (TY  - )."), line=number))
            else:
                current[2].append("ER  - ")
                records.append(current)
                current = None
        elif current is None:
            parsed.add(Problem(_("Text outside a record: a RIS record starts with a TY  - line."), line=number))
        else:
            current[2].append(line.rstrip())
    if current is not None:
        parsed.add(Problem(_("The record has no end (ER  - )."), line=current[1], record=current[0]))
    if not records and not parsed.problems:
        parsed.add(Problem(_("No RIS records found (a record starts with a TY  - line).")))
    for record_number, start, lines in records:
        try:
            found = rispy.loads("\n".join(lines), skip_unknown_tags=True)
        except Exception:  # rispy raises plain exceptions on broken records
            parsed.add(Problem(_("This record cannot be read."), line=start, record=record_number))
            continue
        if not found:
            parsed.add(Problem(_("This record cannot be read."), line=start, record=record_number))
            continue
        entry = found[0]
        try:
            citation = CitationInput(
                title=_first(entry, "title", "primary_title", "short_title", "translated_title") or "",
                authors=[a for key in ("authors", "first_authors") for a in entry.get(key) or []],
                year=strict_year(_first(entry, "year", "publication_year", "date")),
                isbn=_ris_isbn(_first(entry, "issn")), doi=checked_doi(_first(entry, "doi")),
                publisher=_first(entry, "publisher"), requirement=requirement, raw="\n".join(lines),
            )
            parsed.citations.append(finish(citation))
        except ValueError as exc:
            parsed.add(Problem(str(exc), line=start, record=record_number))
    return parsed.sort()


def _ris_isbn(value: str | None) -> str | None:
    """RIS's SN holds an ISBN or an ISSN; an ISSN is not what a library buys a book by."""
    if not value or identifiers.issn(value) and len(re.sub(r"\D", "", value)) == 8:
        return None
    return checked_isbn(value)


# --- BibTeX -------------------------------------------------------------------------------


def _braces(value: str | None) -> str | None:
    return value.replace("{", "").replace("}", "") if value else value


def parse_bibtex(text: str, requirement: str = "required") -> Parsed:
    """BibTeX entries (LaTeX accents decoded); problems name the entry and the line it starts on."""
    import bibtexparser
    from bibtexparser.middlewares import LatexDecodingMiddleware

    parsed = Parsed()
    library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    blocks = sorted([*library.entries, *library.failed_blocks], key=lambda b: b.start_line or 0)
    entry_numbers = {id(block): number for number, block in enumerate(blocks, start=1)}
    for block in library.failed_blocks:
        parsed.add(Problem(_("This entry cannot be read (check its braces, quotes and commas)."),
                           line=(block.start_line or 0) + 1, record=entry_numbers[id(block)]))
    for entry in library.entries:
        fields = {f.key.lower(): f.value for f in entry.fields}
        line, number = (entry.start_line or 0) + 1, entry_numbers[id(entry)]
        try:
            citation = CitationInput(
                title=_braces(fields.get("title")) or "",
                authors=[_braces(a.strip()) for a in re.split(r"\s+and\s+", fields.get("author") or fields.get("editor") or "")
                         if a.strip()],
                year=strict_year(fields.get("year") or fields.get("date")),
                isbn=checked_isbn(fields.get("isbn")), doi=checked_doi(fields.get("doi")),
                publisher=_braces(fields.get("publisher") or fields.get("journal") or fields.get("journaltitle")),
                requirement=requirement, raw=(entry.raw or "")[:MAX_LINE_LENGTH * 2] or None,
            )
            parsed.citations.append(finish(citation))
        except ValueError as exc:
            parsed.add(Problem(str(exc), line=line, record=number))
    if not blocks:
        parsed.add(Problem(_("No BibTeX entries found (an entry starts with @book{ or @article{).")))
    return parsed.sort()


# --- CSV ----------------------------------------------------------------------------------


def parse_csv(data: bytes, requirement: str = "required") -> Parsed:
    """A spreadsheet of citations (see CSV_HEADERS); rows numbered as the spreadsheet shows them."""
    parsed = Parsed()
    try:
        table = read_table(data, CSV_HEADERS, ["title"])
    except BadFile as exc:
        parsed.add(Problem(str(exc)))
        return parsed
    for error in [*table.errors, *table.row_errors]:
        parsed.add(Problem(error.message, line=error.row, column=error.column))
    if table.errors:
        return parsed
    for number, row in table.rows:
        column = None
        try:
            column = "requirement"
            wanted = requirement_of(row.get("requirement"), requirement)
            column = "year"
            year = strict_year(row.get("year"))
            column = "isbn"
            isbn = checked_isbn(row.get("isbn"))
            column = "doi"
            doi = checked_doi(row.get("doi"))
            column = None
            citation = CitationInput(title=row.get("title") or "", authors=split_authors(row.get("authors")),
                                     year=year, isbn=isbn, doi=doi, publisher=row.get("publisher"),
                                     requirement=wanted, raw=" | ".join(v for v in row.values() if v))
            parsed.citations.append(finish(citation))
        except ValueError as exc:
            parsed.add(Problem(str(exc), line=number, column=column))
    return parsed.sort()


# --- files --------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; BadFile otherwise."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile(_("The file is not UTF-8 text. Save it as UTF-8 and try again.")) from None
    if "\x00" in text:
        raise BadFile(_("This is not a text file (it contains binary data)."))
    return text


def detect_format(text: str, filename: str | None) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    by_suffix = {".ris": "ris", ".bib": "bibtex", ".bibtex": "bibtex", ".csv": "csv", ".txt": "text"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    first = next((line for line in text.splitlines() if line.strip()), "")
    if _RIS_TAG.match(first.rstrip()) and first.startswith("TY"):
        return "ris"
    if re.search(r"^\s*@\w+\s*[{(]", text, re.MULTILINE):
        return "bibtex"
    return "text"


def parse_file(data: bytes, filename: str | None = None, fmt: str = "auto", requirement: str = "required") -> Parsed:
    """Any supported file → citations or problems (a file too big or not text is one problem)."""
    if len(data) > MAX_IMPORT_BYTES:
        return Parsed(problems=[Problem(_("The file is larger than %(mb)s MB. Split it into smaller files.",
                                          mb=MAX_IMPORT_BYTES // (1024 * 1024)))])
    try:
        text = decode_text(data)
    except BadFile as exc:
        return Parsed(problems=[Problem(str(exc))])
    if not text.strip():
        return Parsed(problems=[Problem(_("The file is empty."))])
    if fmt == "auto":
        fmt = detect_format(text, filename)
    parsers = {"ris": parse_ris, "bibtex": parse_bibtex, "text": parse_text}
    parsed = parse_csv(data, requirement) if fmt == "csv" else parsers[fmt](text, requirement)
    if len(parsed.citations) > MAX_CITATIONS:
        parsed.add(Problem(_("At most %(n)s citations at a time. Split the list.", n=MAX_CITATIONS)))
    if not parsed.citations and not parsed.problems:
        parsed.add(Problem(_("No citations found.")))
    parsed.problems.sort(key=lambda p: (p.line or 0, p.record or 0))
    return parsed

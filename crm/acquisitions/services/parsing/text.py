"""Pasted reading lists: one citation a line, in the styles syllabi use (see the package docstring)."""

import re

from crm.acquisitions.services.parsing.common import (
    MAX_LINE_LENGTH, RECOMMENDED_WORDS, REQUIRED_WORDS, TRAILING, YEAR, CitationInput, Parsed, Problem, finish,
    guess_year, split_authors, strict_year,
)
from crm.i18n import _
from crm.sources import identifiers
from crm.text import fold

_MARKER = re.compile(r"^\s*(?:\[\d{1,4}\]|\(\d{1,4}\)|\d{1,4}[.)](?=\s)|[-–•*·+▪◦])\s*")
#: An ISBN's qualifier as catalogues write it: "(bìa mềm)", "(pbk.)", "(set)".
_QUALIFIER = r"(?:\s*\([^()]{1,30}\))?"
_ISBN_LABELLED = re.compile(r"\(?\bISBN(?:-1[03])?\s*[:.]?\s*([0-9Xx][0-9Xx \-‐‑–]{8,20}[0-9Xx])\)?" + _QUALIFIER,
                            re.IGNORECASE)
_ISBN_BARE = re.compile(r"(?<![\w/.])(97[89](?:[ \-]?\d){10}|\d{9}[\dXx])(?![\w/])" + _QUALIFIER)
_DOI = re.compile(r"(?:https?://(?:dx\.)?doi\.org/|\bdoi\s*:\s*)?(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
_APA = re.compile(r"^(?P<authors>.+?)\s*[.,]?\s*\(\s*(?P<year>\d{4})[a-z]?\s*\)\s*(?P<sep>[.,:]?)\s*(?P<rest>.+)$")
_LAST_YEAR = re.compile(r"^\s*(?:năm\s+|nam\s+)?(\d{4})[a-z]?\s*[.)]*\s*$", re.IGNORECASE)
_SENTENCE = re.compile(r"\.\s+")


def _initials(text: str) -> bool:
    """"A", "V. A", "T.-H": what is left of a name cut at its initials' dots."""
    words = text.replace("-", " ").replace(".", " ").split()
    return 0 < len(words) <= 3 and all(len(w) <= 2 and w.isalpha() and w[0].isupper() for w in words)


def sentences(text: str) -> list[str]:
    """Split at ". ", keeping initials with their name ("Nguyễn V. A. Thư viện số" → 2 parts)."""
    out: list[str] = []
    for part in _SENTENCE.split(text):
        part = part.strip()
        if not part:
            continue
        if len(out) == 1 and _initials(part):
            out[-1] = f"{out[-1]}. {part}"
        else:
            out.append(part)
    return out


def _looks_like_names(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= 14 and not any(ch.isdigit() for ch in text) and len(text) <= 200


def heading_requirement(line: str) -> str | None:
    """"Tài liệu tham khảo:" and the like switch the lines after them; None for an ordinary line."""
    stripped = line.strip()
    if not stripped.endswith(":") or len(stripped) > 60:
        return None
    words = fold(stripped.rstrip(":")).strip(TRAILING)
    words = re.sub(r"^(?:[ivx]+|\d+|[a-z])[.)]\s*", "", words)
    if words in REQUIRED_WORDS or words in {"tai lieu hoc tap", "hoc lieu chinh", "required reading", "core reading"}:
        return "required"
    if words in RECOMMENDED_WORDS or words in {"tai lieu doc them", "recommended reading"}:
        return "recommended"
    return None


def parse_line(line: str, requirement: str = "required") -> CitationInput:
    """One pasted line → a citation; ValueError with a message when it holds nothing usable."""
    raw = line.strip()
    text = _MARKER.sub("", raw, count=1)
    isbn = None
    labelled = _ISBN_LABELLED.search(text)
    if labelled:
        isbn = identifiers.isbn13(labelled.group(1))
        if isbn is None:
            raise ValueError(_("Not a valid ISBN: %(value)s", value=labelled.group(1).strip()))
        text = text[:labelled.start()] + " " + text[labelled.end():]
    else:
        for match in _ISBN_BARE.finditer(text):
            isbn = identifiers.isbn13(match.group(1))
            if isbn:
                text = text[:match.start()] + " " + text[match.end():]
                break
    doi = None
    if found := _DOI.search(text):
        doi = identifiers.doi(found.group(1))
        if doi:
            text = text[:found.start()] + " " + text[found.end():]
    text = " ".join(text.split()).strip(TRAILING)
    citation = CitationInput(isbn=isbn, doi=doi, requirement=requirement, raw=raw)
    apa = _APA.match(text)
    if apa and _looks_like_names(apa.group("authors")):
        citation.authors = split_authors(apa.group("authors"))
        citation.year = strict_year(apa.group("year"))
        rest = apa.group("rest").strip(TRAILING)
        parts = sentences(rest)
        parts = [parts[0], ". ".join(parts[1:])] if len(parts) > 1 else parts
        if len(parts) == 1 and (apa.group("sep") == "," or ", " in rest):
            parts = [p.strip() for p in rest.split(",", 1)]
        citation.title = parts[0]
        citation.publisher = parts[1] if len(parts) > 1 else None
        return finish(citation)
    commas = [p.strip() for p in text.split(",")]
    last_year = _LAST_YEAR.match(commas[-1]) if len(commas) >= 3 else None
    if last_year and guess_year(last_year.group(1)):
        citation.year = guess_year(last_year.group(1))
        fields = commas[:-1]
        if _looks_like_names(fields[0]) and len(fields) >= 2:
            citation.authors = split_authors(fields[0])
            citation.title, rest = fields[1], fields[2:]
        else:
            citation.title, rest = fields[0], fields[1:]
        citation.publisher = ", ".join(rest) or None
        return finish(citation)
    parts = sentences(text)
    if len(parts) >= 2:
        years = [m for s in parts for m in YEAR.findall(s) if guess_year(m)]
        if years:
            citation.year = guess_year(years[-1])
        if _looks_like_names(parts[0]) and len(parts[0].split()) <= 8:
            citation.authors = split_authors(parts[0])
            parts = parts[1:]
        citation.title = YEAR.sub("", parts[0]).strip(TRAILING) if len(parts) == 1 else parts[0]
        if len(parts) > 1:
            citation.publisher = YEAR.sub("", ". ".join(parts[1:])).strip(TRAILING + "()") or None
        return finish(citation)
    years = [m for m in YEAR.findall(text) if guess_year(m)]
    if years and text.strip().endswith(years[-1]):
        citation.year = guess_year(years[-1])
        text = text[: text.rstrip().rfind(years[-1])]
    citation.title = text
    return finish(citation)


def parse_text(text: str, requirement: str = "required") -> Parsed:
    """Pasted lines, one citation each; blank lines and requirement headings are not citations."""
    parsed = Parsed()
    current = requirement
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_LENGTH:
            parsed.add(Problem(_("The line is longer than %(n)s characters.", n=MAX_LINE_LENGTH), line=number))
            continue
        switched = heading_requirement(line)
        if switched:
            current = switched
            continue
        try:
            parsed.citations.append(parse_line(line, current))
        except ValueError as exc:
            parsed.add(Problem(str(exc), line=number))
    return parsed.sort()

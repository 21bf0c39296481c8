"""A digest's entries as RIS (rispy) and BibTeX (bibtexparser 2), for Zotero, EndNote and Mendeley.

Both files are UTF-8. BibTeX keys are unique within a file (author + year + first title word,
then a, b, c…); values are escaped so a title with braces or ``%`` cannot break the file.
"""

import re
from collections.abc import Iterable

import bibtexparser
import rispy
from bibtexparser.model import Entry, Field

from crm.digests.citations import split_name
from crm.sources.models import Item
from crm.text import fold

RIS_TYPES = {"book": "BOOK", "ebook": "EBOOK", "article": "JOUR", "serial": "SER", "thesis": "THES",
             "map": "MAP", "music": "MUSIC", "video": "VIDEO", "audio": "SOUND", "other": "GEN"}
BIBTEX_TYPES = {"book": "book", "ebook": "book", "article": "article", "thesis": "phdthesis"}
RIS_MEDIA_TYPE = "application/x-research-info-systems"
BIBTEX_MEDIA_TYPE = "application/x-bibtex"
_BIBTEX_SPECIAL = re.compile(r"([\\{}%&$#_^~])")
_BIBTEX_REPLACEMENTS = {"\\": r"\textbackslash{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}
_KEY_CHARS = re.compile(r"[^a-z0-9]+")


class _RisWriter(rispy.RisWriter):
    """RIS without rispy's "1." line before each record, which EndNote does not expect."""

    def set_header(self, count: int) -> None:
        return None


def item_kind(item: Item, section: str | None) -> str:
    """The material type, with items of the articles section counted as articles."""
    if section == "articles" and item.material_type in (None, "other"):
        return "article"
    return item.material_type or ("thesis" if section == "repository" else "book")


def _person(name: str) -> str:
    parts = split_name(name)
    return parts["literal"] if "literal" in parts else f"{parts['family']}, {parts['given']}"


def _call_number(item: Item) -> str | None:
    return item.ddc or item.lcc


def _title(item: Item) -> str:
    return f"{item.title}: {item.subtitle}" if item.subtitle else item.title


def ris_record(item: Item, section: str | None = None, url: str | None = None) -> dict:
    kind = item_kind(item, section)
    record: dict = {"type_of_reference": RIS_TYPES.get(kind, "GEN"), "title": _title(item)}
    if authors := [_person(a) for a in item.authors or [] if isinstance(a, str) and a.strip()]:
        record["authors"] = authors
    optional = {
        "year": str(item.year) if item.year else None,
        "publisher": item.publisher,
        "edition": item.edition,
        "doi": item.doi,
        "abstract": item.abstract,
        "call_number": _call_number(item),
        "language": item.language,
        "secondary_title": item.journal or item.series,
        "journal_name": item.journal,
        "issn": item.issns[0] if item.issns else None,
    }
    if kind not in ("article", "serial") and item.isbns:
        optional["issn"] = item.isbns[0]  # RIS carries ISBNs in SN as well
    # A RIS value is one line: abstracts and notes lose their line breaks.
    record.update({key: " ".join(value.split()) for key, value in optional.items() if value})
    if keywords := [s["heading"] for s in item.subjects or [] if isinstance(s, dict) and s.get("heading")]:
        record["keywords"] = [" ".join(k.split()) for k in keywords]
    if url:
        record["urls"] = [url]
    return record


def to_ris(entries: Iterable[tuple[Item, str | None, str | None]]) -> str:
    """RIS of (item, section, link) triples, in order."""
    return rispy.dumps([ris_record(item, section, url) for item, section, url in entries], implementation=_RisWriter)


def _escape(value: str) -> str:
    text = " ".join(str(value).split())
    return _BIBTEX_SPECIAL.sub(lambda m: _BIBTEX_REPLACEMENTS.get(m.group(1), "\\" + m.group(1)), text)


def _verbatim(value: str) -> str:
    """URLs and DOIs are read verbatim; only braces would unbalance the field."""
    return "".join(ch for ch in value.strip() if ch not in "{}\\ ")


def _key_base(item: Item) -> str:
    first = split_name(item.authors[0]) if item.authors else {}
    name = first.get("family") or first.get("literal") or "anon"
    words = [w for w in fold(item.title).split() if len(w) > 2] or fold(item.title).split() or ["untitled"]
    base = _KEY_CHARS.sub("", fold(name).split()[0] if fold(name) else "anon") or "anon"
    return f"{base}{item.year or ''}{_KEY_CHARS.sub('', words[0])}"


def bibtex_entry(item: Item, key: str, section: str | None = None, url: str | None = None) -> Entry:
    kind = item_kind(item, section)
    fields: list[tuple[str, str]] = [("title", "{" + _escape(_title(item)) + "}")]
    if item.authors:
        fields.append(("author", " and ".join("{" + _escape(_person(a)) + "}" if "literal" in split_name(a)
                                              else _escape(_person(a)) for a in item.authors if a and a.strip())))
    if item.year:
        fields.append(("year", str(item.year)))
    if kind == "article":
        if item.journal:
            fields.append(("journal", _escape(item.journal)))
    elif kind == "thesis":
        if item.publisher:
            fields.append(("school", _escape(item.publisher)))
    elif item.publisher:
        fields.append(("publisher", _escape(item.publisher)))
    for name, value in (("edition", item.edition), ("series", None if kind == "article" else item.series),
                        ("abstract", item.abstract), ("language", item.language)):
        if value:
            fields.append((name, _escape(value)))
    if item.isbns:
        fields.append(("isbn", _escape(item.isbns[0])))
    if item.issns:
        fields.append(("issn", _escape(item.issns[0])))
    if item.doi:
        fields.append(("doi", _verbatim(item.doi)))
    if url:
        fields.append(("url", _verbatim(url)))
    if keywords := [s["heading"] for s in item.subjects or [] if isinstance(s, dict) and s.get("heading")]:
        fields.append(("keywords", _escape(", ".join(keywords))))
    entry_type = BIBTEX_TYPES.get(kind, "misc")
    return Entry(entry_type, key, [Field(name, value) for name, value in fields])


def to_bibtex(entries: Iterable[tuple[Item, str | None, str | None]]) -> str:
    """BibTeX of (item, section, link) triples, keys unique within the file."""
    library = bibtexparser.Library()
    used: set[str] = set()
    for item, section, url in entries:
        base = _key_base(item)
        key, suffix = base, 0
        while key in used:
            suffix += 1
            key = f"{base}{chr(ord('a') + (suffix - 1) % 26)}{(suffix - 1) // 26 or ''}"
        used.add(key)
        library.add(bibtex_entry(item, key, section, url))
    # Values are enclosed by the default writer stack: {…} around each field, escaped above.
    return bibtexparser.write_string(library)

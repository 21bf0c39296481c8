"""From an ``ItemRecord`` (as a reader found it) to the values of an ``Item`` and its dedup keys.

Text is NFC with collapsed spaces and cut to the width of its column; identifiers are
normalized (ISBN-13, ``NNNN-NNNC``, lower-case DOI) and invalid ones dropped; call numbers get
their sortable keys. The content hash covers every normalized value, so re-reading an unchanged
record gives the same hash and a changed one a different hash.

Dedup keys (``ItemIdentifier.kind``), strongest first:

- ``isbn``: each ISBN-13, except set ISBNs (``(set)``, ``(bộ)``) that every volume carries;
- ``doi``;
- ``issn_title``: ISSN + folded title (a journal article, or one issue of a serial);
- ``control``: a qualified control number (``003:001``, an OAI identifier). A bare 001 is
  not a key: "12345" in one catalogue and in another are different books;
- ``title_author``: folded title + folded family name of the first author.
"""

import hashlib
import re
import unicodedata
from datetime import date
from typing import Any

import msgspec

from crm import callnumbers
from crm.i18n import _
from crm.sources import identifiers
from crm.sources.records import MATERIAL_TYPES, SUBJECT_SCHEMES, ItemRecord
from crm.text import fold

KEY_KINDS = ("isbn", "doi", "issn_title", "control", "title_author")
LIST_COLUMNS = ("authors", "subjects", "isbns", "issns")
SCALAR_COLUMNS = (
    "title", "subtitle", "ddc", "lcc", "ddc_key", "lcc_key", "doi", "control_number", "publisher", "year",
    "language", "material_type", "abstract", "link", "acquired_on", "edition", "series", "journal", "extent",
)
#: Widths of the String columns of ``item`` (Text columns are unbounded).
WIDTHS = {"ddc": 100, "lcc": 100, "doi": 300, "control_number": 100, "publisher": 500, "link": 2000,
          "edition": 200, "series": 500, "journal": 500, "extent": 200}
KEY_WIDTH = 500
DELETED_HASH = hashlib.sha256(b"deleted").hexdigest()
_SET_ISBN = re.compile(r"\((?:set|trọn bộ|bộ)\b", re.IGNORECASE)
_QUALIFIED_CONTROL = re.compile(r"^[A-Za-z][\w.\-]*:\S")
_ENCODER = msgspec.json.Encoder(order="sorted")
#: Common Vietnamese family names: "Nguyễn Văn An" without a comma is family name first.
VIETNAMESE_FAMILY_NAMES = frozenset(fold(n) for n in (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đào Đoàn Vương Trịnh "
    "Trương Lâm Phùng Mai Tô Hà Tạ Lưu Châu Cao Đinh Lương Quách Kiều Thái Triệu Khúc Chu Văn Hứa Tăng "
    "Lại Mạc Nghiêm Thân Tôn Từ Kim Giang Âu Diệp Hồng Khổng Quan Ông Tiêu Doãn Cù La Lục Lã"
).split())


_WORD = re.compile(r"\w+")


def _tokens(value: str | None) -> list[str]:
    return _WORD.findall(fold(value))


class Normalized(msgspec.Struct):
    """One record ready for the item store."""

    number: int
    record_key: str
    values: dict[str, Any]
    keys: list[tuple[str, str]]
    content_hash: str
    deleted: bool
    link: str | None


class NotStorable(ValueError):
    """A record that cannot become an item (no title)."""


def normalize(record: ItemRecord, number: int) -> Normalized:
    record_key = _text(record.record_key) or ""
    if len(record_key) > KEY_WIDTH:
        record_key = "sha1:" + hashlib.sha1(record_key.encode("utf-8")).hexdigest()
    if record.deleted:
        # An OAI-PMH deletion carries no metadata: only its key counts.
        return Normalized(number=number, record_key=record_key, values={}, keys=[], content_hash=DELETED_HASH,
                          deleted=True, link=None)
    title = _text(record.title)
    if not title:
        raise NotStorable(_("The record has no title."))
    ddc = _text(record.ddc, WIDTHS["ddc"])
    lcc = _text(record.lcc, WIDTHS["lcc"])
    isbns = _unique(identifiers.isbn13(raw) for raw in record.isbns)
    issns = _unique(identifiers.issn(raw) for raw in record.issns)
    link = _text(record.link, WIDTHS["link"])
    if link and not link.lower().startswith(("http://", "https://")):
        link = None
    values: dict[str, Any] = {
        "title": title,
        "subtitle": _text(record.subtitle),
        "authors": _unique(_text(a, 500) for a in record.authors),
        "subjects": _subjects(record),
        "ddc": ddc,
        "lcc": lcc,
        "ddc_key": callnumbers.ddc_key(ddc),
        "lcc_key": callnumbers.lcc_key(lcc),
        "isbns": isbns,
        "issns": issns,
        "doi": identifiers.doi(record.doi),
        "control_number": _text(record.control_number, WIDTHS["control_number"]),
        "publisher": _text(record.publisher, WIDTHS["publisher"]),
        "year": record.year if isinstance(record.year, int) and 1000 <= record.year <= 2999 else None,
        "language": _language(record.language),
        "material_type": record.material_type if record.material_type in MATERIAL_TYPES else None,
        "abstract": _paragraphs(record.abstract),
        "link": link,
        "acquired_on": record.acquired_on if isinstance(record.acquired_on, date) else None,
        "edition": _text(record.edition, WIDTHS["edition"]),
        "series": _text(record.series, WIDTHS["series"]),
        "journal": _text(record.journal, WIDTHS["journal"]),
        "extent": _text(record.extent, WIDTHS["extent"]),
    }
    set_isbns = {identifiers.isbn13(raw) for raw in record.isbns if _SET_ISBN.search(raw)}
    keys = dedup_keys(values, exclude_isbns=set_isbns)
    digest = hashlib.sha256(_ENCODER.encode(values)).hexdigest()
    if not record_key:
        record_key = "content:" + digest[:40]  # a reader gave no key: the content is the record's identity
    return Normalized(number=number, record_key=record_key, values=values, keys=keys,
                      content_hash=digest, deleted=False, link=link)


def dedup_keys(values: dict[str, Any], exclude_isbns: set | frozenset = frozenset()) -> list[tuple[str, str]]:
    """The (kind, value) keys of an item's values, strongest kind first."""
    keys = [("isbn", isbn) for isbn in values["isbns"] if isbn not in exclude_isbns]
    if values["doi"]:
        keys.append(("doi", values["doi"]))
    folded_title = " ".join(_tokens(values["title"]))[:400]
    if folded_title:
        keys += [("issn_title", f"{issn}|{folded_title}") for issn in values["issns"]]
    control = values["control_number"]
    if control and _QUALIFIED_CONTROL.match(control):
        keys.append(("control", control[:KEY_WIDTH]))
    family = family_name(values["authors"][0]) if values["authors"] else ""
    if folded_title and family:
        keys.append(("title_author", f"{folded_title}|{family}"[:KEY_WIDTH]))
    return keys


def family_name(author: str) -> str:
    """The folded family name: before the comma ("Smith, John"; "Nguyễn, Văn An"), else the
    first word of a Vietnamese name ("Nguyễn Văn An") or the last word of another ("John Smith")."""
    if "," in author:
        return " ".join(_tokens(author.split(",", 1)[0]))
    words = _tokens(author)
    if not words:
        return ""
    return words[0] if words[0] in VIETNAMESE_FAMILY_NAMES or len(words) == 1 else words[-1]


def search_key(values: dict[str, Any]) -> str:
    """Folded title, subtitle, authors, subjects, ISBNs (13 and 10) and DOI, for searching."""
    parts = [values["title"], values["subtitle"] or "", *values["authors"],
             *(s["heading"] for s in values["subjects"]), *values["isbns"],
             *(i10 for i in values["isbns"] if (i10 := identifiers.isbn10(i))), values["doi"] or ""]
    return fold(" ".join(p for p in parts if p))


def _text(value: str | None, width: int | None = None) -> str | None:
    if not value:
        return None
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if width is not None:
        value = value[:width].rstrip()
    return value or None


def _paragraphs(value: str | None) -> str | None:
    if not value:
        return None
    lines = [" ".join(part.split()) for part in unicodedata.normalize("NFC", value).split("\n\n")]
    return "\n\n".join(line for line in lines if line) or None


def _unique(values) -> list:
    seen: list = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def _subjects(record: ItemRecord) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for subject in record.subjects:
        heading = _text(subject.heading, 500)
        if heading:
            entry = {"heading": heading, "scheme": subject.scheme if subject.scheme in SUBJECT_SCHEMES else "other"}
            if entry not in found:
                found.append(entry)
    return found


def _language(value: str | None) -> str | None:
    code = (value or "").strip().lower()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None

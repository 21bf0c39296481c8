"""From a pymarc ``Record`` to an ``ItemRecord``: which MARC21 fields mean what.

Strings come out NFC, trimmed of the ISBD punctuation that ends MARC subfields (`` /``,
`` :``, `` ;``, ``,``, ``.``); identifiers are kept as written (ingest normalizes them).
"""

import hashlib
import re
from datetime import date
from functools import lru_cache

from pymarc import Field, Record

from crm import callnumbers
from crm.i18n import _
from crm.sources.records import ItemRecord, Subject
from crm.text import fold as _fold, nfc

_TRAILING = " /:;,.="
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")
SUBJECT_TAGS = ("600", "610", "611", "630", "648", "650", "651", "655")
SUBDIVISIONS = frozenset("vxyz")
#: Which subfields make the heading of each subject tag (before the subdivisions).
HEADING_CODES = {"600": "abcdq", "610": "ab", "611": "acdn", "630": "anp", "648": "a", "650": "ab", "651": "a", "655": "a"}
#: Folded ``$2`` values of Vietnamese and local heading lists (e.g. the National Library's "Bộ TK TVQG").
LOCAL_SCHEME_MARKS = ("vn", "local", "tvqg", "bo tk", "bo tu khoa", "khung de muc")
ONLINE_FORMS = frozenset("oqs")
#: Koha item types (952 $y, 942 $c), folded, that say more than the leader does.
ITEM_TYPE_HINTS = {
    "thesis": ("thesis", "lv", "la", "kl", "luan van", "luan an", "khoa luan"),
    "ebook": ("ebook", "e-book", "eb", "sach dien tu", "tai lieu dien tu"),
}


#: Codes ($2), item types and carrier terms repeat from record to record: fold each once.
fold = lru_cache(maxsize=4096)(_fold)


class MarcRecordError(ValueError):
    """A record that parsed but cannot become an item (no title)."""

    def __init__(self, reason: str, record_key: str | None = None) -> None:
        super().__init__(reason)
        self.record_key = record_key


def record_from_marc(record: Record) -> ItemRecord:
    """The ItemRecord of one MARC21 bibliographic record; MarcRecordError if it has no title."""
    fields: dict[str, list[Field]] = {}
    for field in record.fields:
        fields.setdefault(field.tag, []).append(field)
    leader = str(record.leader)
    f008 = _control(fields, "008")
    control = _clean(_control(fields, "001"))
    org = _clean(_control(fields, "003"))
    record_key = f"{org}:{control}" if org and control else control

    title, subtitle = _title(fields)
    if not title:
        raise MarcRecordError(_("The record has no title (field 245)."), record_key)

    year = _year_008(f008) or _year_publication(fields)
    ddc = _first_call_number(fields, ("082",), "a", "b")
    lcc = _first_call_number(fields, ("050", "090"), "a", "b")
    item_types = [fold(v) for f in fields.get("952", ()) for v in _values(f, "y")]
    item_types += [fold(v) for f in fields.get("942", ()) for v in _values(f, "c")]
    if not ddc and not lcc:
        for field in fields.get("952", ()):
            call_number = _clean(_first(field, "o"))
            scheme = callnumbers.scheme_of(call_number)
            if scheme == "ddc" and callnumbers.ddc_key(call_number):
                ddc = call_number
                break
            if scheme == "lcc" and callnumbers.lcc_key(call_number):
                lcc = call_number
                break

    item = ItemRecord(
        record_key=record_key or "",
        title=title,
        subtitle=subtitle,
        authors=_authors(fields),
        subjects=_subjects(fields),
        ddc=ddc,
        lcc=lcc,
        isbns=[v for f in fields.get("020", ()) for v in map(_clean, _values(f, "a")) if v],
        issns=[v for f in fields.get("022", ()) for v in map(_clean, _values(f, "a")) if v],
        doi=_doi(fields),
        control_number=record_key,
        publisher=_publisher(fields),
        year=year,
        language=_language(f008, fields),
        material_type=_material_type(leader, f008, fields, item_types),
        abstract=nfc("\n\n".join(" ".join(_values(f, "ab")) for f in fields.get("520", ()))),
        link=_link(fields),
        acquired_on=_acquired_on(fields),
        edition=_clean(_join(fields["250"][0], "ab")) if "250" in fields else None,
        series=_series(fields),
        extent=_clean(_join(fields["300"][0], "abc")) if "300" in fields else None,
    )
    if not item.record_key:
        item.record_key = record_key_fallback(item)
    return item


def record_key_fallback(record: ItemRecord) -> str:
    """A stable key for a record without 001: a hash of what identifies it."""
    basis = "|".join([record.title, *record.authors[:1], str(record.year or ""), *record.isbns, record.publisher or ""])
    return "marc-" + hashlib.sha1(basis.encode("utf-8")).hexdigest()[:24]


# --- helpers ------------------------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    """NFC, collapsed spaces, trailing ISBD punctuation trimmed; None when nothing is left."""
    if not value:
        return None
    value = nfc(" ".join(value.split()))
    if value is None:
        return None
    value = value.rstrip(_TRAILING)
    return value or None


def _control(fields: dict[str, list[Field]], tag: str) -> str:
    for field in fields.get(tag, ()):
        if field.data is not None:
            return field.data
    return ""


def _values(field: Field, codes: str) -> list[str]:
    return [value for code, value in field.subfields if code in codes and value]


def _first(field: Field, code: str) -> str | None:
    for sub_code, value in field.subfields:
        if sub_code == code and value:
            return value
    return None


def _join(field: Field, codes: str) -> str | None:
    return _clean(" ".join(_values(field, codes)))


def _title(fields: dict[str, list[Field]]) -> tuple[str | None, str | None]:
    for field in fields.get("245", ()):
        title = _clean(" ".join(_values(field, "anp")) or _first(field, "k"))
        if title:
            return title, _clean(_first(field, "b"))
    for tag in ("130", "240", "246"):
        for field in fields.get(tag, ()):
            if title := _clean(_first(field, "a")):
                return title, None
    return None, None


def _authors(fields: dict[str, list[Field]]) -> list[str]:
    names: list[str] = []
    for tag in ("100", "110", "111", "700", "710", "711"):
        for field in fields.get(tag, ()):
            if tag.endswith("10"):
                name = _clean(". ".join(v.strip().rstrip(_TRAILING) for v in _values(field, "ab")))
            else:
                name = _join(field, "ab" if tag.endswith("00") else "a")
            if name and name not in names:
                names.append(name)
    return names


def _subject_scheme(field: Field) -> str:
    if field.tag == "653":
        return "keyword"
    indicator = field.indicator2
    if indicator == "0":
        return "lcsh"
    if indicator == "4":
        return "keyword"
    if indicator == "7":
        source = fold(_first(field, "2"))
        if source == "lcsh":
            return "lcsh"
        if any(source.startswith(mark) or f" {mark}" in source for mark in LOCAL_SCHEME_MARKS):
            return "local"
    return "other"


def _subjects(fields: dict[str, list[Field]]) -> list[Subject]:
    found: list[Subject] = []
    for tag in SUBJECT_TAGS:
        codes = HEADING_CODES[tag]
        for field in fields.get(tag, ()):
            heading = _clean(" ".join(v for c, v in field.subfields if c in codes and v))
            parts = [heading] if heading else []
            parts += [p for c, v in field.subfields if c in SUBDIVISIONS and (p := _clean(v))]
            if parts:
                subject = Subject(heading=" -- ".join(parts), scheme=_subject_scheme(field))
                if subject not in found:
                    found.append(subject)
    for field in fields.get("653", ()):
        for value in _values(field, "a"):
            if (term := _clean(value)) and (subject := Subject(heading=term, scheme="keyword")) not in found:
                found.append(subject)
    return found


def _first_call_number(fields: dict[str, list[Field]], tags: tuple[str, ...], main: str, item: str) -> str | None:
    for tag in tags:
        for field in fields.get(tag, ()):
            number = _clean(_first(field, main))
            if number:
                cutter = _clean(_first(field, item))
                return f"{number} {cutter}" if cutter else number
    return None


def _doi(fields: dict[str, list[Field]]) -> str | None:
    for field in fields.get("024", ()):
        if field.indicator1 == "7" and fold(_first(field, "2")) == "doi":
            if value := _clean(_first(field, "a")):
                return value
    for field in fields.get("856", ()):
        for url in _values(field, "u"):
            if "doi.org/10." in url:
                return url.strip()
    return None


def _year_008(f008: str) -> int | None:
    if len(f008) >= 11 and f008[6] not in "bn|":
        return _plausible_year(f008[7:11])
    return None


def _plausible_year(text: str | None) -> int | None:
    if text and text.isdigit():
        year = int(text)
        if 1000 <= year <= date.today().year + 5:
            return year
    return None


def _publication_fields(fields: dict[str, list[Field]]) -> list[Field]:
    found = fields.get("264", [])
    return [f for f in found if f.indicator2 == "1"] + fields.get("260", []) + [f for f in found if f.indicator2 != "1"]


def _year_publication(fields: dict[str, list[Field]]) -> int | None:
    for field in _publication_fields(fields):
        for value in _values(field, "c"):
            match = _YEAR.search(value)
            if match and (year := _plausible_year(match.group(1))):
                return year
    return None


def _publisher(fields: dict[str, list[Field]]) -> str | None:
    for field in _publication_fields(fields):
        if field.tag == "264" and field.indicator2 not in ("1", " "):
            continue
        if publisher := _clean(_first(field, "b")):
            return publisher
    return None


def _language(f008: str, fields: dict[str, list[Field]]) -> str | None:
    code = f008[35:38].strip().lower() if len(f008) >= 38 else ""
    if len(code) == 3 and code.isalpha() and code != "und":
        return code
    for field in fields.get("041", ()):
        for value in _values(field, "a"):
            code = value.strip().lower()[:3]
            if len(code) == 3 and code.isalpha():
                return code
    return None


def _online(f008: str, fields: dict[str, list[Field]]) -> bool:
    if len(f008) > 23 and f008[23] in ONLINE_FORMS:
        return True
    for field in fields.get("338", ()):
        if "cr" in _values(field, "b") or "online resource" in (_first(field, "a") or "").lower():
            return True
    return any("online resource" in (_first(f, "a") or "").lower() for f in fields.get("300", ()))


def _material_type(leader: str, f008: str, fields: dict[str, list[Field]], item_types: list[str]) -> str:
    kind, level = (leader + " " * 8)[6:8]
    if kind in "at":
        if level in "bis":
            return "serial"
        if "502" in fields or any(t in ITEM_TYPE_HINTS["thesis"] for t in item_types):
            return "thesis"
        if _online(f008, fields) or any(t in ITEM_TYPE_HINTS["ebook"] for t in item_types):
            return "ebook"
        return "book"
    return {"e": "map", "f": "map", "c": "music", "d": "music", "j": "music", "i": "audio", "g": "video"}.get(kind, "other")


def _link(fields: dict[str, list[Field]]) -> str | None:
    ranked = sorted(fields.get("856", ()), key=lambda f: 0 if f.indicator2 in ("0", "1", " ") else 1)
    for field in ranked:
        for url in _values(field, "u"):
            url = url.strip()
            if url.lower().startswith(("http://", "https://")) and " " not in url:
                return url
    return None


def _acquired_on(fields: dict[str, list[Field]]) -> date | None:
    dates = []
    for field in fields.get("952", ()):
        match = _ISO_DATE.match(_first(field, "d") or "")
        if match:
            try:
                dates.append(date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
            except ValueError:
                continue
    return min(dates) if dates else None


def _series(fields: dict[str, list[Field]]) -> str | None:
    for tag in ("490", "830", "440"):
        for field in fields.get(tag, ()):
            if series := _join(field, "av"):
                return series
    return None

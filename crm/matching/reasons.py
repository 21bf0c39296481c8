"""Why a match happened, in plain words: the stored explanation (the clauses that hit and the
fields they hit) read back in the librarian's language.

The matcher stores clauses analyzed ("thu vien so"); the profile's own keywords, subject headings
and query text give back the words as the librarian typed them ("thư viện số"), so a reason reads
'từ khóa “thư viện số” trong nhan đề, chủ đề'. A clause the profile's text does not explain (it
was edited since) is shown as stored.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crm.i18n import _, lazy
from crm.interests.query import YEAR_MAX, YEAR_MIN
from crm.sources import labels
from crm.text import analyze_text

FIELD_NAMES = {
    "title": lazy("title"),
    "subtitle": lazy("title"),
    "subjects": lazy("subjects"),
    "abstract": lazy("abstract"),
    "authors": lazy("authors"),
}
SCOPED = ("title", "subject", "author")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Reason:
    """One clause that hit: its kind (term, phrase, prefix, class, lang, type, year, source), the
    sentence in the current language, and the item fields it hit."""

    kind: str
    text: str
    fields: tuple[str, ...]
    weight: float


def spellings(texts: Iterable[str | None]) -> dict[str, str]:
    """Analyzed form ("thu vien so", folded or exact) → the text as written, from a profile's
    keywords, headings and query (each quoted phrase and each word of it)."""
    found: dict[str, str] = {}
    for text in texts:
        if not text:
            continue
        candidates = [*(m.group(1) for m in _QUOTED.finditer(text)), text.strip().strip('"'), *_WORD.findall(text)]
        for candidate in candidates:
            for exact in (False, True):
                key = " ".join(analyze_text(candidate, exact))
                if key:
                    found.setdefault(key, " ".join(candidate.split()))
    return found


def profile_spellings(profile) -> dict[str, str]:
    """``spellings`` of a profile (or a row with its keywords, subject_headings, query and topics)."""
    return spellings([*(profile.keywords or []), *(profile.subject_headings or []), profile.query, profile.topics])


def _fields(names: Iterable[str]) -> str:
    shown: list[str] = []
    for name in names:
        label = _(FIELD_NAMES[name]) if name in FIELD_NAMES else name
        if label not in shown:
            shown.append(label)
    return ", ".join(shown)


def _years(value: str) -> str:
    low, _sep, high = value.partition("-")
    if not (low.isdigit() and high.isdigit()):
        return value
    start, end = int(low), int(high)
    if start == end:
        return str(start)
    if start <= YEAR_MIN:
        return _("until %(year)s", year=end)
    if end >= YEAR_MAX:
        return _("from %(year)s", year=start)
    return f"{start}–{end}"


def describe(hit: Mapping, spelled: Mapping[str, str] | None = None,
             source_names: Mapping[str, str] | None = None) -> str:
    """One stored hit (``{"clause", "kind", "fields", "weight"}``) as a phrase in the current language."""
    kind, clause = str(hit.get("kind") or ""), str(hit.get("clause") or "")
    fields = [str(name) for name in hit.get("fields") or ()]
    if kind in ("term", "prefix", "phrase"):
        head, colon, rest = clause.partition(":")
        scope, text = (head, rest) if colon and head in SCOPED else ("", clause)
        text = text.strip('"')
        if kind == "prefix":
            text = text.rstrip("*")
        shown = (spelled or {}).get(text, text)
        if scope == "author":
            return _("author “%(text)s”", text=shown)
        if scope == "subject":
            return _("subject heading “%(text)s”", text=shown)
        if kind == "prefix":
            return _("words beginning with “%(text)s” in %(fields)s", text=shown, fields=_fields(fields))
        return _("keyword “%(text)s” in %(fields)s", text=shown, fields=_fields(fields))
    value = clause.partition(":")[2] or clause
    if kind == "class":
        return _("classification %(text)s", text=value.replace("-", "–"))
    if kind == "lang":
        return _("language: %(text)s", text=labels.language_name(value) or value)
    if kind == "type":
        return _("material type: %(text)s", text=labels.label(labels.MATERIAL_TYPES, value))
    if kind == "year":
        return _("published %(text)s", text=_years(value))
    if kind == "source":
        return _("source “%(text)s”", text=(source_names or {}).get(value, value))
    return clause


def reasons(explanation: Iterable[Mapping], spelled: Mapping[str, str] | None = None,
            source_names: Mapping[str, str] | None = None) -> list[Reason]:
    """A stored explanation as reasons, strongest first (filters, which do not rank, last)."""
    out = [Reason(str(hit.get("kind") or ""), describe(hit, spelled, source_names),
                  tuple(str(name) for name in hit.get("fields") or ()), float(hit.get("weight") or 0))
           for hit in explanation if isinstance(hit, Mapping)]
    return sorted(out, key=lambda reason: -reason.weight)


def source_ids(explanations: Iterable[Iterable[Mapping]]) -> set[int]:
    """The source ids named by ``source:`` hits (to look their names up once)."""
    found = set()
    for explanation in explanations:
        for hit in explanation:
            value = str(hit.get("clause") or "").partition(":")[2] if isinstance(hit, Mapping) else ""
            if hit.get("kind") == "source" and value.isdigit() and len(value) <= 18:
                found.add(int(value))
    return found

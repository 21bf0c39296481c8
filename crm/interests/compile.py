"""A profile's structured fields compiled to the query language, so one engine matches them all.

``(keyword OR "two words" OR subject:"heading" OR class:[004 TO 006.99]) AND lang:(vie OR eng)``:

* keywords: one word stays a word, anything else (several words, hyphens, operator words) becomes a
  phrase, because a librarian who types "thư viện số" means those words together;
* subject headings: ``subject:"…"`` phrases (matched against the item's headings only);
* class ranges, stored canonically (``004-006.99``, ``QA76-QA76.99``, ``025.04``): ``class:``
  ranges, a single class meaning it and everything under it;
* languages: one ``lang:`` filter AND-ed with everything else.

A librarian-written query replaces keywords, headings and ranges and is used as written, in
parentheses, AND-ed with the languages when there are any (so error positions from the form are
checked on the query alone).

Free-text topics are prose for people ("Chuyển đổi số trong thư viện đại học, dữ liệu mở"), so
they contribute only as a fallback, when the profile has nothing structured: each comma,
semicolon or line separated part of at most ``TOPIC_PHRASE_WORDS`` words becomes a phrase;
longer parts are ignored. A profile with nothing to look for compiles to ``""``.
"""

import re
from collections.abc import Iterable

from crm.interests.languages import normalize_language

TOPIC_PHRASE_WORDS = 4
_BARE_WORD = re.compile(r"\w+")
_RESERVED = {"AND", "OR", "NOT", "TO"}
_TOPIC_SEPARATORS = re.compile(r"[,;\n\r.]+")


def quote(value: str) -> str:
    """A value as a word when it is one plain word, else as a phrase with its quotes escaped."""
    value = " ".join(value.split())
    if _BARE_WORD.fullmatch(value) and value not in _RESERVED:
        return value
    return '"' + value.replace("\\", " ").replace('"', '\\"') + '"'


def class_clause(class_range: str) -> str:
    start, _, end = class_range.partition("-")
    return f"class:[{start} TO {end}]" if end else f"class:{start}"


def _languages(languages: Iterable[str]) -> list[str]:
    codes: list[str] = []
    for language in languages:
        code = normalize_language(language)
        if code and code not in codes:
            codes.append(code)
    return codes


def _topic_phrases(topics: str | None) -> list[str]:
    phrases = []
    for part in _TOPIC_SEPARATORS.split(topics or ""):
        words = part.split()
        if 0 < len(words) <= TOPIC_PHRASE_WORDS and _BARE_WORD.search(part):
            phrases.append(quote(part))
    return phrases


def compile_profile(
    name: str,
    topics: str | None,
    keywords: Iterable[str],
    subject_headings: Iterable[str],
    class_ranges: Iterable[str],
    languages: Iterable[str],
    query: str | None = None,
) -> str:
    """The query a profile stands for. ``name`` labels the profile only; it never adds terms."""
    del name  # a label like "Khoa CNTT – AI" is not something to look for
    if query and query.strip():
        codes = _languages(languages)
        if not codes:
            return query.strip()
        main = f"({query.strip()})"
    else:
        clauses = [quote(keyword) for keyword in keywords if keyword and keyword.strip()]
        clauses += [f"subject:{quote(heading)}" for heading in subject_headings if heading and heading.strip()]
        clauses += [class_clause(value.strip()) for value in class_ranges if value and value.strip()]
        if not clauses:
            clauses = _topic_phrases(topics)
        if not clauses:
            return ""
        main = clauses[0] if len(clauses) == 1 else "(" + " OR ".join(clauses) + ")"
    codes = _languages(languages)
    if not codes:
        return main
    return f"{main} AND lang:{codes[0] if len(codes) == 1 else '(' + ' OR '.join(codes) + ')'}"

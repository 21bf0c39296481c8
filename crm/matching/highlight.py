"""Matched words marked in a text, so a librarian sees at a glance why an item matched.

A match's hits name their clauses as the engine analyzed them: folded words (``thu``,
``"thu vien so"``, ``hoc*``), or words as written when the profile asks for exact matching. The
text is tokenized by the same analyzer, each token keeping its place in the text, so the folded
term ``thu`` marks the word "Thư", a phrase is marked as one run (with the spaces and
punctuation between its words), and a prefix marks every word it starts. Every character, in a
mark or not, is escaped: titles come from outside (feeds, MARC files) and may hold markup.

Hits may be :class:`crm.matching.evaluate.Hit` objects or the dicts stored with a match
(``{"clause", "kind", "fields", "weight"}``).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from markupsafe import Markup, escape

from crm.text import analyze_text

#: A snippet of a long text (an abstract) is about this many characters.
SNIPPET_CHARS = 240
TEXT_KINDS = ("term", "prefix", "phrase")
TEXT_FIELD_PREFIXES = ("title:", "subject:", "author:")
#: The analyzer's word pattern (crm.text): word characters and combining marks.
_WORD = re.compile(r"[\w\u0300-\u036f]+")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Pattern:
    """What to mark: one token (a word or a prefix) or several side by side (a phrase)."""

    tokens: tuple[str, ...]
    prefix: bool = False


def _get(hit: object, name: str) -> object:
    return hit.get(name) if isinstance(hit, Mapping) else getattr(hit, name, None)


def patterns(hits: Iterable[object], fields: Iterable[str] | None = None) -> list[Pattern]:
    """The word patterns of the text hits; with ``fields``, only hits found in one of them."""
    wanted = set(fields) if fields is not None else None
    found: list[Pattern] = []
    for hit in hits:
        kind, clause = _get(hit, "kind"), str(_get(hit, "clause") or "")
        if kind not in TEXT_KINDS or (wanted is not None and not wanted.intersection(_get(hit, "fields") or ())):
            continue
        for prefix in TEXT_FIELD_PREFIXES:
            if clause.startswith(prefix):
                clause = clause[len(prefix):]
                break
        if kind == "phrase":
            pattern = Pattern(tuple(clause.strip('"').split()))
        elif kind == "prefix":
            pattern = Pattern((clause.rstrip("*"),), prefix=True)
        else:
            pattern = Pattern((clause,))
        if pattern.tokens and all(pattern.tokens) and pattern not in found:
            found.append(pattern)
    return found


def _tokens(text: str, exact: bool) -> list[tuple[str, int, int]]:
    """(analyzed token, start, end) of each word, the way the item's own tokens were made."""
    out: list[tuple[str, int, int]] = []
    for word in _WORD.finditer(text):
        for token in analyze_text(word.group(), exact):
            out.append((token, word.start(), word.end()))
    return out


def spans(text: str, hits: Iterable[object], *, exact: bool = False,
          fields: Iterable[str] | None = None) -> list[tuple[int, int]]:
    """Character ranges to mark, sorted, overlapping and touching ones merged."""
    found_patterns = patterns(hits, fields)
    if not text or not found_patterns:
        return []
    tokens = _tokens(text, exact)
    words = [token for token, _start, _end in tokens]
    found: list[tuple[int, int]] = []
    for pattern in found_patterns:
        size, first = len(pattern.tokens), pattern.tokens[0]
        for i in range(len(words) - size + 1):
            word = words[i]
            if size == 1:
                hit = word.startswith(first) if pattern.prefix else word == first
            else:
                hit = word == first and tuple(words[i:i + size]) == pattern.tokens
            if hit:
                found.append((tokens[i][1], tokens[i + size - 1][2]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _render(text: str, marks: list[tuple[int, int]], start: int, end: int) -> Markup:
    out: list[str] = []
    at = start
    for mark_start, mark_end in marks:
        mark_start, mark_end = max(mark_start, start), min(mark_end, end)
        if mark_start >= mark_end:
            continue
        out.append(escape(text[at:mark_start]))
        out.append(Markup("<mark>%s</mark>") % text[mark_start:mark_end])
        at = mark_end
    out.append(escape(text[at:end]))
    return Markup("").join(out)


def highlight(text: str | None, hits: Iterable[object], *, exact: bool = False,
              fields: Iterable[str] | None = None) -> Markup:
    """The whole text, escaped, with the hits' words in ``<mark>``."""
    if not text:
        return Markup("")
    return _render(text, spans(text, hits, exact=exact, fields=fields), 0, len(text))


def snippet(text: str | None, hits: Iterable[object], *, exact: bool = False, fields: Iterable[str] | None = None,
            width: int = SNIPPET_CHARS) -> Markup:
    """About ``width`` characters of a long text around its first mark, cut between words, with "…"."""
    if not text:
        return Markup("")
    marks = spans(text, hits, exact=exact, fields=fields)
    if len(text) <= width:
        return _render(text, marks, 0, len(text))
    start = 0
    if marks and marks[0][1] > width:
        start = max(0, marks[0][0] - width // 3)
        space = _SPACE.search(text, start, marks[0][0])
        start = space.end() if space else start
    end = min(len(text), start + width)
    if end < len(text):
        last_space = max((m.start() for m in _SPACE.finditer(text, start, end)), default=-1)
        end = last_space if last_space > start else end
        if marks and marks[0][0] < end < marks[0][1]:
            end = marks[0][1]
    body = _render(text, marks, start, end)
    return Markup("").join([Markup("…") if start else Markup(""), body, Markup("…") if end < len(text) else Markup("")])

"""The profile query language: Lucene-style text parsed by luqum into a small tree of our own.

Why our own tree: luqum's tree is a faithful picture of the syntax (implicit operators, ``+``,
``-``, groups, field groups); matching needs the meaning, with every value already analyzed
(folded words, class ranges as sortable keys, ISO 639-2/B languages), checked once, and the
position of each clause kept for error messages.

Language reference (shown to librarians in the profile form):

* ``word``, ``"a phrase"`` (consecutive words), ``prefix*`` (one word, ``*`` at the end only).
* ``a AND b``, ``a OR b``, ``NOT a``, ``-a`` (= NOT a), ``+a`` (= a), parentheses. Operators are
  upper case. Words side by side mean AND (the implicit operator), and it binds loosest:
  ``a b OR c`` is ``a AND (b OR c)``; AND binds tighter than OR: ``a OR b AND c`` is
  ``a OR (b AND c)``.
* Fields: none (title, subtitle, subject headings incl. keywords, abstract), ``title:`` (title and
  subtitle), ``author:``, ``subject:``, ``class:`` (``class:004*``, ``class:QA76*``,
  ``class:025.04`` = that class and everything under it, ``class:[004 TO 006.99]``,
  ``class:[QA76 TO QA76.99]``, inclusive, the end class with all its extensions),
  ``lang:`` (vi, en, vie, eng, fre… → ISO 639-2/B), ``type:`` (book, ebook, article, serial,
  thesis, map, music, video, audio, other), ``year:`` (``year:2024``, ``year:[2020 TO 2025]``,
  ``year:{2019 TO 2026}`` exclusive, ``year:>=2020``, ``year:<2000``), ``source:`` (a source id,
  or words of its name). ``title:(a OR "b c")`` applies the field to the whole group.
* Case and Vietnamese diacritics are folded ("thu vien so" finds "Thư viện số", đ → d) unless
  the query is exact: then case and diacritics must match as written.
* Errors (:class:`QueryError`) carry a translated message and the 0-based character position of
  the fault: unknown field, bad value or range, unbalanced parenthesis, bracket or quote, empty
  query, unsupported syntax (fuzzy ``~``, boost ``^``, regex), or a query that would match
  (almost) everything: a lone ``*``, only NOT clauses, or an OR with a NOT side.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from luqum import tree
from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse

from crm.callnumbers import range_keys
from crm.i18n import _, lazy
from crm.interests.languages import normalize_language
from crm.text import analyze_text
from crm.sources.records import MATERIAL_TYPES

TEXT_FIELDS = {"title": "title", "author": "author", "subject": "subject"}
VALUE_FIELDS = ("class", "lang", "type", "year", "source")
FIELDS = (*TEXT_FIELDS, *VALUE_FIELDS)
#: Open year ranges (``year:>=2020``, ``[2020 TO *]``) stop here.
YEAR_MIN, YEAR_MAX = 0, 9999


class QueryError(ValueError):
    """An invalid query: ``message`` (in the current language) and ``position`` (0-based)."""

    def __init__(self, msgid: str, position: int, **variables: object) -> None:
        self.msgid = msgid
        self.variables = variables
        self.position = position
        super().__init__(f"{msgid % variables if variables else msgid} (position {position})")

    @property
    def message(self) -> str:
        return _(self.msgid, **self.variables)


# --- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    field: str  # "default", "title", "subject" or "author"
    text: str  # one analyzed token (folded unless exact)
    prefix: bool
    exact: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Phrase:
    field: str
    tokens: tuple[str, ...]  # two or more analyzed tokens
    exact: bool
    pos: int


@dataclass(frozen=True, slots=True)
class ClassRange:
    low: str
    high: str
    label: str
    pos: int


@dataclass(frozen=True, slots=True)
class Value:
    """``lang:``, ``type:`` and ``source:`` (an id, or the analyzed words of a name in ``words``)."""

    field: str
    value: str
    words: tuple[str, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class YearRange:
    low: int
    high: int
    pos: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple
    pos: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    child: object
    pos: int


Node = Term | Phrase | ClassRange | Value | YearRange | And | Or | Not


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    text: str
    exact: bool
    root: Node


# --- parsing ------------------------------------------------------------------------------

_LUQUM_POSITION = re.compile(r"position (\d+)")
_LUQUM_TOKEN = re.compile(r"unexpected\s+'(.*)' at position")


@lru_cache(maxsize=4096)
def parse_query(text: str, exact: bool = False) -> ParsedQuery:
    """Parse and check a query; raises :class:`QueryError` with the position of the fault."""
    if not text or not text.strip():
        raise QueryError(lazy("The query is empty."), 0)
    _check_balance(text)
    try:
        syntax = luqum_parse(text)
    except ParseError as exc:
        found = _LUQUM_POSITION.search(str(exc))
        if found is None:
            raise QueryError(lazy("The query ends too early: something is missing after the last word or operator."),
                             len(text.rstrip())) from None
        token = _LUQUM_TOKEN.search(str(exc))
        raise QueryError(lazy("Unexpected “%(token)s” here."), int(found.group(1)),
                         token=token.group(1) if token else text[int(found.group(1))]) from None
    root = _Converter(exact).convert(syntax, None)
    if not _positive(root):
        raise QueryError(lazy("This query would match almost everything: a NOT clause must come with something to look "
                         "for (a AND NOT b), and both sides of an OR must look for something."), _first_negative(root))
    return ParsedQuery(text, exact, root)


def _check_balance(text: str) -> None:
    """Unbalanced quotes, parentheses and brackets, reported where they start (luqum says only 'at the end')."""
    stack: list[tuple[str, int]] = []
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if quote is not None:
            if ch == '"':
                quote = None
        elif ch == '"':
            quote = i
        elif ch in "([{":
            stack.append((ch, i))
        elif ch in ")]}":
            opening = "(" if ch == ")" else "[{"
            if not stack or stack[-1][0] not in opening:
                raise QueryError(lazy("“%(char)s” closes nothing: check the parentheses and brackets."), i, char=ch)
            stack.pop()
        i += 1
    if quote is not None:
        raise QueryError(lazy("This quotation mark is never closed."), quote)
    if stack:
        ch, pos = stack[-1]
        raise QueryError(lazy("“%(char)s” is never closed."), pos, char=ch)


def _positive(node: Node) -> bool:
    """Whether a node requires something to be present (so it cannot match almost everything)."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_positive(child) for child in node.children)
    if isinstance(node, Or):
        return all(_positive(child) for child in node.children)
    return True


def _first_negative(node: Node) -> int:
    if isinstance(node, Not):
        return node.pos
    if isinstance(node, And | Or):
        for child in node.children:
            if not _positive(child):
                return _first_negative(child)
    return node.pos


class _Converter:
    def __init__(self, exact: bool) -> None:
        self.exact = exact

    def convert(self, node: tree.Item, field: str | None) -> Node:
        if isinstance(node, tree.SearchField):
            return self._field(node, field)
        if isinstance(node, tree.BaseGroup):
            return self.convert(node.expr, field)
        if isinstance(node, tree.AndOperation | tree.UnknownOperation):
            return And(tuple(self.convert(child, field) for child in node.operands), node.pos)
        if isinstance(node, tree.OrOperation):
            return Or(tuple(self.convert(child, field) for child in node.operands), node.pos)
        if isinstance(node, tree.Not | tree.Prohibit):
            return Not(self.convert(node.a, field), node.pos)
        if isinstance(node, tree.Plus):
            return self.convert(node.a, field)
        if isinstance(node, tree.Word | tree.Phrase):
            return self._value(node, field)
        if isinstance(node, tree.Range):
            return self._range(node, field)
        if isinstance(node, tree.From | tree.To):
            return self._open_range(node, field)
        raise QueryError(lazy("This syntax is not supported here (fuzzy ~, boost ^ and /regex/ are not)."),
                         node.pos or 0)

    def _field(self, node: tree.SearchField, outer: str | None) -> Node:
        if outer is not None:
            raise QueryError(lazy("A field cannot be used inside another field."), node.pos)
        name = node.name.lower()
        if name not in FIELDS:
            raise QueryError(lazy("Unknown field “%(field)s”; the fields are: %(fields)s."), node.pos,
                             field=node.name, fields=", ".join(FIELDS))
        return self.convert(node.expr, name)

    def _value(self, node: tree.Word | tree.Phrase, field: str | None) -> Node:
        is_phrase = isinstance(node, tree.Phrase)
        raw = node.value[1:-1] if is_phrase else node.unescaped_value
        if field in VALUE_FIELDS:
            return self._field_value(raw.strip(), field, node.pos, is_phrase)
        group = TEXT_FIELDS.get(field or "", "default")
        prefix = False
        if not is_phrase and node.has_wildcard():
            if raw == "*":
                raise QueryError(lazy("A lone * would match everything."), node.pos)
            if "?" in raw or "*" in raw[:-1]:
                raise QueryError(lazy("A wildcard may only end a word (thư*)."), node.pos)
            raw, prefix = raw[:-1], True
        words = analyze_text(raw, self.exact)
        if not words:
            raise QueryError(lazy("“%(text)s” has no word to look for."), node.pos, text=raw)
        if prefix and len(words) > 1:
            raise QueryError(lazy("A prefix search (*) must be one word."), node.pos)
        if len(words) == 1:
            return Term(group, words[0], prefix, self.exact, node.pos)
        return Phrase(group, tuple(words), self.exact, node.pos)

    def _field_value(self, raw: str, field: str, pos: int, is_phrase: bool) -> Node:
        if field == "class":
            return self._class(raw, raw, pos)
        if field == "year":
            year = _year(raw, pos)
            return YearRange(year, year, pos)
        if field == "lang":
            code = normalize_language(raw)
            if code is None:
                raise QueryError(lazy("“%(value)s” is not a language code (vi, en, vie, eng, fre…)."), pos, value=raw)
            return Value("lang", code, (), pos)
        if field == "type":
            value = raw.lower()
            if value not in MATERIAL_TYPES:
                raise QueryError(lazy("“%(value)s” is not a material type; the types are: %(types)s."), pos,
                                 value=raw, types=", ".join(MATERIAL_TYPES))
            return Value("type", value, (), pos)
        if raw.isdigit():
            return Value("source", raw, (), pos)
        words = tuple(analyze_text(raw))
        if not words:
            raise QueryError(lazy("“%(text)s” has no word to look for."), pos, text=raw)
        return Value("source", " ".join(words), words, pos)

    def _class(self, text: str, label: str, pos: int) -> ClassRange:
        keys = range_keys(text)
        if keys is None:
            raise QueryError(lazy("“%(value)s” is not a DDC or LCC class (004, 025.04, QA76, QA76.73)."), pos,
                             value=label)
        return ClassRange(keys[0], keys[1], label, pos)

    def _range(self, node: tree.Range, field: str | None) -> Node:
        low, high = (_bound_text(bound) for bound in (node.low, node.high))
        if field == "year":
            start = YEAR_MIN if low == "*" else _year(low, node.low.pos) + (0 if node.include_low else 1)
            end = YEAR_MAX if high == "*" else _year(high, node.high.pos) - (0 if node.include_high else 1)
            if start > end:
                raise QueryError(lazy("This range is empty: its start comes after its end."), node.pos)
            return YearRange(start, end, node.pos)
        if field != "class":
            raise QueryError(lazy("Ranges are for class: and year: only."), node.pos)
        if not (node.include_low and node.include_high):
            raise QueryError(lazy("Class ranges include both ends: write them with [ ]."), node.pos)
        for bound, text in ((node.low, low), (node.high, high)):
            if text == "*" or range_keys(text) is None:
                raise QueryError(lazy("“%(value)s” is not a DDC or LCC class (004, 025.04, QA76, QA76.73)."), bound.pos,
                                 value=text)
        keys = range_keys(f"{low} TO {high}")
        if keys is None:
            raise QueryError(lazy("This class range mixes DDC and LCC or ends before it starts."), node.pos)
        return ClassRange(keys[0], keys[1], f"{low}-{high}", node.pos)

    def _open_range(self, node: tree.From | tree.To, field: str | None) -> Node:
        if field != "year":
            raise QueryError(lazy("> and < are for year: only."), node.pos)
        year = _year(_bound_text(node.a), node.a.pos)
        if isinstance(node, tree.From):
            return YearRange(year if node.include else year + 1, YEAR_MAX, node.pos)
        return YearRange(YEAR_MIN, year if node.include else year - 1, node.pos)


def _bound_text(bound: tree.Item) -> str:
    if isinstance(bound, tree.Phrase):
        return bound.value[1:-1].strip()
    if isinstance(bound, tree.Term):
        return bound.unescaped_value
    return str(bound).strip()


def _year(text: str, pos: int) -> int:
    if not (text.isdigit() and len(text) <= 4):
        raise QueryError(lazy("“%(value)s” is not a year."), pos, value=text)
    return int(text)

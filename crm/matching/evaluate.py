"""Evaluating a query against an analyzed item: a fast yes/no, then the score and the explanation.

Each query is compiled once into a Python closure (:class:`Query`.test) so that checking it
costs a few set lookups and no tree walk: this is what both the percolator (on its candidates)
and brute force run. Only a match is explained, by walking the tree (:func:`explain`), so the
common "no" pays nothing for explanations.

Scoring: every clause that hits adds the weight of the best field it hit, so evidence
accumulates (an OR with three matching branches scores higher than one with one):

=========== ====== =============================================================
field       weight why
=========== ====== =============================================================
subject     3.0    a cataloguer's deliberate statement of what the item is about
class       3.0    same, as a classification number
title       2.0    title and subtitle: what the author says it is about
author      1.5    a named author is a strong but narrow signal
abstract    1.0    words in passing
filters     0.0    lang:, type:, year:, source: restrict, they do not rank
=========== ====== =============================================================
"""

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from crm.matching.analysis import FIELD_GROUPS, AnalyzedItem
from crm.interests.query import And, ClassRange, Node, Not, Or, ParsedQuery, Phrase, Term, Value, YearRange, parse_query

FIELD_WEIGHTS = {"subjects": 3.0, "class": 3.0, "title": 2.0, "subtitle": 2.0, "authors": 1.5, "abstract": 1.0}
FILTER_WEIGHT = 0.0

Test = Callable[[AnalyzedItem], bool]


@dataclass(frozen=True, slots=True)
class Hit:
    """One clause that matched: what it looked for, its kind, the fields where it was found."""

    clause: str
    kind: str  # term, prefix, phrase, class, lang, type, year, source
    fields: tuple[str, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class Match:
    score: float
    hits: tuple[Hit, ...]

    def explanation(self) -> str:
        """A one-line account for logs and the CLI: ``title, subjects: "thu vien so" (3.0); …``."""
        return "; ".join(f"{', '.join(hit.fields)}: {hit.clause} ({hit.weight:g})" for hit in self.hits)


class Query:
    """A parsed query with its compiled test; build it with :func:`compile_query`."""

    __slots__ = ("parsed", "test")

    def __init__(self, parsed: ParsedQuery) -> None:
        self.parsed = parsed
        self.test: Test = _compile(parsed.root)

    @property
    def text(self) -> str:
        return self.parsed.text

    @property
    def root(self) -> Node:
        return self.parsed.root

    def evaluate(self, item: AnalyzedItem) -> Match | None:
        if not self.test(item):
            return None
        hits = explain(self.parsed.root, item) or []
        return Match(round(sum(hit.weight for hit in hits), 3), tuple(hits))


def compile_query(text: str, exact: bool = False) -> Query:
    """Parse, check and compile; raises ``QueryError``."""
    return Query(parse_query(text, exact))


def evaluate(query: Query | str, item: AnalyzedItem, exact: bool = False) -> Match | None:
    """The match of one query on one item (score and hits), or None."""
    if isinstance(query, str):
        query = compile_query(query, exact)
    return query.evaluate(item)


# --- compiled tests -----------------------------------------------------------------------


def _getter(exact: bool, attr: str) -> Callable[[AnalyzedItem], object]:
    """``item.folded.<attr>`` as a C-level getter; the exact view is built on first use."""
    if exact:
        return lambda item: getattr(item.exact, attr)
    return attrgetter("folded." + attr)


_SETS = {"default": "s_default", "title": "s_title", "subject": "s_subject", "author": "s_author"}
#: Cheap and often failing clauses are tested first in an AND; cheap and often hitting first in an OR.
_ORDER = {Value: 0, YearRange: 0, ClassRange: 1, Term: 2, Phrase: 3}


def has_phrase(tokens: list, phrase: tuple[str, ...]) -> bool:
    """Whether the phrase's tokens occur consecutively (``list.index`` keeps the scan in C)."""
    first, size, wanted = phrase[0], len(phrase), list(phrase)
    try:
        i = tokens.index(first)
        while True:
            if tokens[i:i + size] == wanted:
                return True
            i = tokens.index(first, i + 1)
    except ValueError:
        return False


def _compile(node: Node) -> Test:
    if isinstance(node, Term):
        get, text = _getter(node.exact, _SETS[node.field]), node.text
        if node.prefix:
            return lambda item: any(token.startswith(text) for token in get(item))
        return lambda item: text in get(item)
    if isinstance(node, Phrase):
        return _compile_phrase(node)
    if isinstance(node, ClassRange):
        low, high = node.low, node.high
        return lambda item: any(low <= key <= high for key in item.class_keys)
    if isinstance(node, YearRange):
        low, high = node.low, node.high
        return lambda item: item.year is not None and low <= item.year <= high
    if isinstance(node, Value):
        return _compile_value(node)
    if isinstance(node, Not):
        inner = _compile(node.child)
        return lambda item: not inner(item)
    children = sorted(node.children, key=lambda child: _ORDER.get(type(child), 4))
    if isinstance(node, And):
        return _all(tuple(_compile(child) for child in children))
    return _any(_compile_or(children))


def compile_all(nodes: list[Node]) -> Test:
    """One test for the AND of several clauses (the percolator's residual conjuncts)."""
    return _all(tuple(_compile(node) for node in sorted(nodes, key=lambda node: _ORDER.get(type(node), 4))))


def _compile_or(children: list[Node]) -> tuple[Test, ...]:
    """Plain words of one field and spelling under an OR become one ``isdisjoint`` test."""
    groups: dict[tuple[bool, str], set[str]] = {}
    rest = []
    for child in children:
        if isinstance(child, Term) and not child.prefix:
            groups.setdefault((child.exact, _SETS[child.field]), set()).add(child.text)
        else:
            rest.append(child)
    tests = []
    for (exact, attr), words in groups.items():
        get, wanted = _getter(exact, attr), frozenset(words)
        tests.append(lambda item, get=get, wanted=wanted: not wanted.isdisjoint(get(item)))
    return (*tests, *(_compile(child) for child in rest))


def _all(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda item: first(item) and second(item)

    def test_all(item: AnalyzedItem) -> bool:
        for test in tests:
            if not test(item):
                return False
        return True
    return test_all


def _any(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda item: first(item) or second(item)

    def test_any(item: AnalyzedItem) -> bool:
        for test in tests:
            if test(item):
                return True
        return False
    return test_any


def _compile_phrase(node: Phrase) -> Test:
    get_set, phrase = _getter(node.exact, _SETS[node.field]), node.tokens
    getters = [_getter(node.exact, name) for name in FIELD_GROUPS[node.field]]
    needed = frozenset(phrase)

    def test_phrase(item: AnalyzedItem) -> bool:
        if not needed <= get_set(item):
            return False
        for get in getters:
            if has_phrase(get(item), phrase):
                return True
        return False
    return test_phrase


def _compile_value(node: Value) -> Test:
    value = node.value
    if node.field == "lang":
        return lambda item: item.language == value
    if node.field == "type":
        return lambda item: item.material_type == value
    if not node.words:
        return lambda item: value in item.source_ids
    words = node.words
    return lambda item: any(has_phrase(name, words) for name in item.source_names)


# --- explanations -------------------------------------------------------------------------


def explain(node: Node, item: AnalyzedItem) -> list[Hit] | None:
    """The hits of a node on an item, or None when it does not match (NOT contributes no hit)."""
    if isinstance(node, And):
        hits: list[Hit] = []
        for child in node.children:
            found = explain(child, item)
            if found is None:
                return None
            hits.extend(found)
        return hits
    if isinstance(node, Or):
        hits = []
        matched = False
        for child in node.children:
            found = explain(child, item)
            if found is not None:
                matched = True
                hits.extend(found)
        return hits if matched else None
    if isinstance(node, Not):
        return None if explain(node.child, item) is not None else []
    if isinstance(node, Term | Phrase):
        return _explain_text(node, item)
    if not _compile(node)(item):
        return None
    if isinstance(node, ClassRange):
        return [Hit(f"class:{node.label}", "class", ("class",), FIELD_WEIGHTS["class"])]
    if isinstance(node, YearRange):
        return [Hit(f"year:{node.low}-{node.high}", "year", ("year",), FILTER_WEIGHT)]
    return [Hit(f"{node.field}:{node.value}", node.field, (node.field,), FILTER_WEIGHT)]


def _explain_text(node: Term | Phrase, item: AnalyzedItem) -> list[Hit] | None:
    fields = item.exact if node.exact else item.folded
    found = []
    for name in FIELD_GROUPS[node.field]:
        tokens = getattr(fields, name)
        if isinstance(node, Phrase):
            hit = has_phrase(tokens, node.tokens)
        elif node.prefix:
            hit = any(token is not None and token.startswith(node.text) for token in tokens)
        else:
            hit = node.text in tokens
        if hit:
            found.append(name)
    if not found:
        return None
    if isinstance(node, Phrase):
        clause, kind = '"' + " ".join(node.tokens) + '"', "phrase"
    else:
        clause, kind = node.text + ("*" if node.prefix else ""), "prefix" if node.prefix else "term"
    if node.field != "default":
        clause = f"{node.field}:{clause}"
    weight = max(FIELD_WEIGHTS[name] for name in found)
    return [Hit(clause, kind, tuple(found), weight)]

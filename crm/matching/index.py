"""The percolator: profiles indexed by what their queries require, so an item meets only the few
profiles it could match.

For each query we choose a set of *index keys* such that any item the query matches has at
least one of them (a necessary condition, so the index is exact; candidates are then verified
with the compiled query):

* a word → the folded word; a phrase → one of its bigrams (Vietnamese words are often two
  syllables, so a bigram is far more selective than either syllable); ``subject:`` and
  ``author:`` clauses → keys scoped to those fields;
* ``lang:``, ``type:``, ``source:`` and short ``year:`` ranges → filter keys;
* a prefix → its first ``PREFIX_CAP`` letters, looked up per prefix length in use;
* a class range → the bucket of each DDC class or LCC class number it spans (``004``–``006.99``
  → ``004``, ``005``, ``006``) when at most ``CLASS_SPAN_CAP``, else one bucket named by the
  common start of its bounds (``000``–``999`` → ````); an item looks up the start of each of its
  class keys at every bucket length in use, and the bounds are compared there, so only items
  inside the range become candidates;
* AND → the keys of its most selective indexable child (estimated costs below); OR → the keys
  of every branch (all must be indexable); NOT → not indexable.

A query with no indexable requirement (e.g. only a wide year range) is checked for every item
("always" list); queries that could match almost everything are refused by the parser.

Verification is skipped where the key says it all: a key is *sure* when having it is enough for
its clause to match (a folded word or two-word phrase of the default field, a scoped word or
two-word heading phrase, a filter value, a class range whose bounds were compared). A profile
found through a sure key of its chosen clause only tests the rest of its top-level AND (the
*residual*, e.g. ``lang:vie``), or nothing; other candidates run the whole compiled query. The
result is the same as brute force (the hypothesis test in tests/matching checks it).

A long-running worker holding a large index should call ``gc.freeze()`` after building it, so
the cyclic collector's full passes stop walking every compiled profile (see the benchmark).
"""

import os
from collections.abc import Iterable, Mapping

from crm.matching.analysis import AUTHOR, FILTER, SUBJECT, AnalyzedItem, analyze_text
from crm.matching.evaluate import Match, Query, Test, compile_all, compile_query
from crm.interests.query import And, ClassRange, Node, Not, Or, Phrase, Term, Value, YearRange

PREFIX_CAP = 4
CLASS_BUCKET_CAP = 8
#: A class range spanning up to this many classes is put in each class's bucket.
CLASS_SPAN_CAP = 16
#: Year ranges wider than this are not indexed year by year.
YEAR_SPAN_CAP = 12

#: Estimated share of items that carry a key; only the choice of keys depends on it, never the result.
COST_WORD, COST_SHORT_WORD, COST_BIGRAM, COST_SCOPED = 0.01, 0.03, 0.002, 0.004
COST_PREFIX, COST_CLASS, COST_FILTER, COST_YEAR = 0.05, 0.01, 0.4, 0.08

Key = tuple  # ("k", hashable, sure) | ("p", prefix) | ("c", bucket, low, high)


def _keys(node: Node) -> tuple[float, list[Key]] | None:
    """(estimated cost, keys) of a node, or None when nothing necessary can be said.

    A ``("k", key, sure)`` key is *sure* when an item having the key is enough for the node to
    match (a word, a two-word phrase, a scoped word, a filter value); class keys are always sure
    (the bounds are compared on lookup); prefix keys never are.
    """
    if isinstance(node, Term):
        sure = not node.exact and not node.prefix
        if node.field == "subject" or node.field == "author":
            scope = SUBJECT if node.field == "subject" else AUTHOR
            if not node.prefix:
                return COST_SCOPED, [("k", scope + _fold_key(node.text, node.exact), sure)]
        text = _fold_key(node.text, node.exact)
        if node.prefix:
            return COST_PREFIX / len(text), [("p", text[:PREFIX_CAP])]
        return (COST_SHORT_WORD if len(text) <= 3 else COST_WORD), [("k", text, sure and node.field == "default")]
    if isinstance(node, Phrase):
        tokens = [_fold_key(token, node.exact) for token in node.tokens]
        sure = not node.exact and len(tokens) == 2
        if node.field == "author":
            return COST_SCOPED, [("k", AUTHOR + max(tokens, key=len), False)]
        pairs = list(zip(tokens, tokens[1:]))
        a, b = max(pairs, key=lambda pair: len(pair[0]) + len(pair[1]))
        if node.field == "subject":
            return COST_SCOPED / 2, [("k", f"{SUBJECT}{a} {b}", sure)]
        return COST_BIGRAM, [("k", (a, b), sure and node.field == "default")]
    if isinstance(node, ClassRange):
        return COST_CLASS, [("c", bucket, node.low, node.high) for bucket in _class_buckets(node.low, node.high)]
    if isinstance(node, Value):
        if node.field == "source" and node.words:
            return COST_FILTER, [("k", f"{FILTER}srcw={max(node.words, key=len)}", False)]
        name = "src" if node.field == "source" else node.field
        return COST_FILTER, [("k", f"{FILTER}{name}={node.value}", True)]
    if isinstance(node, YearRange):
        if node.high - node.low >= YEAR_SPAN_CAP:
            return None
        return COST_YEAR * (node.high - node.low + 1), [("k", f"{FILTER}year={year}", True)
                                                        for year in range(node.low, node.high + 1)]
    if isinstance(node, Not):
        return None
    if isinstance(node, And):
        chosen = _cheapest(node.children)
        if chosen is None:
            return None
        cost, keys = chosen[1]
        return cost, [key[:2] + (False,) if key[0] == "k" else key for key in keys]  # the others still apply
    parts = [_keys(child) for child in node.children]
    if any(part is None for part in parts):
        return None
    assert isinstance(node, Or)
    return sum(part[0] for part in parts), [key for part in parts for key in part[1]]


def _cheapest(children: tuple) -> tuple[Node, tuple[float, list[Key]]] | None:
    found = [(child, keys) for child in children if (keys := _keys(child)) is not None]
    return min(found, key=lambda pair: pair[1][0]) if found else None


def _plan(root: Node) -> tuple[list[Key] | None, list[Node]]:
    """The keys of a query and the conjuncts still to test when a sure key hits (the residual)."""
    if isinstance(root, And):
        chosen = _cheapest(root.children)
        if chosen is None:
            return None, []
        return chosen[1][1], [child for child in root.children if child is not chosen[0]]
    found = _keys(root)
    return (found[1] if found is not None else None), []


def _class_buckets(low: str, high: str) -> list[str]:
    """Buckets of a class range: each DDC class (``004``…``006``) or LCC class number (``QA00076``)
    it spans when they are few, else the common start of its bounds (any key inside starts so)."""
    if low[:3].isdigit() and high[:3].isdigit():
        first, last, width, head = int(low[:3]), int(high[:3]), 3, ""
    elif low[:3] == high[:3] and low[3:7].isdigit() and high[3:7].isdigit():
        first, last, width, head = int(low[3:7]), int(high[3:7]), 4, low[:3]
    else:
        first, last, width, head = 1, 0, 0, ""
    if 0 <= last - first < CLASS_SPAN_CAP:
        return [head + str(number).zfill(width) for number in range(first, last + 1)]
    return [os.path.commonprefix([low, high])[:CLASS_BUCKET_CAP]]


def _fold_key(text: str, exact: bool) -> str:
    """Keys are always folded: an exact match is also a folded one, so the key stays necessary."""
    if not exact:
        return text
    folded = analyze_text(text)
    return folded[0] if folded else text


class ProfileIndex:
    """Profiles by id → compiled queries, with the inverted structures above; updated in place."""

    def __init__(self) -> None:
        self._queries: dict[object, Query] = {}
        self._registered: dict[object, list[Key]] = {}
        self._postings: dict[object, set] = {}
        self._sure: dict[object, set] = {}
        self._residual: dict[object, Test] = {}
        self._prefixes: dict[int, dict[str, set]] = {}
        self._classes: dict[str, list[tuple[str, str, object]]] = {}
        self._class_lengths: dict[int, int] = {}
        self._always: set = set()

    def __len__(self) -> int:
        return len(self._queries)

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self._queries

    def query(self, profile_id: object) -> Query:
        return self._queries[profile_id]

    def add(self, profile_id: object, query: Query | str, exact: bool = False) -> Query:
        """Add a profile, or replace its query (an edit); raises ``QueryError`` for a bad query."""
        if isinstance(query, str):
            query = compile_query(query, exact)
        self.remove(profile_id)
        found, residual = _plan(query.root)
        keys = list(dict.fromkeys(found)) if found is not None else []
        self._queries[profile_id] = query
        self._registered[profile_id] = keys
        if residual:
            self._residual[profile_id] = compile_all(residual)
        if found is None:
            self._always.add(profile_id)
        for key in keys:
            self._register(profile_id, key)
        return query

    def update(self, profile_id: object, query: Query | str, exact: bool = False) -> Query:
        return self.add(profile_id, query, exact)

    def remove(self, profile_id: object) -> bool:
        """Forget a profile; False when it was not indexed."""
        if profile_id not in self._queries:
            return False
        del self._queries[profile_id]
        self._residual.pop(profile_id, None)
        self._always.discard(profile_id)
        for key in self._registered.pop(profile_id):
            self._unregister(profile_id, key)
        return True

    def _register(self, profile_id: object, key: Key) -> None:
        if key[0] == "k":
            (self._sure if key[2] else self._postings).setdefault(key[1], set()).add(profile_id)
        elif key[0] == "p":
            self._prefixes.setdefault(len(key[1]), {}).setdefault(key[1], set()).add(profile_id)
        else:
            _, bucket, low, high = key
            self._classes.setdefault(bucket, []).append((low, high, profile_id))
            self._class_lengths[len(bucket)] = self._class_lengths.get(len(bucket), 0) + 1

    def _unregister(self, profile_id: object, key: Key) -> None:
        if key[0] == "k":
            _discard(self._sure if key[2] else self._postings, key[1], profile_id)
        elif key[0] == "p":
            by_prefix = self._prefixes[len(key[1])]
            _discard(by_prefix, key[1], profile_id)
            if not by_prefix:
                del self._prefixes[len(key[1])]
        else:
            _, bucket, low, high = key
            entries = self._classes[bucket]
            entries.remove((low, high, profile_id))
            if not entries:
                del self._classes[bucket]
            self._class_lengths[len(bucket)] -= 1
            if not self._class_lengths[len(bucket)]:
                del self._class_lengths[len(bucket)]

    def candidates(self, item: AnalyzedItem) -> set:
        """Profiles that could match the item (a superset of those that do)."""
        sure, unsure = self.candidate_sets(item)
        return sure | unsure

    def candidate_sets(self, item: AnalyzedItem) -> tuple[set, set]:
        """(sure, unsure): the item has a sure key of the first, so only their residual is tested."""
        keys = item.keys
        sure, postings = self._sure, self._postings
        found_sure = set().union(*[sure[key] for key in sure.keys() & keys])
        found = set().union(self._always, *[postings[key] for key in postings.keys() & keys])
        if self._prefixes:
            tokens = item.prefix_tokens
            for length, by_prefix in self._prefixes.items():
                heads = {token[:length] for token in tokens if len(token) >= length}
                for head in by_prefix.keys() & heads:
                    found |= by_prefix[head]
        if self._class_lengths:
            classes = self._classes
            for key in item.class_keys:
                for length in self._class_lengths:
                    if length > len(key):
                        continue
                    for low, high, profile_id in classes.get(key[:length], ()):
                        if low <= key <= high:
                            found_sure.add(profile_id)
        found -= found_sure
        return found_sure, found

    def matching_ids(self, item: AnalyzedItem) -> list:
        """The profiles that match, without scores: sure candidates test their residual only."""
        sure, unsure = self.candidate_sets(item)
        residual, queries = self._residual, self._queries
        matched = [profile_id for profile_id in sure if (test := residual.get(profile_id)) is None or test(item)]
        matched += [profile_id for profile_id in unsure if queries[profile_id].test(item)]
        return matched

    def match(self, item: AnalyzedItem) -> list[tuple[object, Match]]:
        """Matching profiles with their score and explanation, best first."""
        return _explained(self._queries, self.matching_ids(item), item)

    def brute_force(self, item: AnalyzedItem) -> list[tuple[object, Match]]:
        """The same answer as :meth:`match` by evaluating every profile (tests, benchmarks)."""
        queries = self._queries
        matched = [profile_id for profile_id, query in queries.items() if query.test(item)]
        return _explained(queries, matched, item)


def _explained(queries: Mapping[object, Query], matched: Iterable, item: AnalyzedItem) -> list[tuple[object, Match]]:
    results = []
    for profile_id in matched:
        found = queries[profile_id].evaluate(item)
        if found is not None:
            results.append((profile_id, found))
    results.sort(key=lambda pair: -pair[1].score)
    return results


def _discard(mapping: dict, key: object, profile_id: object) -> None:
    members = mapping[key]
    members.discard(profile_id)
    if not members:
        del mapping[key]

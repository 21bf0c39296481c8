"""Preview: what a profile, saved or being edited, would have matched among the recent items.

It answers "had this profile existed for the last N days, what would it have brought?" with
the engine the match job runs (:func:`crm.matching.evaluate.compile_query`), over the items first
seen in the window, read in id-ordered batches with their sources (so ``source:`` clauses work).
Memory stays bounded: one batch of plain rows at a time (the columns matching reads, no ORM
objects), and only the best ``limit`` matches are kept (a heap) while every match is counted;
their full items are loaded at the end. Nothing is stored.
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.callnumbers import ddc_key, lcc_key
from crm.interests.query import And, ClassRange, Node, Or, Phrase, Term, Value, YearRange
from crm.matching.analysis import analyze_item
from crm.matching.evaluate import Match, compile_query
from crm.sources.models import Item, ItemSource, Source
from crm.text import fold

#: Items read per query while scanning the window.
PREVIEW_BATCH = 500
#: The window when none is asked for (the match job back-fills new profiles over the same span).
DEFAULT_PREVIEW_DAYS = 90
MAX_PREVIEW_DAYS = 365
#: Matches returned when no limit is asked for, and the most ever returned.
PREVIEW_LIMIT = 50
MAX_PREVIEW_LIMIT = 200
#: What matching reads of an item: the scan loads these columns only (no ORM objects), and the
#: full rows of the few matches kept at the end.
_MATCHED_COLUMNS = (Item.id, Item.title, Item.subtitle, Item.authors, Item.subjects, Item.abstract, Item.ddc,
                    Item.lcc, Item.ddc_key, Item.lcc_key, Item.language, Item.material_type, Item.year,
                    Item.first_seen_at)


@dataclass(slots=True)
class PreviewMatch:
    item: Item
    match: Match
    #: The item's (source id, source name) pairs.
    sources: list[tuple[int, str]]


@dataclass(slots=True)
class Preview:
    query: str
    exact: bool
    days: int
    since: datetime
    #: Items first seen in the window, all read.
    scanned: int = 0
    #: How many of them match (``items`` holds the best ``limit``).
    matched: int = 0
    items: list[PreviewMatch] = field(default_factory=list)


def check_window(days: int, limit: int = PREVIEW_LIMIT) -> None:
    """Raises FieldErrors when the window or the limit is out of bounds."""
    errors = {}
    if not 1 <= days <= MAX_PREVIEW_DAYS:
        errors["days"] = _("Choose between 1 and %(n)s days.", n=MAX_PREVIEW_DAYS)
    if not 1 <= limit <= MAX_PREVIEW_LIMIT:
        errors["limit"] = _("Choose between 1 and %(n)s items.", n=MAX_PREVIEW_LIMIT)
    if errors:
        raise FieldErrors(errors)


class Scanned:
    """An item row as the prefilter sees it: its raw texts folded once, its class keys, its filters."""

    __slots__ = ("row", "_text")

    def __init__(self, row: object) -> None:
        self.row = row
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            row = self.row
            headings = " ".join(str(s.get("heading") if isinstance(s, dict) else s) for s in row.subjects or ())
            authors = " ".join(str(author) for author in row.authors or ())
            self._text = fold(" ".join(p for p in (row.title, row.subtitle, headings, row.abstract, authors) if p))
        return self._text

    @property
    def class_keys(self) -> list[str]:
        row = self.row
        keys = (row.ddc_key or ddc_key(row.ddc), row.lcc_key or lcc_key(row.lcc))
        return [key for key in keys if key]


Check = Callable[[Scanned], bool]


def prefilter(node: Node) -> Check | None:
    """A cheap test that every item the query matches passes (None: nothing cheap to say).

    Words and phrases need their (longest) folded word somewhere in the item's folded raw text
    (an exact match is also a folded one); class ranges, languages, types and years are compared
    on the row as the analyzer would. The scan runs the full analysis and evaluation only on the
    items that pass, most often a small share of the window.
    """
    if isinstance(node, Term | Phrase):
        words = (node.text,) if isinstance(node, Term) else node.tokens
        word = max((fold(w) if node.exact else w for w in words), key=len)
        return lambda item: word in item.text
    if isinstance(node, ClassRange):
        low, high = node.low, node.high
        return lambda item: any(low <= key <= high for key in item.class_keys)
    if isinstance(node, YearRange):
        low, high = node.low, node.high
        return lambda item: item.row.year is not None and low <= item.row.year <= high
    if isinstance(node, Value) and node.field in ("lang", "type"):
        value, column = node.value, "language" if node.field == "lang" else "material_type"
        return lambda item: (getattr(item.row, column) or "").lower() == value
    if isinstance(node, And):
        checks = [check for child in node.children if (check := prefilter(child)) is not None]
        return (lambda item: all(check(item) for check in checks)) if checks else None
    if isinstance(node, Or):
        checks = [prefilter(child) for child in node.children]
        if any(check is None for check in checks):
            return None
        return lambda item: any(check(item) for check in checks)
    return None  # NOT, and source: (an item's sources are read only for the items that pass)


async def _sources(session: AsyncSession, item_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    rows = await session.execute(
        select(ItemSource.item_id, Source.id, Source.name).join(Source, Source.id == ItemSource.source_id)
        .where(ItemSource.item_id.in_(item_ids)).order_by(ItemSource.item_id, Source.id))
    found: dict[int, list[tuple[int, str]]] = {}
    for item_id, source_id, name in rows:
        pairs = found.setdefault(item_id, [])
        if (source_id, name) not in pairs:
            pairs.append((source_id, name))
    return found


async def preview_profile(session: AsyncSession, query_text: str, exact: bool = False,
                          days: int = DEFAULT_PREVIEW_DAYS, limit: int = PREVIEW_LIMIT, *,
                          now: datetime | None = None, batch_size: int = PREVIEW_BATCH) -> Preview:
    """The items first seen in the last ``days`` days that the query matches, best score first
    (then newest), at most ``limit`` of them, with their hits.

    Raises ``QueryError`` for a query that does not parse (an empty one included) and
    FieldErrors for a window or limit out of bounds.
    """
    check_window(days, limit)
    query = compile_query(query_text, exact)
    passes = prefilter(query.root)
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    preview = Preview(query=query_text, exact=exact, days=days, since=since)
    best: list[tuple[tuple, Match, list]] = []  # a min-heap of the best `limit`: ((score, seen, id), match, sources)
    last_id = 0
    while True:
        rows = (await session.execute(
            select(*_MATCHED_COLUMNS).where(Item.first_seen_at >= since, Item.id > last_id)
            .order_by(Item.id).limit(batch_size))).all()
        if not rows:
            break
        last_id = rows[-1].id
        preview.scanned += len(rows)
        if passes is not None:
            rows = [row for row in rows if passes(Scanned(row))]
        sources = await _sources(session, [row.id for row in rows]) if rows else {}
        for row in rows:
            item_sources = sources.get(row.id, [])
            found = query.evaluate(analyze_item(row._asdict(), item_sources))
            if found is None:
                continue
            preview.matched += 1
            entry = ((found.score, row.first_seen_at, row.id), found, item_sources)
            if len(best) < limit:
                heapq.heappush(best, entry)
            elif entry[0] > best[0][0]:
                heapq.heapreplace(best, entry)
    ranked = sorted(best, key=lambda entry: entry[0], reverse=True)
    items = {item.id: item for item in await session.scalars(
        select(Item).where(Item.id.in_([key[2] for key, _found, _sources in ranked])))}
    preview.items = [PreviewMatch(items[key[2]], found, item_sources) for key, found, item_sources in ranked
                     if key[2] in items]
    return preview

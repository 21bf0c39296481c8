"""The item store's side of ingest: one batch of records, deduplicated and written in one transaction.

``write_batch`` runs a handful of statements whatever the batch size: the batch's record keys
and dedup keys are looked up with ``IN`` lists, and items, identifiers and item sources are
written with multi-row statements (see crm/sources/ingest.py for the outcomes it counts).
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, func, insert, select, text, update

from crm.sources.models import Item, ItemIdentifier, ItemSource
from crm.sources.normalize import KEY_KINDS, LIST_COLUMNS, SCALAR_COLUMNS, Normalized, NotStorable, normalize, search_key
from crm.sources.records import ItemRecord

MAX_REJECTIONS = 500
#: Values per IN list (asyncpg allows 32,767 parameters per statement).
IN_CHUNK = 2000

ITEM = Item.__table__
IDENTIFIER = ItemIdentifier.__table__
ITEM_SOURCE = ItemSource.__table__
DATA_COLUMNS = SCALAR_COLUMNS + LIST_COLUMNS


class Report(msgspec.Struct):
    """The counts of a run (or of one batch, before it is committed)."""

    read: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict] = msgspec.field(default_factory=list)

    def reject(self, number: int, reason: str, record_key: str | None = None) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS:
            self.rejections.append({"number": number, "reason": reason, "record_key": record_key})

    def absorb(self, other: "Report") -> None:
        self.new += other.new
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejections.extend(other.rejections[: MAX_REJECTIONS - len(self.rejections)])

    def columns(self) -> dict[str, Any]:
        return {"read": self.read, "new": self.new, "updated": self.updated, "duplicates": self.duplicates,
                "rejected": self.rejected, "rejections": list(self.rejections)}


class _NewItem:
    __slots__ = ("id", "state")

    def __init__(self, state: dict[str, Any]) -> None:
        self.id: int | None = None
        self.state = state


class _Src:
    """This source's record in the batch: its row (if stored), item, hash and deleted flag."""

    __slots__ = ("id", "target", "content_hash", "deleted", "link", "dirty")

    def __init__(self, id: int | None, target: "int | _NewItem | None", content_hash: str, deleted: bool,
                 link: str | None = None) -> None:
        self.id, self.target, self.content_hash, self.deleted, self.link = id, target, content_hash, deleted, link
        self.dirty = False


async def write_batch(session, source_id: int, numbered: list[tuple[int, ItemRecord]], delta: Report) -> None:
    """Store one batch of records in the session's transaction, counting outcomes in ``delta``."""
    now = now_utc()
    norms: list[Normalized] = []
    for number, record in numbered:
        try:
            norms.append(normalize(record, number))
        except NotStorable as exc:
            delta.reject(number, str(exc), record.record_key)
    if not norms:
        return
    # A record key twice in one batch: the last version is the one that counts.
    last = {n.record_key: n for n in norms}
    delta.duplicates += len(norms) - len(last)
    norms = list(last.values())

    sources: dict[str, _Src] = {}
    for chunk in _chunks(list({n.record_key for n in norms})):
        rows = await session.execute(
            select(ITEM_SOURCE.c.record_key, ITEM_SOURCE.c.id, ITEM_SOURCE.c.item_id, ITEM_SOURCE.c.content_hash,
                   ITEM_SOURCE.c.deleted, ITEM_SOURCE.c.link)
            .where(ITEM_SOURCE.c.source_id == source_id, ITEM_SOURCE.c.record_key.in_(chunk)))
        for key, row_id, item_id, content_hash, deleted, link in rows:
            sources[key] = _Src(row_id, item_id, content_hash, deleted, link)

    work: list[tuple[Normalized, _Src]] = []
    for n in norms:
        src = sources.get(n.record_key)
        if src is not None and src.content_hash == n.content_hash and src.deleted == n.deleted:
            delta.duplicates += 1
        elif n.deleted:
            if src is None or src.deleted:
                delta.duplicates += 1
            else:
                src.deleted, src.content_hash, src.dirty = True, n.content_hash, True
                delta.updated += 1
        else:
            if src is None:
                src = sources[n.record_key] = _Src(None, None, n.content_hash, False)
            work.append((n, src))
    if not work:
        await _write_sources(session, source_id, sources, now)
        return

    owners = await _key_owners(session, [n for n, _src in work])
    new_identifiers: list[tuple[int | _NewItem, str, str]] = []
    plan: list[tuple[Normalized, int | _NewItem, str]] = []
    for n, src in work:
        if src.target is not None:
            target, mode = src.target, "changed"
        else:
            target = next((owners[key] for key in n.keys if key in owners), None)
            mode = "merge"
            if target is None:
                target, mode = _NewItem(dict(n.values)), "new"
            src.target = target
        src.content_hash, src.deleted, src.link, src.dirty = n.content_hash, False, n.link, True
        for key in n.keys:
            if key not in owners:
                owners[key] = target
                new_identifiers.append((target, *key))
        plan.append((n, target, mode))

    existing_ids = sorted({t for _n, t, _m in plan if isinstance(t, int)})
    states, originals = await _load_items(session, existing_ids)
    changed_ids = sorted({t for _n, t, m in plan if m == "changed" and isinstance(t, int)})
    shared = await _items_with_other_sources(session, changed_ids)
    for n, target, mode in plan:
        state = target.state if isinstance(target, _NewItem) else states[target]
        if mode == "new":
            delta.new += 1
        elif mode == "changed":
            if target not in shared:
                state.update({column: n.values[column] for column in DATA_COLUMNS})
            else:
                _override(state, n.values)
            delta.updated += 1
        elif _fill(state, n.values) and isinstance(target, int):
            delta.updated += 1
        else:
            delta.duplicates += 1

    stamps = {"created_at": now, "updated_at": now}  # given, not computed row by row by the column defaults
    new_items = list({id(t): t for _n, t, m in plan if isinstance(t, _NewItem)}.values())
    if new_items:
        for item, item_id in zip(new_items, await _new_item_ids(session, len(new_items)), strict=True):
            item.id = item_id
        await session.execute(insert(ITEM), [{**item.state, "id": item.id, "search_key": search_key(item.state),
                                              "first_seen_at": now, "last_updated_at": now, **stamps}
                                             for item in new_items])
    updates = [{**{f"v_{c}": states[i][c] for c in DATA_COLUMNS}, "v_search_key": search_key(states[i]),
                "v_last_updated_at": now, "v_updated_at": now, "b_id": i}
               for i in existing_ids if states[i] != originals[i]]
    if updates:
        await session.execute(
            update(ITEM).where(ITEM.c.id == bindparam("b_id"))
            .values({c: bindparam(f"v_{c}") for c in (*DATA_COLUMNS, "search_key", "last_updated_at", "updated_at")}),
            updates)
    if new_identifiers:
        await session.execute(insert(IDENTIFIER), [{"item_id": _id_of(t), "kind": kind, "value": value, **stamps}
                                                   for t, kind, value in new_identifiers])
    await _write_sources(session, source_id, sources, now)


async def _new_item_ids(session, count: int) -> list[int]:
    """Ids for new items, so that one multi-row INSERT stores them all (INSERT … RETURNING in
    parameter order is one statement per row on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        rows = await session.execute(text("SELECT nextval(pg_get_serial_sequence('item', 'id')) FROM generate_series(1, :n)"),
                                     {"n": count})
        return [row[0] for row in rows]
    # SQLite: the batch's transaction holds the write lock already (see _store_batch).
    highest = await session.scalar(select(func.coalesce(func.max(ITEM.c.id), 0)))
    return list(range(highest + 1, highest + 1 + count))


async def _key_owners(session, norms: list[Normalized]) -> dict[tuple[str, str], int | _NewItem]:
    wanted: dict[str, set[str]] = {}
    for n in norms:
        for kind, value in n.keys:
            wanted.setdefault(kind, set()).add(value)
    owners: dict[tuple[str, str], int | _NewItem] = {}
    for kind in KEY_KINDS:
        for chunk in _chunks(sorted(wanted.get(kind, ()))):
            rows = await session.execute(select(IDENTIFIER.c.value, IDENTIFIER.c.item_id)
                                         .where(IDENTIFIER.c.kind == kind, IDENTIFIER.c.value.in_(chunk)))
            for value, item_id in rows:
                owners[(kind, value)] = item_id
    return owners


async def _load_items(session, ids: list[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    states: dict[int, dict] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(select(ITEM.c.id, *(ITEM.c[c] for c in DATA_COLUMNS)).where(ITEM.c.id.in_(chunk)))
        for row in rows.mappings():
            states[row["id"]] = {c: (list(row[c] or []) if c in LIST_COLUMNS else row[c]) for c in DATA_COLUMNS}
    originals = {i: {c: (list(v) if isinstance(v, list) else v) for c, v in state.items()} for i, state in states.items()}
    return states, originals


async def _items_with_other_sources(session, ids: list[int]) -> set[int]:
    shared: set[int] = set()
    for chunk in _chunks(ids):
        rows = await session.execute(select(ITEM_SOURCE.c.item_id).where(ITEM_SOURCE.c.item_id.in_(chunk))
                                     .group_by(ITEM_SOURCE.c.item_id).having(func.count() > 1))
        shared.update(rows.scalars())
    return shared


async def _write_sources(session, source_id: int, sources: dict[str, _Src], now: datetime) -> None:
    inserts = [{"item_id": _id_of(s.target), "source_id": source_id, "record_key": key, "content_hash": s.content_hash,
                "seen_at": now, "link": s.link, "deleted": s.deleted, "created_at": now, "updated_at": now}
               for key, s in sources.items() if s.dirty and s.id is None]
    changes = [{"b_id": s.id, "v_hash": s.content_hash, "v_seen": now, "v_link": s.link, "v_deleted": s.deleted,
                "v_item": _id_of(s.target), "v_updated_at": now}
               for s in sources.values() if s.dirty and s.id is not None]
    if inserts:
        await session.execute(insert(ITEM_SOURCE), inserts)
    if changes:
        await session.execute(
            update(ITEM_SOURCE).where(ITEM_SOURCE.c.id == bindparam("b_id"))
            .values(content_hash=bindparam("v_hash"), seen_at=bindparam("v_seen"), link=bindparam("v_link"),
                    deleted=bindparam("v_deleted"), item_id=bindparam("v_item"), updated_at=bindparam("v_updated_at")),
            changes)


def _fill(state: dict[str, Any], values: dict[str, Any]) -> bool:
    """Fill the item's empty fields and unite its lists with a record's; True if anything changed."""
    changed = False
    for column in SCALAR_COLUMNS:
        if state[column] in (None, "") and values[column] not in (None, ""):
            state[column] = values[column]
            changed = True
    for column in LIST_COLUMNS:
        extra = [v for v in values[column] if v not in state[column]]
        if extra:
            state[column] = state[column] + extra
            changed = True
    return changed


def _override(state: dict[str, Any], values: dict[str, Any]) -> None:
    for column in SCALAR_COLUMNS:
        if values[column] not in (None, ""):
            state[column] = values[column]
    for column in LIST_COLUMNS:
        state[column] = values[column] + [v for v in state[column] if v not in values[column]]


def _id_of(target: "int | _NewItem | None") -> int:
    item_id = target.id if isinstance(target, _NewItem) else target
    assert item_id is not None, "items are inserted before their identifiers and sources"
    return item_id


def _chunks(values: list) -> Iterator[list]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start:start + IN_CHUNK]


def now_utc() -> datetime:
    return datetime.now(UTC)

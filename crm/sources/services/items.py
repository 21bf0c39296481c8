"""The item browser: recent items, filters, diacritic-insensitive search, an item with its sources."""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm import callnumbers
from crm.i18n import _
from crm.pagination import Page, clamp
from crm.sources import schemas
from crm.sources.models import Item, ItemSource
from crm.sources.services.sources import storable
from crm.text import fold

MAX_QUERY_LENGTH = 2000
MAX_SEARCH_TERMS = 8
MAX_TERM_LENGTH = 100
DATE_FIELDS = ("seen", "acquired")
SORTS = ("recent", "acquired")
_ISBN_LIKE = re.compile(r"^[\dx-]+$")


def search_terms(q: str | None) -> list[str]:
    """Folded words of a query, bounded so a pasted paragraph stays a cheap search.

    Hyphens inside a number go (ISBNs are stored without them); stray punctuation goes.
    """
    out: list[str] = []
    for word in fold((q or "")[:MAX_QUERY_LENGTH]).split():
        word = word.strip(".,;:!?()[]{}\"'«»“”")[:MAX_TERM_LENGTH]
        if _ISBN_LIKE.match(word) and any(ch.isdigit() for ch in word):
            word = word.replace("-", "")
        if word and word not in out:
            out.append(word)
    return out[:MAX_SEARCH_TERMS]


def class_range(value: str | None) -> tuple[str, str] | None:
    """Inclusive sort-key bounds of a DDC or LCC class or range (``004``, ``6``, ``QA76``, ``004-006.99``);
    None when blank, ValueError when it is not a class."""
    if not (value or "").strip():
        return None
    bounds = callnumbers.range_keys(value)
    if bounds is None:
        raise ValueError(value)
    return bounds


def class_problem() -> str:
    return _("Not a class: use a DDC number (004, 6) or an LCC class (QA76, HF), or a range such as 004-006.99.")


@dataclass
class ItemFilter:
    q: str | None = None
    source_id: int | None = None
    language: str | None = None
    #: Sort-key bounds of a DDC or LCC class range, from class_range().
    class_range: tuple[str, str] | None = None
    material_type: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    #: Which date the range applies to: "seen" (first seen here) or "acquired" (by the library).
    date_field: str = "seen"
    sort: str = "recent"


def _day_start(day: date) -> datetime:
    """Midnight of a day in the server's time zone (librarians think in local days)."""
    return datetime.combine(day, time.min).astimezone()


def _class_condition(bounds: tuple[str, str]) -> ColumnElement[bool]:
    """Keys compare as strings (crm/callnumbers.py); DDC keys start with a digit, LCC keys with a letter."""
    low, high = bounds
    column = Item.ddc_key if low[:1].isdigit() else Item.lcc_key
    return (column >= low) & (column <= high)


def conditions(f: ItemFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Item.search_key.contains(t, autoescape=True) for t in search_terms(f.q)]
    if f.source_id is not None:
        where.append(exists().where(ItemSource.item_id == Item.id, ItemSource.source_id == f.source_id))
    if f.language:
        where.append(Item.language == f.language.lower())
    if f.class_range:
        where.append(_class_condition(f.class_range))
    if f.material_type:
        where.append(Item.material_type == f.material_type)
    if f.date_field == "acquired":
        if f.date_from:
            where.append(Item.acquired_on >= f.date_from)
        if f.date_to:
            where.append(Item.acquired_on <= f.date_to)
    else:
        if f.date_from:
            where.append(Item.first_seen_at >= _day_start(f.date_from))
        if f.date_to:
            where.append(Item.first_seen_at < _day_start(f.date_to + timedelta(days=1)))
    return where


class ItemService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: int) -> Item | None:
        return await self.session.get(Item, item_id) if storable(item_id) else None

    async def list_items(self, f: ItemFilter, page: int | None = 1, per_page: int | None = None) -> Page[Item]:
        """A page of items, the most recent first; counted only when the page does not tell the total."""
        if f.source_id is not None and not storable(f.source_id):
            return Page(items=[], total=0, number=1, per_page=clamp(1, per_page)[1])
        where = conditions(f)
        number, size = clamp(page, per_page)
        offset = (number - 1) * size
        if f.sort == "acquired":
            order = (Item.acquired_on.desc().nulls_last(), Item.id.desc())
        else:
            order = (Item.first_seen_at.desc(), Item.id.desc())
        query = select(Item).where(*where).order_by(*order).limit(size).offset(offset)
        items = list(await self.session.scalars(query))
        if len(items) < size and (items or offset == 0):
            total = offset + len(items)
        else:
            total = await self.session.scalar(select(func.count()).select_from(Item).where(*where)) or 0
        return Page(items=items, total=total, number=number, per_page=size)

    async def sources_of(self, item_id: int) -> list[ItemSource]:
        """Every record of the item, in every source, the latest seen first."""
        query = select(ItemSource).where(ItemSource.item_id == item_id).order_by(ItemSource.seen_at.desc(), ItemSource.id)
        return list((await self.session.scalars(query)).unique())

    async def languages(self) -> list[str]:
        """The language codes items have, for the filter."""
        rows = await self.session.scalars(select(Item.language).where(Item.language.is_not(None)).distinct())
        return sorted(code for code in rows if code)


def summary(item: Item) -> schemas.ItemSummary:
    return schemas.ItemSummary(
        id=item.id, title=item.title, subtitle=item.subtitle, authors=list(item.authors or []), year=item.year,
        publisher=item.publisher, language=item.language, material_type=item.material_type, ddc=item.ddc,
        lcc=item.lcc, acquired_on=item.acquired_on, first_seen_at=item.first_seen_at, link=item.link,
    )


def subjects(item: Item) -> list[schemas.SubjectOut]:
    out = []
    for entry in item.subjects or []:
        if isinstance(entry, dict) and entry.get("heading"):
            out.append(schemas.SubjectOut(heading=str(entry["heading"]), scheme=str(entry.get("scheme") or "other")))
        elif isinstance(entry, str) and entry:
            out.append(schemas.SubjectOut(heading=entry, scheme="keyword"))
    return out


def detail(item: Item, links: list[ItemSource]) -> schemas.ItemDetail:
    return schemas.ItemDetail(
        id=item.id, title=item.title, subtitle=item.subtitle, authors=list(item.authors or []),
        subjects=subjects(item), ddc=item.ddc, lcc=item.lcc, isbns=list(item.isbns or []),
        issns=list(item.issns or []), doi=item.doi, control_number=item.control_number, publisher=item.publisher,
        year=item.year, language=item.language, material_type=item.material_type, abstract=item.abstract,
        link=item.link, acquired_on=item.acquired_on, edition=item.edition, series=item.series, journal=item.journal,
        extent=item.extent, first_seen_at=item.first_seen_at, last_updated_at=item.last_updated_at,
        sources=[
            schemas.ItemSourceOut(source_id=link.source_id, source_name=link.source.name if link.source else "",
                                  source_kind=link.source.kind if link.source else "marc",  # type: ignore[arg-type]
                                  record_key=link.record_key, link=link.link, seen_at=link.seen_at, deleted=link.deleted)
            for link in links
        ],
    )

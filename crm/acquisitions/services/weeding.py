"""The weeding report (thanh lọc tài liệu): held items older than N years that no interest profile
matches and that nobody ever asked for (no reading list, suggestion or request slip names them).

The match table belongs to the matching domain, which acquisitions does not depend on; the
report reads only its ``item_id`` column, through a table clause rather than the model.
"""

from collections.abc import AsyncIterator
from datetime import date

from sqlalchemy import Select, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions.models import Citation, RequestSlip, Suggestion
from crm.pagination import Page, paginate
from crm.sources.models import Item, ItemSource

DEFAULT_YEARS = 10
MIN_YEARS, MAX_YEARS = 1, 200
EXPORT_CHUNK = 1000
ITEM_MATCH = table("item_match", column("item_id"))


def cutoff_year(years: int, today: date | None = None) -> int:
    """Items published in this year or earlier are older than ``years`` years."""
    return (today or date.today()).year - years


def weeding_query(years: int, today: date | None = None) -> Select:
    held = select(ItemSource.id).where(ItemSource.item_id == Item.id, ItemSource.deleted.is_(False)).exists()
    never = [
        ~select(ITEM_MATCH.c.item_id).where(ITEM_MATCH.c.item_id == Item.id).exists(),
        ~select(Citation.id).where(Citation.item_id == Item.id).exists(),
        ~select(Suggestion.id).where(Suggestion.item_id == Item.id).exists(),
        ~select(RequestSlip.id).where(RequestSlip.item_id == Item.id).exists(),
    ]
    return (select(Item).where(Item.year.is_not(None), Item.year <= cutoff_year(years, today), held, *never)
            .order_by(Item.year, Item.title, Item.id))


async def weeding_page(session: AsyncSession, years: int = DEFAULT_YEARS, page: int | None = 1,
                       per_page: int | None = None) -> Page[Item]:
    return await paginate(session, weeding_query(years), page, per_page)


async def weeding_rows(session: AsyncSession, years: int = DEFAULT_YEARS) -> AsyncIterator[tuple]:
    """Every row of the report, streamed in chunks (for the CSV)."""
    query = weeding_query(years)
    offset = 0
    while True:
        chunk = list(await session.scalars(query.limit(EXPORT_CHUNK).offset(offset)))
        if not chunk:
            return
        for item in chunk:
            yield (item.id, item.title, "; ".join(item.authors or []), item.year, item.ddc or item.lcc or "",
                   item.publisher or "", ", ".join(item.isbns or []))
        offset += EXPORT_CHUNK

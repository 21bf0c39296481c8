"""One way to page lists, for pages and the API alike."""

from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int
    number: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def clamp(page: int | None, per_page: int | None) -> tuple[int, int]:
    per_page = min(max(per_page or DEFAULT_PER_PAGE, 1), MAX_PER_PAGE)
    return max(page or 1, 1), per_page


async def paginate(session: AsyncSession, query: Select, page: int | None = 1, per_page: int | None = None) -> Page[Any]:
    number, size = clamp(page, per_page)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = await session.scalars(query.limit(size).offset((number - 1) * size))
    return Page(items=list(rows.unique()), total=total, number=number, per_page=size)

"""The item browser: JSON API under /api/items and librarian pages under /items."""

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.i18n import _
from crm.security.guards import librarian_required
from crm.sources import labels, schemas
from crm.sources.controllers.common import (
    IdParam, OptionalId, PageParam, PerPageParam, parse_date, parse_int, parse_page, query_string, settings_of,
)
from crm.sources.models import Item
from crm.sources.records import MATERIAL_TYPES
from crm.sources.services.items import DATE_FIELDS, SORTS, ItemFilter, ItemService, class_problem, class_range, detail, summary
from crm.sources.services.sources import SourceService

MaterialType = Literal["book", "ebook", "article", "serial", "thesis", "map", "music", "video", "audio", "other"]
DateField = Literal["seen", "acquired"]
Sort = Literal["recent", "acquired"]
ClassParam = Annotated[str | None, QueryParameter(name="class")]
TypeParam = Annotated[str | None, QueryParameter(name="type")]


async def get_item(db: AsyncSession, item_id: int) -> Item:
    item = await ItemService(db).get(item_id)
    if item is None:
        raise NotFoundException()
    return item


def _language(value: str | None) -> str | None:
    code = (value or "").strip().lower()
    return code if len(code) == 3 and code.isalpha() else None


class ItemApiController(Controller):
    path = "/api/items"
    tags = ["items"]
    guards = [librarian_required]

    @get("/")
    async def list_items(
        self, db_session: AsyncSession, q: str | None = None, source_id: OptionalId = None, language: str | None = None,
        class_: ClassParam = None, material_type: MaterialType | None = None, date_from: dt.date | None = None,
        date_to: dt.date | None = None, date_field: DateField = "seen", sort: Sort = "recent", page: PageParam = 1,
        per_page: PerPageParam = 50,
    ) -> schemas.ItemPage:
        """Most recent first. ``q``: every word, ignoring case and diacritics ("thu vien so" finds "Thư viện số");
        ``class``: a DDC number or LCC class and everything under it (``004``, ``6``, ``QA76``) or a range
        (``004-006.99``); ``language``: a MARC code
        (``vie``, ``eng``); the date range applies to the first-seen date or (``date_field=acquired``) the acquisition date."""
        try:
            bounds = class_range(class_)
        except ValueError:
            raise FieldErrors({"class": class_problem()}) from None
        if language and _language(language) is None:
            raise FieldErrors({"language": _("Use a three-letter MARC language code, e.g. vie or eng.")})
        filters = ItemFilter(q=q, source_id=source_id, language=_language(language), class_range=bounds,
                             material_type=material_type, date_from=date_from, date_to=date_to, date_field=date_field,
                             sort=sort)
        result = await ItemService(db_session).list_items(filters, page, per_page)
        return schemas.ItemPage(items=[summary(i) for i in result.items], total=result.total, page=result.number,
                                per_page=result.per_page)

    @get("/{item_id:int}")
    async def get_item(self, db_session: AsyncSession, item_id: IdParam) -> schemas.ItemDetail:
        """An item with every source record it was built from."""
        item = await get_item(db_session, item_id)
        return detail(item, await ItemService(db_session).sources_of(item.id))


def page_filter(params: dict[str, str | None]) -> tuple[ItemFilter, dict[str, Any], dict[str, str]]:
    """A list page's filters read leniently: blanks and unknown values mean no filter; bad ones are explained."""
    errors: dict[str, str] = {}
    try:
        bounds = class_range(params.get("class"))
    except ValueError:
        bounds = None
        errors["class"] = class_problem()
    dates: dict[str, dt.date | None] = {}
    for name in ("date_from", "date_to"):
        try:
            dates[name] = parse_date(params.get(name))
        except ValueError:
            dates[name] = None
            errors[name] = _("Not a valid date (use YYYY-MM-DD or dd/mm/yyyy).")
    material = params.get("type")
    date_field = params.get("date_field")
    sort = params.get("sort")
    filters = ItemFilter(
        q=(params.get("q") or "").strip() or None, source_id=parse_int(params.get("source_id")),
        language=_language(params.get("language")), class_range=bounds,
        material_type=material if material in MATERIAL_TYPES else None,
        date_from=dates["date_from"], date_to=dates["date_to"],
        date_field=date_field if date_field in DATE_FIELDS else "seen", sort=sort if sort in SORTS else "recent",
    )
    values = {"q": filters.q or "", "source_id": filters.source_id or "", "language": filters.language or "",
              "class": params.get("class") or "", "type": filters.material_type or "",
              "date_from": params.get("date_from") or "", "date_to": params.get("date_to") or "",
              "date_field": filters.date_field if filters.date_field != "seen" else "",
              "sort": filters.sort if filters.sort != "recent" else ""}
    return filters, values, errors


class ItemPageController(Controller):
    path = "/items"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request, db_session: AsyncSession, q: str | None = None,
                    source_id: str | None = None, language: str | None = None, class_: ClassParam = None,
                    type_: TypeParam = None, date_from: str | None = None, date_to: str | None = None,
                    date_field: str | None = None, sort: str | None = None, page: str | None = None) -> Template:
        filters, values, errors = page_filter({
            "q": q, "source_id": source_id, "language": language, "class": class_, "type": type_,
            "date_from": date_from, "date_to": date_to, "date_field": date_field, "sort": sort,
        })
        items = ItemService(db_session)
        result = await items.list_items(filters, parse_page(page))
        return Template("items/index.html", context={
            "page": result, "values": values, "errors": errors, "query": query_string(values), "L": labels,
            "sources": await SourceService(db_session, settings_of(request)).options(),
            "languages": labels.language_options(await items.languages()),
            "types": labels.options(labels.MATERIAL_TYPES),
        })

    @get("/{item_id:int}")
    async def detail(self, db_session: AsyncSession, item_id: IdParam) -> Template:
        item = await get_item(db_session, item_id)
        return Template("items/detail.html", context={
            "item": item, "links": await ItemService(db_session).sources_of(item.id), "L": labels,
        })

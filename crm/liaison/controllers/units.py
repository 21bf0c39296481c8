"""Units: JSON API under /api/units and librarian pages under /units (writes: admins)."""

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import current_language
from crm.liaison import labels
from crm.liaison.models import Unit
from crm.liaison.schemas import units as schemas
from crm.liaison.services.units import UnitService, to_schema
from crm.security.guards import admin_required, librarian_required


async def get_unit(db: AsyncSession, unit_id: int) -> Unit:
    unit = await UnitService(db).get(unit_id)
    if unit is None:
        raise NotFoundException()
    return unit


class UnitApiController(Controller):
    path = "/api/units"
    tags = ["units"]
    guards = [librarian_required]

    @get("/")
    async def list_units(self, db_session: AsyncSession, q: str | None = None) -> list[schemas.Unit]:
        return [to_schema(u) for u in await UnitService(db_session).list_units(q)]

    @post("/", guards=[admin_required])
    async def create_unit(self, db_session: AsyncSession, data: schemas.UnitCreate) -> schemas.Unit:
        return to_schema(await UnitService(db_session).create_unit(data))

    @get("/{unit_id:int}")
    async def get_unit(self, db_session: AsyncSession, unit_id: int) -> schemas.Unit:
        return to_schema(await get_unit(db_session, unit_id))

    @patch("/{unit_id:int}", guards=[admin_required])
    async def update_unit(self, db_session: AsyncSession, unit_id: int, data: schemas.UnitUpdate) -> schemas.Unit:
        return to_schema(await UnitService(db_session).update_unit(await get_unit(db_session, unit_id), data))

    @delete("/{unit_id:int}", guards=[admin_required])
    async def delete_unit(self, db_session: AsyncSession, unit_id: int) -> None:
        await UnitService(db_session).delete_unit(await get_unit(db_session, unit_id))


def _values(unit: Unit) -> dict:
    return {k: getattr(unit, k) for k in ("code", "name_vi", "name_en", "kind", "parent_id")}


class UnitPageController(Controller):
    path = "/units"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, db: AsyncSession, unit: Unit | None, values: dict, errors: dict, status: int = 200) -> Template:
        units = UnitService(db)
        parents = [(i, n) for i, n in await units.options(current_language()) if unit is None or i != unit.id]
        return Template(
            "liaison/units/form.html",
            context={"item": unit, "values": values, "errors": errors, "parents": parents,
                     "kinds": labels.options(labels.UNIT_KINDS)},
            status_code=status,
        )

    @get("/")
    async def index(self, db_session: AsyncSession, q: str | None = None) -> Template:
        units = UnitService(db_session)
        context = {"q": q or "", "L": labels}
        if q:
            context["results"] = await units.list_units(q)
        else:
            context["tree"] = await units.tree()
        return Template("liaison/units/index.html", context=context)

    @get("/new", guards=[admin_required])
    async def new(self, db_session: AsyncSession, parent_id: int | None = None) -> Template:
        return await self._form(db_session, None, {"kind": "department", "parent_id": parent_id}, {})

    @post("/new", guards=[admin_required])
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        try:
            unit = await UnitService(db_session).create_unit(validate(form, schemas.UnitCreate))
        except FieldErrors as exc:
            return await self._form(db_session, None, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/units/{unit.id}", status_code=303)

    @get("/{unit_id:int}")
    async def detail(self, db_session: AsyncSession, unit_id: int) -> Template:
        from crm.liaison.services.assignments import AssignmentService

        unit = await get_unit(db_session, unit_id)
        units = UnitService(db_session)
        return Template(
            "liaison/units/detail.html",
            context={
                "unit": unit,
                "children": await units.children(unit_id),
                "counts": await units.counts(unit_id),
                "assignments": await AssignmentService(db_session).for_unit(unit_id),
                "L": labels,
            },
        )

    @get("/{unit_id:int}/edit", guards=[admin_required])
    async def edit(self, db_session: AsyncSession, unit_id: int) -> Template:
        unit = await get_unit(db_session, unit_id)
        return await self._form(db_session, unit, _values(unit), {})

    @post("/{unit_id:int}/edit", guards=[admin_required])
    async def update(self, request: Request, db_session: AsyncSession, unit_id: int) -> Template | Redirect:
        unit = await get_unit(db_session, unit_id)
        form = await request.form()
        try:
            data = validate(form, schemas.UnitCreate)
            await UnitService(db_session).update_unit(unit, schemas.UnitUpdate(**{f: getattr(data, f) for f in data.__struct_fields__}))
        except FieldErrors as exc:
            return await self._form(db_session, unit, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/units/{unit.id}", status_code=303)

    @post("/{unit_id:int}/delete", guards=[admin_required])
    async def remove(self, db_session: AsyncSession, unit_id: int) -> Template | Redirect:
        unit = await get_unit(db_session, unit_id)
        try:
            await UnitService(db_session).delete_unit(unit)
        except FieldErrors as exc:
            return Template("errors/error.html", context={"status": exc.status_code, "title": unit.name_vi,
                                                          "message": " ".join(exc.errors.values())}, status_code=exc.status_code)
        return Redirect(path="/units", status_code=303)


ROUTES = [UnitApiController, UnitPageController]

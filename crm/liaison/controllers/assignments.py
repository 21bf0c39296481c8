"""Liaison assignments: JSON API under /api/assignments and pages under /assignments.

Every librarian reads them; only administrators decide who serves what.
"""

from datetime import date
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import current_language
from crm.liaison import labels
from crm.liaison.models import Group, LiaisonAssignment
from crm.liaison.params import IdParam, OptionalId, parse_int, query_string
from crm.liaison.schemas import assignments as schemas
from crm.liaison.services.assignments import AssignmentFilter, AssignmentService, to_schema
from crm.liaison.services.interactions import group_label
from crm.liaison.services.units import UnitService
from crm.security.guards import admin_required, librarian_required
from crm.security.services import UserService

_FIELDS = ("librarian_id", "unit_id", "group_id", "role", "start_date", "end_date", "notes")


async def get_assignment(db: AsyncSession, assignment_id: int) -> LiaisonAssignment:
    assignment = await AssignmentService(db).get(assignment_id)
    if assignment is None:
        raise NotFoundException()
    return assignment


class AssignmentApiController(Controller):
    path = "/api/assignments"
    tags = ["assignments"]
    guards = [librarian_required]

    @get("/")
    async def list_assignments(self, db_session: AsyncSession, librarian_id: OptionalId = None, unit_id: OptionalId = None,
                               group_id: OptionalId = None, current: bool = False) -> list[schemas.Assignment]:
        filters = AssignmentFilter(librarian_id, unit_id, group_id, current)
        return [to_schema(a) for a in await AssignmentService(db_session).list_assignments(filters)]

    @post("/", guards=[admin_required])
    async def create_assignment(self, db_session: AsyncSession, data: schemas.AssignmentCreate) -> schemas.Assignment:
        return to_schema(await AssignmentService(db_session).create_assignment(data))

    @get("/{assignment_id:int}")
    async def get_assignment(self, db_session: AsyncSession, assignment_id: IdParam) -> schemas.Assignment:
        return to_schema(await get_assignment(db_session, assignment_id))

    @patch("/{assignment_id:int}", guards=[admin_required])
    async def update_assignment(self, db_session: AsyncSession, assignment_id: IdParam,
                                data: schemas.AssignmentUpdate) -> schemas.Assignment:
        assignment = await get_assignment(db_session, assignment_id)
        return to_schema(await AssignmentService(db_session).update_assignment(assignment, data))

    @delete("/{assignment_id:int}", guards=[admin_required])
    async def delete_assignment(self, db_session: AsyncSession, assignment_id: IdParam) -> None:
        await AssignmentService(db_session).delete_assignment(await get_assignment(db_session, assignment_id))


def _values(assignment: LiaisonAssignment) -> dict[str, Any]:
    return {k: getattr(assignment, k) for k in _FIELDS}


class AssignmentPageController(Controller):
    path = "/assignments"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, db: AsyncSession, item: LiaisonAssignment | None, values: dict, errors: dict,
                    status: int = 200) -> Template:
        groups = await db.scalars(select(Group).order_by(Group.name))
        return Template(
            "liaison/assignments/form.html",
            context={"item": item, "values": values, "errors": errors,
                     "librarians": [(u.id, u.full_name) for u in await UserService(db).list_librarians()],
                     "units": await UnitService(db).options(current_language()),
                     "groups": [(g.id, group_label(g)) for g in groups],
                     "roles": labels.options(labels.ASSIGNMENT_ROLES)},
            status_code=status,
        )

    @get("/")
    async def index(self, db_session: AsyncSession, librarian_id: str | None = None, unit_id: str | None = None,
                    group_id: str | None = None, current: str | None = None) -> Template:
        filters = AssignmentFilter(parse_int(librarian_id), parse_int(unit_id), parse_int(group_id),
                                   current_only=current in ("1", "on", "true"))
        values = {"librarian_id": filters.librarian_id, "unit_id": filters.unit_id, "group_id": filters.group_id,
                  "current": "1" if filters.current_only else ""}
        return Template("liaison/assignments/index.html", context={
            "assignments": await AssignmentService(db_session).list_assignments(filters),
            "values": values, "errors": {}, "query": query_string(values), "L": labels,
            "librarians": [(u.id, u.full_name) for u in await UserService(db_session).list_users()],
            "units": await UnitService(db_session).options(current_language()),
        })

    @get("/new", guards=[admin_required])
    async def new(self, db_session: AsyncSession, librarian_id: str | None = None, unit_id: str | None = None,
                  group_id: str | None = None) -> Template:
        values = {"role": "primary", "start_date": date.today().isoformat(), "librarian_id": parse_int(librarian_id),
                  "unit_id": parse_int(unit_id), "group_id": parse_int(group_id)}
        return await self._form(db_session, None, values, {})

    @post("/new", guards=[admin_required])
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        try:
            await AssignmentService(db_session).create_assignment(validate(form, schemas.AssignmentCreate))
        except FieldErrors as exc:
            return await self._form(db_session, None, form_values(form), exc.errors, exc.status_code)
        return Redirect(path="/assignments", status_code=303)

    @get("/{assignment_id:int}/edit", guards=[admin_required])
    async def edit(self, db_session: AsyncSession, assignment_id: IdParam) -> Template:
        assignment = await get_assignment(db_session, assignment_id)
        return await self._form(db_session, assignment, _values(assignment), {})

    @post("/{assignment_id:int}/edit", guards=[admin_required])
    async def update(self, request: Request, db_session: AsyncSession, assignment_id: IdParam) -> Template | Redirect:
        assignment = await get_assignment(db_session, assignment_id)
        form = await request.form()
        try:
            data = validate(form, schemas.AssignmentCreate)
            fields = {f: getattr(data, f) for f in data.__struct_fields__}
            if fields["start_date"] is None:
                fields.pop("start_date")  # a blank start keeps the one recorded
            await AssignmentService(db_session).update_assignment(assignment, schemas.AssignmentUpdate(**fields))
        except FieldErrors as exc:
            return await self._form(db_session, assignment, form_values(form), exc.errors, exc.status_code)
        return Redirect(path="/assignments", status_code=303)

    @post("/{assignment_id:int}/delete", guards=[admin_required])
    async def remove(self, db_session: AsyncSession, assignment_id: IdParam) -> Redirect:
        await AssignmentService(db_session).delete_assignment(await get_assignment(db_session, assignment_id))
        return Redirect(path="/assignments", status_code=303)


ROUTES = [AssignmentApiController, AssignmentPageController]

"""Interactions: JSON API under /api/interactions and librarian pages under /interactions.

Everyone with a librarian account reads the whole log; a librarian edits and deletes what they
recorded, administrators anything.
"""

from datetime import date
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _, current_language, lazy
from crm.liaison import labels
from crm.liaison.models import Interaction
from crm.liaison.params import (
    IdParam, OptionalId, PageParam, PerPageParam, parse_date, parse_ids, parse_int, parse_page, query_string, safe_next,
)
from crm.liaison.schemas import interactions as schemas
from crm.liaison.services.interactions import InteractionFilter, InteractionService, can_edit, to_schema
from crm.liaison.services.units import UnitService
from crm.security.guards import librarian_required
from crm.security.services import UserService

FOLLOW_UP_FILTERS = {
    "open": lazy("Open follow-ups"),
    "due": lazy("Follow-ups due"),
    "overdue": lazy("Overdue follow-ups"),
    "done": lazy("Follow-ups done"),
}
_SCALARS = ("occurred_on", "kind", "subject", "librarian_id", "notes", "outcome", "follow_up_on", "follow_up_note")


async def get_interaction(db: AsyncSession, interaction_id: int) -> Interaction:
    interaction = await InteractionService(db).get(interaction_id)
    if interaction is None:
        raise NotFoundException()
    return interaction


async def editable(db: AsyncSession, interaction_id: int, request: Request) -> Interaction:
    interaction = await get_interaction(db, interaction_id)
    if not can_edit(interaction, request.user):
        raise PermissionDeniedException()
    return interaction


class InteractionApiController(Controller):
    path = "/api/interactions"
    tags = ["interactions"]
    guards = [librarian_required]

    @get("/")
    async def list_interactions(
        self, db_session: AsyncSession, librarian_id: OptionalId = None, contact_id: OptionalId = None,
        group_id: OptionalId = None, kind: schemas.InteractionKind | None = None, date_from: date | None = None,
        date_to: date | None = None, follow_up: schemas.FollowUpFilter | None = None, page: PageParam = 1, per_page: PerPageParam = 50,
    ) -> schemas.InteractionPage:
        filters = InteractionFilter(librarian_id, contact_id, group_id, kind, date_from, date_to, follow_up)
        result = await InteractionService(db_session).list_interactions(filters, page, per_page)
        return schemas.InteractionPage(items=[to_schema(i) for i in result.items], total=result.total,
                                       page=result.number, per_page=result.per_page)

    @post("/")
    async def create_interaction(self, request: Request, db_session: AsyncSession, data: schemas.InteractionCreate) -> schemas.Interaction:
        return to_schema(await InteractionService(db_session).create_interaction(data, request.user))

    @get("/participants")
    async def participant_choices(self, db_session: AsyncSession, q: str | None = None, unit_id: OptionalId = None) -> schemas.ParticipantChoices:
        """Contacts and groups to pick as participants: by name or email, or by unit and its sub-units."""
        units = await UnitService(db_session).descendant_ids([unit_id]) if unit_id else None
        return await InteractionService(db_session).participant_choices(q, units)

    @get("/{interaction_id:int}")
    async def get_interaction(self, db_session: AsyncSession, interaction_id: IdParam) -> schemas.Interaction:
        return to_schema(await get_interaction(db_session, interaction_id))

    @patch("/{interaction_id:int}")
    async def update_interaction(self, request: Request, db_session: AsyncSession, interaction_id: IdParam,
                                 data: schemas.InteractionUpdate) -> schemas.Interaction:
        interaction = await editable(db_session, interaction_id, request)
        return to_schema(await InteractionService(db_session).update_interaction(interaction, data, request.user))

    @delete("/{interaction_id:int}")
    async def delete_interaction(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> None:
        await InteractionService(db_session).delete_interaction(await editable(db_session, interaction_id, request))

    @post("/{interaction_id:int}/follow-up/done", status_code=200)
    async def follow_up_done(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> schemas.Interaction:
        interaction = await editable(db_session, interaction_id, request)
        return to_schema(await InteractionService(db_session).mark_follow_up_done(interaction))


def _form_data(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {k: form.get(k) for k in _SCALARS if form.get(k) is not None}
    data["contact_ids"] = parse_ids(form.getall("contact_ids", []))
    data["group_ids"] = parse_ids(form.getall("group_ids", []))
    data["follow_up_done"] = form.get("follow_up_done")
    return data


def _readable(data: dict[str, Any]) -> dict[str, Any]:
    """The part of a form that parses, for checking the rules alongside the field errors."""
    out: dict[str, Any] = {"contact_ids": data["contact_ids"], "group_ids": data["group_ids"]}
    for name in ("occurred_on", "follow_up_on"):
        try:
            out[name] = parse_date(data.get(name))
        except ValueError:
            continue
    if (librarian_id := parse_int(data.get("librarian_id"))) is not None:
        out["librarian_id"] = librarian_id
    return out


async def _parse(db: AsyncSession, data: dict[str, Any], request: Request, item: Interaction | None) -> schemas.InteractionCreate:
    try:
        return validate(data, schemas.InteractionCreate)
    except FieldErrors as exc:
        rules = await InteractionService(db).problems(_readable(data), request.user, item)
        raise FieldErrors({**rules, **exc.errors}) from exc


def _values(interaction: Interaction) -> dict[str, Any]:
    values = {k: getattr(interaction, k) for k in (*_SCALARS, "follow_up_done")}
    values["contact_ids"] = [c.id for c in interaction.contacts]
    values["group_ids"] = [g.id for g in interaction.groups]
    return values


class InteractionPageController(Controller):
    path = "/interactions"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, request: Request, db: AsyncSession, item: Interaction | None, values: dict,
                    errors: dict, status: int = 200, choices: schemas.ParticipantChoices | None = None) -> Template:
        service = InteractionService(db)
        contacts, groups = await service.participants(
            parse_ids(_as_list(values.get("contact_ids"))), parse_ids(_as_list(values.get("group_ids"))))
        librarians = []
        if request.user.role == "admin":
            librarians = [(u.id, u.full_name) for u in await UserService(db).list_librarians()]
        return Template(
            "liaison/interactions/form.html",
            context={"item": item, "values": values, "errors": errors, "kinds": labels.options(labels.INTERACTION_KINDS),
                     "contacts": contacts, "groups": groups, "librarians": librarians, "choices": choices,
                     "units": await UnitService(db).options(current_language())},
            status_code=status,
        )

    async def _find(self, request: Request, db: AsyncSession, item: Interaction | None, form: Any) -> Template:
        """The participant search without JavaScript: the form comes back with the matches to tick."""
        unit_id = parse_int(form.get("participant_unit"))
        units = await UnitService(db).descendant_ids([unit_id]) if unit_id else None
        choices = await InteractionService(db).participant_choices(form.get("participant_q"), units)
        data = _form_data(form)
        values = {**form_values(form), "contact_ids": data["contact_ids"], "group_ids": data["group_ids"]}
        return await self._form(request, db, item, values, {}, choices=choices)

    @get("/")
    async def index(self, request: Request, db_session: AsyncSession, librarian_id: str | None = None,
                    contact_id: str | None = None, group_id: str | None = None, kind: str | None = None,
                    date_from: str | None = None, date_to: str | None = None, follow_up: str | None = None,
                    page: str | None = None) -> Template:
        errors: dict[str, str] = {}
        dates: dict[str, date | None] = {}
        for name, raw in (("date_from", date_from), ("date_to", date_to)):
            try:
                dates[name] = parse_date(raw)
            except ValueError:
                dates[name] = None
                errors[name] = _("Not a valid date (use YYYY-MM-DD or dd/mm/yyyy).")
        filters = InteractionFilter(
            librarian_id=parse_int(librarian_id), contact_id=parse_int(contact_id), group_id=parse_int(group_id),
            kind=kind if kind in labels.INTERACTION_KINDS else None, follow_up=follow_up if follow_up in FOLLOW_UP_FILTERS else None,
            **dates,
        )
        service = InteractionService(db_session)
        result = await service.list_interactions(filters, parse_page(page))
        contacts, groups = await service.participants(
            [filters.contact_id] if filters.contact_id else [], [filters.group_id] if filters.group_id else [])
        values = {"librarian_id": filters.librarian_id, "contact_id": filters.contact_id, "group_id": filters.group_id,
                  "kind": filters.kind, "follow_up": filters.follow_up, "date_from": date_from or "", "date_to": date_to or ""}
        return Template("liaison/interactions/index.html", context={
            "page": result, "values": values, "errors": errors, "query": query_string(values),
            "kinds": labels.options(labels.INTERACTION_KINDS),
            "follow_ups": [(k, _(v)) for k, v in FOLLOW_UP_FILTERS.items()],
            "librarians": [(u.id, u.full_name) for u in await UserService(db_session).list_users()],
            "only_contact": contacts[0] if contacts else None, "only_group": groups[0] if groups else None,
            "can_edit": can_edit,
        })

    @get("/new")
    async def new(self, request: Request, db_session: AsyncSession, contact_id: str | None = None,
                  group_id: str | None = None) -> Template:
        values = {"occurred_on": date.today().isoformat(), "kind": "meeting",
                  "contact_ids": parse_ids([contact_id]), "group_ids": parse_ids([group_id])}
        return await self._form(request, db_session, None, values, {})

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        if form.get("_find") is not None:
            return await self._find(request, db_session, None, form)
        data = _form_data(form)
        try:
            interaction = await InteractionService(db_session).create_interaction(
                await _parse(db_session, data, request, None), request.user)
        except FieldErrors as exc:
            return await self._form(request, db_session, None, {**form_values(form), **data}, exc.errors, exc.status_code)
        return Redirect(path=f"/interactions/{interaction.id}", status_code=303)

    @get("/{interaction_id:int}")
    async def detail(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> Template:
        interaction = await get_interaction(db_session, interaction_id)
        return Template("liaison/interactions/detail.html", context={
            "item": interaction, "editable": can_edit(interaction, request.user), "L": labels,
        })

    @get("/{interaction_id:int}/edit")
    async def edit(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> Template:
        interaction = await editable(db_session, interaction_id, request)
        return await self._form(request, db_session, interaction, _values(interaction), {})

    @post("/{interaction_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> Template | Redirect:
        interaction = await editable(db_session, interaction_id, request)
        form = await request.form()
        if form.get("_find") is not None:
            return await self._find(request, db_session, interaction, form)
        data = _form_data(form)
        try:
            parsed = await _parse(db_session, data, request, interaction)
            fields = {f: getattr(parsed, f) for f in parsed.__struct_fields__}
            if request.user.role != "admin" or fields["librarian_id"] is None:
                fields.pop("librarian_id")  # the librarian stays unless an administrator picks another
            await InteractionService(db_session).update_interaction(
                interaction, schemas.InteractionUpdate(**fields), request.user)
        except FieldErrors as exc:
            return await self._form(request, db_session, interaction, {**form_values(form), **data}, exc.errors, exc.status_code)
        return Redirect(path=f"/interactions/{interaction.id}", status_code=303)

    @post("/{interaction_id:int}/delete")
    async def remove(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> Redirect:
        await InteractionService(db_session).delete_interaction(await editable(db_session, interaction_id, request))
        return Redirect(path="/interactions", status_code=303)

    @post("/{interaction_id:int}/follow-up/done")
    async def follow_up_done(self, request: Request, db_session: AsyncSession, interaction_id: IdParam) -> Template | Redirect:
        interaction = await editable(db_session, interaction_id, request)
        form = await request.form()
        try:
            await InteractionService(db_session).mark_follow_up_done(interaction)
        except FieldErrors as exc:
            return Template("errors/error.html", context={"status": 400, "title": interaction.subject,
                                                          "message": " ".join(exc.errors.values())}, status_code=400)
        return Redirect(path=safe_next(form.get("next"), f"/interactions/{interaction.id}"), status_code=303)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


ROUTES = [InteractionApiController, InteractionPageController]

"""Groups (cohorts, classes, research groups) and their members: /api/groups and /groups."""

from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import _, current_language
from crm.liaison import labels
from crm.liaison.controllers.contacts import MAX_PAGE, PageNumber, PerPage
from crm.liaison.models import Group
from crm.liaison.params import parse_int, query_string
from crm.liaison.schemas import contacts as contact_schemas
from crm.liaison.schemas import groups as schemas
from crm.liaison.services.contacts import ContactFilter, ContactService, to_schema as contact_schema
from crm.liaison.services.groups import GroupFilter, GroupService, to_schema
from crm.liaison.services.interactions import InteractionService
from crm.liaison.services.units import UnitService
from crm.security.guards import librarian_required

#: Matches offered by the "add a member" search on the group page.
MEMBER_CHOICES = 20
_FIELDS = ("name", "code", "kind", "unit_id", "description")


async def get_group(db: AsyncSession, group_id: int) -> Group:
    group = await GroupService(db).get(group_id)
    if group is None:
        raise NotFoundException()
    return group


class GroupApiController(Controller):
    path = "/api/groups"
    tags = ["groups"]
    guards = [librarian_required]

    @get("/")
    async def list_groups(
        self, db_session: AsyncSession, q: str | None = None, kind: schemas.GroupKind | None = None,
        unit_id: int | None = None, page: PageNumber = 1, per_page: PerPage = 50,
    ) -> schemas.GroupPage:
        """Search by name or code, ignoring case and diacritics; ``unit_id`` includes sub-units."""
        groups = GroupService(db_session)
        result = await groups.list_groups(GroupFilter(q, kind, unit_id), page, per_page)
        counts = await groups.member_counts(g.id for g in result.items)
        return schemas.GroupPage(items=[to_schema(g, counts.get(g.id, 0)) for g in result.items],
                                 total=result.total, page=result.number, per_page=result.per_page)

    @post("/")
    async def create_group(self, db_session: AsyncSession, data: schemas.GroupCreate) -> schemas.Group:
        return to_schema(await GroupService(db_session).create_group(data))

    @get("/{group_id:int}")
    async def get_group(self, db_session: AsyncSession, group_id: int) -> schemas.Group:
        group = await get_group(db_session, group_id)
        return to_schema(group, (await GroupService(db_session).member_counts([group.id])).get(group.id, 0))

    @patch("/{group_id:int}")
    async def update_group(self, db_session: AsyncSession, group_id: int, data: schemas.GroupUpdate) -> schemas.Group:
        groups = GroupService(db_session)
        group = await groups.update_group(await get_group(db_session, group_id), data)
        return to_schema(group, (await groups.member_counts([group.id])).get(group.id, 0))

    @delete("/{group_id:int}")
    async def delete_group(self, db_session: AsyncSession, group_id: int) -> None:
        await GroupService(db_session).delete_group(await get_group(db_session, group_id))

    @get("/{group_id:int}/members")
    async def list_members(self, db_session: AsyncSession, group_id: int) -> list[contact_schemas.Contact]:
        group = await get_group(db_session, group_id)
        return [contact_schema(c) for c in await GroupService(db_session).members(group.id)]

    @put("/{group_id:int}/members")
    async def set_members(self, db_session: AsyncSession, group_id: int,
                          data: schemas.GroupMembers | schemas.ContactIds) -> list[contact_schemas.Contact]:
        """The whole member list: ``{"contact_ids": [...]}`` or a bare list of contact ids."""
        ids = data.contact_ids if isinstance(data, schemas.GroupMembers) else data
        members = await GroupService(db_session).set_members(await get_group(db_session, group_id), ids)
        return [contact_schema(c) for c in members]

    @post("/{group_id:int}/members/{contact_id:int}", status_code=200)
    async def add_member(self, db_session: AsyncSession, group_id: int, contact_id: int) -> list[contact_schemas.Contact]:
        groups = GroupService(db_session)
        group = await get_group(db_session, group_id)
        await groups.add_member(group, contact_id)
        return [contact_schema(c) for c in await groups.members(group.id)]

    @delete("/{group_id:int}/members/{contact_id:int}")
    async def remove_member(self, db_session: AsyncSession, group_id: int, contact_id: int) -> None:
        await GroupService(db_session).remove_member(await get_group(db_session, group_id), contact_id)


class GroupPageController(Controller):
    path = "/groups"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, db: AsyncSession, group: Group | None, values: dict, errors: dict, status: int = 200) -> Template:
        return Template(
            "liaison/groups/form.html",
            context={"item": group, "values": values, "errors": errors,
                     "units": await UnitService(db).options(current_language()),
                     "kinds": labels.options(labels.GROUP_KINDS)},
            status_code=status,
        )

    async def _detail(self, db: AsyncSession, group: Group, member_q: str | None,
                      errors: dict[str, str] | None = None, status: int = 200) -> Template:
        # Interest profiles live in a domain that depends on this one: imported where used.
        from crm.interests.services import ProfileService

        groups = GroupService(db)
        members = await groups.members(group.id)
        matches: list[Any] = []
        if member_q and member_q.strip():
            found = await ContactService(db).list_contacts(ContactFilter(q=member_q), 1, MEMBER_CHOICES)
            matches = found.items
        return Template("liaison/groups/detail.html", context={
            "group": group, "members": members, "member_ids": {c.id for c in members}, "L": labels,
            "member_q": member_q or "", "matches": matches, "errors": errors or {},
            "profiles": await ProfileService(db).list_for_owner(group_id=group.id),
            "timeline": await InteractionService(db).timeline(group_id=group.id),
            "timeline_new_query": f"group_id={group.id}",
        }, status_code=status)

    @get("/")
    async def index(self, db_session: AsyncSession, q: str | None = None, kind: str | None = None,
                    unit_id: str | None = None, page: str | None = None) -> Template:
        filters = GroupFilter(q=(q or "").strip() or None, kind=kind if kind in labels.GROUP_KINDS else None,
                              unit_id=parse_int(unit_id))
        groups = GroupService(db_session)
        result = await groups.list_groups(filters, min(parse_int(page) or 1, MAX_PAGE))
        values = {"q": filters.q or "", "kind": filters.kind or "", "unit_id": filters.unit_id or ""}
        return Template("liaison/groups/index.html", context={
            "page": result, "counts": await groups.member_counts(g.id for g in result.items),
            "values": values, "query": query_string(values), "L": labels,
            "kinds": labels.options(labels.GROUP_KINDS), "units": await UnitService(db_session).options(current_language()),
        })

    @get("/new")
    async def new(self, db_session: AsyncSession, unit_id: str | None = None) -> Template:
        return await self._form(db_session, None, {"kind": "cohort", "unit_id": parse_int(unit_id)}, {})

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        try:
            group = await GroupService(db_session).create_group(validate(form, schemas.GroupCreate))
        except FieldErrors as exc:
            return await self._form(db_session, None, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/groups/{group.id}", status_code=303)

    @get("/{group_id:int}")
    async def detail(self, db_session: AsyncSession, group_id: int, member_q: str | None = None) -> Template:
        return await self._detail(db_session, await get_group(db_session, group_id), member_q)

    @get("/{group_id:int}/edit")
    async def edit(self, db_session: AsyncSession, group_id: int) -> Template:
        group = await get_group(db_session, group_id)
        return await self._form(db_session, group, {k: getattr(group, k) for k in _FIELDS}, {})

    @post("/{group_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, group_id: int) -> Template | Redirect:
        group = await get_group(db_session, group_id)
        form = await request.form()
        try:
            data = validate(form, schemas.GroupCreate)
            await GroupService(db_session).update_group(
                group, schemas.GroupUpdate(**{f: getattr(data, f) for f in data.__struct_fields__}))
        except FieldErrors as exc:
            return await self._form(db_session, group, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/groups/{group.id}", status_code=303)

    @post("/{group_id:int}/delete")
    async def remove(self, db_session: AsyncSession, group_id: int) -> Redirect:
        await GroupService(db_session).delete_group(await get_group(db_session, group_id))
        return Redirect(path="/groups", status_code=303)

    @post("/{group_id:int}/members/add")
    async def add_member(self, request: Request, db_session: AsyncSession, group_id: int) -> Template | Redirect:
        group = await get_group(db_session, group_id)
        form = await request.form()
        member_q = form.get("member_q") or ""
        contact_id = parse_int(form.get("contact_id"))
        try:
            if contact_id is None:
                raise FieldErrors({"contact_id": _("Choose a contact to add.")})
            await GroupService(db_session).add_member(group, contact_id)
        except FieldErrors as exc:
            return await self._detail(db_session, group, member_q, exc.errors, exc.status_code)
        return Redirect(path=f"/groups/{group.id}", query_params={"member_q": member_q} if member_q else None,
                        status_code=303)

    @post("/{group_id:int}/members/{contact_id:int}/remove")
    async def remove_member(self, db_session: AsyncSession, group_id: int, contact_id: int) -> Redirect:
        group = await get_group(db_session, group_id)
        await GroupService(db_session).remove_member(group, contact_id)
        return Redirect(path=f"/groups/{group.id}", status_code=303)


ROUTES = [GroupApiController, GroupPageController]

"""Interest profiles: JSON API under /api/profiles and librarian pages under /profiles."""

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.interests import schemas
from crm.interests.models import InterestProfile
from crm.interests.services import (
    LIST_FIELDS, ProfileService, check_query, draft_values, fault_marks, profile_query, split_values, to_schema,
)
from crm.liaison.params import IdParam, OptionalId, PageParam, PerPageParam, parse_int, parse_page, query_string
from crm.liaison.services.interactions import InteractionService
from crm.security.guards import librarian_required
from crm.text import nfc


#: ``query`` is a name Litestar keeps for the whole query string: the parameter takes another name in Python.
QueryText = Annotated[str | None, QueryParameter(name="query", description="A query in the profile query language.")]


async def get_profile(db: AsyncSession, profile_id: int) -> InterestProfile:
    profile = await ProfileService(db).get(profile_id)
    if profile is None:
        raise NotFoundException()
    return profile


class ProfileApiController(Controller):
    path = "/api/profiles"
    tags = ["interest profiles"]
    guards = [librarian_required]

    @get("/")
    async def list_profiles(self, db_session: AsyncSession, contact_id: OptionalId = None, group_id: OptionalId = None,
                            q: str | None = None, active: bool | None = None, page: PageParam = 1,
                            per_page: PerPageParam = 50) -> schemas.ProfilePage:
        result = await ProfileService(db_session).list_profiles(contact_id, group_id, q, active, page, per_page)
        return schemas.ProfilePage(items=[to_schema(p) for p in result.items], total=result.total,
                                   page=result.number, per_page=result.per_page)

    @post("/")
    async def create_profile(self, db_session: AsyncSession, data: schemas.ProfileCreate) -> schemas.Profile:
        return to_schema(await ProfileService(db_session).create_profile(data))

    @get("/check-query")
    async def check_query(self, query_text: QueryText = None, exact: bool = False, topics: str | None = None,
                          keywords: str | None = None, subject_headings: str | None = None,
                          class_ranges: str | None = None, languages: str | None = None) -> schemas.QueryCheck:
        """Check a profile's query as it is typed and show what the engine would run.

        The list fields are sent as their textareas hold them (one value a line, or separated by
        semicolons). ``error.position`` is the 0-based character offset of the fault in ``query``
        (NFC, leading blanks counted); ``error.field`` names the field at fault. GET, so a
        logged-in page can call it with its session cookie.
        """
        return check_query(draft_values(query_text, exact, topics, keywords, subject_headings, class_ranges, languages))

    @get("/{profile_id:int}")
    async def get_profile(self, db_session: AsyncSession, profile_id: IdParam) -> schemas.Profile:
        return to_schema(await get_profile(db_session, profile_id))

    @patch("/{profile_id:int}")
    async def update_profile(self, db_session: AsyncSession, profile_id: IdParam, data: schemas.ProfileUpdate) -> schemas.Profile:
        profile = await get_profile(db_session, profile_id)
        return to_schema(await ProfileService(db_session).update_profile(profile, data))

    @delete("/{profile_id:int}")
    async def delete_profile(self, db_session: AsyncSession, profile_id: IdParam) -> None:
        await ProfileService(db_session).delete_profile(await get_profile(db_session, profile_id))


def _form_data(form: Any) -> dict[str, Any]:
    """Form fields as the schema wants them: list textareas split into values."""
    data: dict[str, Any] = {k: form.get(k) for k in ("name", "topics", "contact_id", "group_id", "query")
                            if form.get(k) is not None}
    for name in LIST_FIELDS:
        data[name] = split_values(form.get(name))
    data["is_active"] = form.get("is_active")
    data["exact"] = form.get("exact")
    return data


def _values(profile: InterestProfile) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(profile, k)
                              for k in ("name", "topics", "contact_id", "group_id", "is_active", "query", "exact")}
    for name in LIST_FIELDS:
        values[name] = "\n".join(getattr(profile, name) or [])
    return values


class ProfilePageController(Controller):
    path = "/profiles"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, db: AsyncSession, item: InterestProfile | None, values: dict, errors: dict,
                    status: int = 200, owner_q: str | None = None) -> Template:
        contacts, groups = await InteractionService(db).participants(
            [i for i in [parse_int(values.get("contact_id"))] if i], [i for i in [parse_int(values.get("group_id"))] if i])
        choices = await InteractionService(db).participant_choices(owner_q) if owner_q else None
        # Shown as stored (NFC, trimmed), so a fault's position reads the same here and in the field's error.
        values = {**values, "query": nfc(values.get("query")) if isinstance(values.get("query"), str) else None}
        check = check_query(draft_values(*(values.get(name) for name in (
            "query", "exact", "topics", "keywords", "subject_headings", "class_ranges", "languages"))))
        return Template("interests/form.html", status_code=status, context={
            "item": item, "values": values, "errors": errors, "owner_q": owner_q or "", "choices": choices,
            "owner_contact": contacts[0] if contacts else None, "owner_group": groups[0] if groups else None,
            "check": check, "fault": fault_marks(values.get("query"), check.error),
        })

    @get("/")
    async def index(self, db_session: AsyncSession, q: str | None = None, contact_id: str | None = None,
                    group_id: str | None = None, active: str | None = None, page: str | None = None) -> Template:
        active_filter = {"1": True, "0": False}.get(active or "")
        cid, gid = parse_int(contact_id), parse_int(group_id)
        result = await ProfileService(db_session).list_profiles(cid, gid, q, active_filter, parse_page(page))
        values = {"q": q or "", "contact_id": cid, "group_id": gid, "active": active if active_filter is not None else ""}
        return Template("interests/index.html", context={"page": result, "values": values, "query": query_string(values)})

    @get("/new")
    async def new(self, db_session: AsyncSession, contact_id: str | None = None, group_id: str | None = None,
                  owner_q: str | None = None) -> Template:
        values = {"contact_id": parse_int(contact_id), "group_id": parse_int(group_id), "is_active": True}
        return await self._form(db_session, None, values, {}, owner_q=owner_q)

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        try:
            profile = await ProfileService(db_session).create_profile(validate(_form_data(form), schemas.ProfileCreate))
        except FieldErrors as exc:
            return await self._form(db_session, None, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/profiles/{profile.id}", status_code=303)

    @get("/{profile_id:int}")
    async def detail(self, db_session: AsyncSession, profile_id: IdParam) -> Template:
        profile = await get_profile(db_session, profile_id)
        return Template("interests/detail.html", context={"item": profile, "compiled": profile_query(profile)})

    @get("/{profile_id:int}/edit")
    async def edit(self, db_session: AsyncSession, profile_id: IdParam) -> Template:
        profile = await get_profile(db_session, profile_id)
        return await self._form(db_session, profile, _values(profile), {})

    @post("/{profile_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, profile_id: IdParam) -> Template | Redirect:
        profile = await get_profile(db_session, profile_id)
        form = await request.form()
        try:
            data = validate(_form_data(form), schemas.ProfileCreate)
            fields = {f: getattr(data, f) for f in data.__struct_fields__ if f not in ("contact_id", "group_id")}
            await ProfileService(db_session).update_profile(profile, schemas.ProfileUpdate(**fields))
        except FieldErrors as exc:
            return await self._form(db_session, profile, {**form_values(form), "contact_id": profile.contact_id,
                                                          "group_id": profile.group_id}, exc.errors, exc.status_code)
        return Redirect(path=f"/profiles/{profile.id}", status_code=303)

    @post("/{profile_id:int}/delete")
    async def remove(self, db_session: AsyncSession, profile_id: IdParam) -> Redirect:
        profile = await get_profile(db_session, profile_id)
        back = f"/profiles?contact_id={profile.contact_id}" if profile.contact_id else f"/profiles?group_id={profile.group_id}"
        await ProfileService(db_session).delete_profile(profile)
        return Redirect(path=back, status_code=303)


ROUTES = [ProfileApiController, ProfilePageController]

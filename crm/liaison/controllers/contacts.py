"""Contacts: JSON API under /api/contacts and librarian pages under /contacts."""

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import form_values, validate
from crm.i18n import current_language
from crm.liaison import labels
from crm.liaison.models import Contact
from crm.liaison.params import parse_int, query_string
from crm.liaison.schemas import contacts as schemas
from crm.liaison.services.contacts import ContactFilter, ContactService, to_schema
from crm.liaison.services.groups import GroupService
from crm.liaison.services.interactions import InteractionService
from crm.liaison.services.units import UnitService
from crm.pagination import MAX_PER_PAGE
from crm.security.guards import librarian_required

#: Deeper pages than this are not worth a database round trip (and keep OFFSET in range).
MAX_PAGE = 100_000
#: Usual Vietnamese academic titles, offered as suggestions in the form.
ACADEMIC_TITLES = ("GS.TS.", "PGS.TS.", "TS.", "ThS.", "CN.", "KS.")
_FIELDS = ("full_name", "email", "kind", "unit_id", "academic_title", "position", "phone", "language", "notes", "is_active")
PageNumber = Annotated[int, Parameter(ge=1, le=MAX_PAGE)]
PerPage = Annotated[int, Parameter(ge=1, le=MAX_PER_PAGE)]


async def get_contact(db: AsyncSession, contact_id: int) -> Contact:
    contact = await ContactService(db).get(contact_id)
    if contact is None:
        raise NotFoundException()
    return contact


def page_filter(q: str | None, kind: str | None, unit_id: str | None, active: str | None) -> ContactFilter:
    """A list page's filters, read leniently: a blank or unknown value means no filter."""
    return ContactFilter(
        q=(q or "").strip() or None,
        kind=kind if kind in labels.CONTACT_KINDS else None,
        unit_id=parse_int(unit_id),
        active={"1": True, "0": False}.get(active or ""),
    )


def filter_values(f: ContactFilter) -> dict[str, Any]:
    return {"q": f.q or "", "kind": f.kind or "", "unit_id": f.unit_id or "",
            "active": "" if f.active is None else ("1" if f.active else "0")}


class ContactApiController(Controller):
    path = "/api/contacts"
    tags = ["contacts"]
    guards = [librarian_required]

    @get("/")
    async def list_contacts(
        self, db_session: AsyncSession, q: str | None = None, kind: schemas.ContactKind | None = None,
        unit_id: int | None = None, active: bool | None = None, page: PageNumber = 1, per_page: PerPage = 50,
    ) -> schemas.ContactPage:
        """Search by name or email, ignoring case and diacritics; ``unit_id`` includes sub-units."""
        result = await ContactService(db_session).list_contacts(ContactFilter(q, kind, unit_id, active), page, per_page)
        return schemas.ContactPage(items=[to_schema(c) for c in result.items], total=result.total,
                                   page=result.number, per_page=result.per_page)

    @post("/")
    async def create_contact(self, db_session: AsyncSession, data: schemas.ContactCreate) -> schemas.Contact:
        return to_schema(await ContactService(db_session).create_contact(data))

    @get("/{contact_id:int}")
    async def get_contact(self, db_session: AsyncSession, contact_id: int) -> schemas.Contact:
        return to_schema(await get_contact(db_session, contact_id))

    @patch("/{contact_id:int}")
    async def update_contact(self, db_session: AsyncSession, contact_id: int, data: schemas.ContactUpdate) -> schemas.Contact:
        contact = await get_contact(db_session, contact_id)
        return to_schema(await ContactService(db_session).update_contact(contact, data))

    @delete("/{contact_id:int}")
    async def delete_contact(self, db_session: AsyncSession, contact_id: int) -> None:
        await ContactService(db_session).delete_contact(await get_contact(db_session, contact_id))


class ContactPageController(Controller):
    path = "/contacts"
    guards = [librarian_required]
    include_in_schema = False

    async def _form(self, db: AsyncSession, contact: Contact | None, values: dict, errors: dict, status: int = 200) -> Template:
        return Template(
            "liaison/contacts/form.html",
            context={"item": contact, "values": values, "errors": errors,
                     "units": await UnitService(db).options(current_language()),
                     "kinds": labels.options(labels.CONTACT_KINDS), "languages": list(labels.LANGUAGES.items()),
                     "titles": ACADEMIC_TITLES},
            status_code=status,
        )

    @get("/")
    async def index(self, db_session: AsyncSession, q: str | None = None, kind: str | None = None,
                    unit_id: str | None = None, active: str | None = None, page: str | None = None) -> Template:
        filters = page_filter(q, kind, unit_id, active)
        result = await ContactService(db_session).list_contacts(filters, min(parse_int(page) or 1, MAX_PAGE))
        values = filter_values(filters)
        return Template("liaison/contacts/index.html", context={
            "page": result, "values": values, "query": query_string(values), "L": labels,
            "kinds": labels.options(labels.CONTACT_KINDS), "units": await UnitService(db_session).options(current_language()),
        })

    @get("/new")
    async def new(self, db_session: AsyncSession, unit_id: str | None = None) -> Template:
        values = {"kind": "lecturer", "language": "vi", "is_active": True, "unit_id": parse_int(unit_id)}
        return await self._form(db_session, None, values, {})

    @post("/new")
    async def create(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        form = await request.form()
        try:
            contact = await ContactService(db_session).create_contact(validate(form, schemas.ContactCreate))
        except FieldErrors as exc:
            return await self._form(db_session, None, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/contacts/{contact.id}", status_code=303)

    @get("/{contact_id:int}")
    async def detail(self, db_session: AsyncSession, contact_id: int) -> Template:
        # Interest profiles live in a domain that depends on this one: imported where used.
        from crm.interests.services import ProfileService
        from crm.mail.bounces import address_status  # DESIGN: the CRM asks mail whether an address bounces

        contact = await get_contact(db_session, contact_id)
        return Template("liaison/contacts/detail.html", context={
            "contact": contact, "L": labels,
            "groups": await GroupService(db_session).groups_of(contact_id),
            "profiles": await ProfileService(db_session).list_for_owner(contact_id=contact_id),
            "timeline": await InteractionService(db_session).timeline(contact_id=contact_id),
            "timeline_new_query": f"contact_id={contact_id}",
            "mail_status": await address_status(db_session, contact.email),
        })

    @get("/{contact_id:int}/edit")
    async def edit(self, db_session: AsyncSession, contact_id: int) -> Template:
        contact = await get_contact(db_session, contact_id)
        return await self._form(db_session, contact, {k: getattr(contact, k) for k in _FIELDS}, {})

    @post("/{contact_id:int}/edit")
    async def update(self, request: Request, db_session: AsyncSession, contact_id: int) -> Template | Redirect:
        contact = await get_contact(db_session, contact_id)
        form = await request.form()
        try:
            data = validate(form, schemas.ContactCreate)
            changes = schemas.ContactUpdate(**{f: getattr(data, f) for f in data.__struct_fields__})
            await ContactService(db_session).update_contact(contact, changes)
        except FieldErrors as exc:
            return await self._form(db_session, contact, form_values(form), exc.errors, exc.status_code)
        return Redirect(path=f"/contacts/{contact.id}", status_code=303)

    @post("/{contact_id:int}/delete")
    async def remove(self, db_session: AsyncSession, contact_id: int) -> Redirect:
        await ContactService(db_session).delete_contact(await get_contact(db_session, contact_id))
        return Redirect(path="/contacts", status_code=303)


ROUTES = [ContactApiController, ContactPageController]

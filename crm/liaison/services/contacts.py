"""Contacts: the lecturers, researchers, students and staff a liaison librarian serves."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, FieldErrors
from crm.forms import cleaned, normalize_email
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Unit
from crm.liaison.schemas import contacts as schemas
from crm.liaison.search import contact_keys
from crm.liaison.services.units import UnitService
from crm.pagination import Page, clamp
from crm.text import fold

#: Column sizes of the search keys (see the model).
SEARCH_KEY_LENGTH = 600
SORT_KEY_LENGTH = 400
REQUIRED = ("full_name", "email")
MAX_QUERY_LENGTH = 2000
MAX_SEARCH_TERMS = 8
MAX_TERM_LENGTH = 100


def search_terms(q: str | None) -> list[str]:
    """Folded words of a query; an email address stays one word, stray punctuation goes.

    Bounded: a pasted paragraph must not become thousands of LIKE clauses (SQLite caps the
    depth of an expression and the length of a pattern).
    """
    words = (w.strip(".,;:!?()[]{}\"'")[:MAX_TERM_LENGTH] for w in fold((q or "")[:MAX_QUERY_LENGTH]).split())
    return list(dict.fromkeys(w for w in words if w))[:MAX_SEARCH_TERMS]


def email_key(email: str) -> str:
    return email.lower()


def duplicate_email_message() -> str:
    return _("Another contact already uses this email address.")


@dataclass
class ContactFilter:
    q: str | None = None
    kind: str | None = None
    unit_id: int | None = None
    active: bool | None = None


class ContactService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, contact_id: int) -> Contact | None:
        return await self.session.get(Contact, contact_id) if storable(contact_id) else None

    async def get_by_email(self, email: str) -> Contact | None:
        return await self.session.scalar(select(Contact).where(Contact.email_key == email_key(email.strip())))

    async def conditions(self, f: ContactFilter) -> list[ColumnElement[bool]]:
        """WHERE clauses of a contact search: every folded word of ``q`` is in the search key."""
        where: list[ColumnElement[bool]] = [Contact.search_key.contains(t, autoescape=True) for t in search_terms(f.q)]
        if f.kind:
            where.append(Contact.kind == f.kind)
        if f.unit_id is not None:
            units = await UnitService(self.session).descendant_ids([f.unit_id]) if storable(f.unit_id) else set()
            where.append(Contact.unit_id.in_(sorted(units)))
        if f.active is not None:
            where.append(Contact.is_active.is_(f.active))
        return where

    async def list_contacts(self, f: ContactFilter, page: int | None = 1, per_page: int | None = None) -> Page[Contact]:
        """The page query (the unit joined), then a count only when the page does not tell the total.

        A search for a rare name scans the whole table; when the matches fit on the page, a
        second scan to count them would only repeat the first.
        """
        where = await self.conditions(f)
        number, size = clamp(page, per_page)
        offset = (number - 1) * size
        query = select(Contact).where(*where).order_by(Contact.sort_key, Contact.id).limit(size).offset(offset)
        items = list((await self.session.scalars(query)).unique())
        if len(items) < size and (items or offset == 0):
            total = offset + len(items)
        else:
            total = await self.session.scalar(select(func.count()).select_from(Contact).where(*where)) or 0
        return Page(items=items, total=total, number=number, per_page=size)

    def apply(self, contact: Contact, values: dict[str, Any]) -> None:
        """Set already checked values and the keys derived from them."""
        for key, value in values.items():
            setattr(contact, key, value)
        contact.email_key = email_key(contact.email)
        keys = contact_keys(contact.full_name, contact.email)
        contact.search_key = keys["search_key"][:SEARCH_KEY_LENGTH]
        contact.sort_key = keys["sort_key"][:SORT_KEY_LENGTH]

    async def check(self, values: dict[str, Any], contact: Contact | None = None) -> dict[str, Any]:
        """Normalize and check ``values`` (cleaned input); FieldErrors lists every bad field."""
        errors: dict[str, str] = {}
        for name in REQUIRED:
            if name in values and not values[name]:
                errors[name] = _("This field is required.")
        if values.get("email"):
            try:
                values["email"] = normalize_email(values["email"])
            except FieldErrors as exc:
                errors.update(exc.errors)
        unit_id = values.get("unit_id")
        if unit_id is not None and (not storable(unit_id) or await self.session.get(Unit, unit_id) is None):
            errors["unit_id"] = _("Unknown unit.")
        if errors:
            raise FieldErrors(errors)
        if "email" in values:
            other = await self.get_by_email(values["email"])
            if other is not None and (contact is None or other.id != contact.id):
                raise Conflict({"email": duplicate_email_message()})
        return values

    async def _save(self, contact: Contact, values: dict[str, Any], new: bool) -> Contact:
        self.apply(contact, values)
        if new:
            self.session.add(contact)
        try:
            await self.session.flush()
        except IntegrityError:
            # Another request took the address between the check and the write. The
            # transaction is spoilt (PostgreSQL refuses further statements), so end it here: the
            # caller is failing anyway. No SAVEPOINT: with SQLite's driver, releasing the outer
            # savepoint commits.
            await self.session.rollback()
            raise Conflict({"email": duplicate_email_message()}) from None
        await self.session.refresh(contact, ["unit"])
        return contact

    async def create_contact(self, data: schemas.ContactCreate) -> Contact:
        values = await self.check(cleaned(data))
        return await self._save(Contact(), values, new=True)

    async def update_contact(self, contact: Contact, data: schemas.ContactUpdate) -> Contact:
        values = await self.check(cleaned(data), contact)
        return await self._save(contact, values, new=False)

    async def delete_contact(self, contact: Contact) -> None:
        await self.session.delete(contact)
        await self.session.flush()

    async def existing_by_email(self, keys: Iterable[str]) -> dict[str, Contact]:
        """Contacts by email key, for many keys at once (the CSV import)."""
        found: dict[str, Contact] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for contact in (await self.session.scalars(select(Contact).where(Contact.email_key.in_(chunk)))).unique():
                found[contact.email_key] = contact
        return found

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(Contact)) or 0

    def export_query(self, where: list[ColumnElement[bool]]) -> Select:
        """The rows of the CSV export: plain columns, no ORM objects."""
        return (
            select(Contact.full_name, Contact.email, Contact.kind, Unit.code, Contact.academic_title, Contact.position,
                   Contact.phone, Contact.language, Contact.is_active, Contact.notes)
            .outerjoin(Unit, Contact.unit_id == Unit.id)
            .where(*where)
            .order_by(Contact.sort_key, Contact.id)
        )


def to_schema(contact: Contact) -> schemas.Contact:
    return schemas.Contact(
        id=contact.id, full_name=contact.full_name, email=contact.email, kind=contact.kind,  # type: ignore[arg-type]
        unit_id=contact.unit_id, unit_code=contact.unit.code if contact.unit else None,
        academic_title=contact.academic_title, position=contact.position, phone=contact.phone,
        language=contact.language, notes=contact.notes, is_active=contact.is_active,  # type: ignore[arg-type]
    )

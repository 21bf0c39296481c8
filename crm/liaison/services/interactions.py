"""Interactions: the liaison's log of meetings, consultations, trainings… and their follow-ups."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Group, Interaction, interaction_contact, interaction_group
from crm.liaison.schemas import interactions as schemas
from crm.pagination import Page, paginate
from crm.security.models import User
from crm.text import fold

#: How far ahead the home page looks for follow-ups.
FOLLOW_UP_HORIZON = timedelta(days=7)
#: How many matches the participant picker offers per search.
MAX_CHOICES = 50


@dataclass
class InteractionFilter:
    librarian_id: int | None = None
    contact_id: int | None = None
    group_id: int | None = None
    kind: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    #: open: a follow-up not done yet; due: open and due by today; overdue: open and past; done.
    follow_up: str | None = None


def can_edit(interaction: Interaction, user: User | None) -> bool:
    """Librarians edit what they recorded; administrators edit everything."""
    if user is None:
        return False
    return user.role == "admin" or (interaction.librarian_id is not None and interaction.librarian_id == user.id)


def contact_label(contact: Contact) -> str:
    return f"{contact.full_name} <{contact.email}>"


def group_label(group: Group) -> str:
    return f"{group.name} ({group.code})" if group.code else group.name


class InteractionService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def timeline(self, contact_id: int | None = None, group_id: int | None = None) -> list[Interaction]:
        """Every interaction a contact or a group took part in, newest first."""
        query = select(Interaction).order_by(Interaction.occurred_on.desc(), Interaction.id.desc())
        if contact_id is not None:
            query = query.join(interaction_contact).where(interaction_contact.c.contact_id == contact_id)
        if group_id is not None:
            query = query.join(interaction_group).where(interaction_group.c.group_id == group_id)
        return list((await self.session.scalars(query)).unique())

    async def get(self, interaction_id: int) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id) if storable(interaction_id) else None

    def _filtered(self, f: InteractionFilter, today: date) -> Select:
        query = select(Interaction)
        if f.librarian_id is not None:
            query = query.where(Interaction.librarian_id == f.librarian_id)
        if f.contact_id is not None:
            query = query.where(Interaction.id.in_(
                select(interaction_contact.c.interaction_id).where(interaction_contact.c.contact_id == f.contact_id)))
        if f.group_id is not None:
            query = query.where(Interaction.id.in_(
                select(interaction_group.c.interaction_id).where(interaction_group.c.group_id == f.group_id)))
        if f.kind:
            query = query.where(Interaction.kind == f.kind)
        if f.date_from is not None:
            query = query.where(Interaction.occurred_on >= f.date_from)
        if f.date_to is not None:
            query = query.where(Interaction.occurred_on <= f.date_to)
        if f.follow_up == "done":
            query = query.where(Interaction.follow_up_on.is_not(None), Interaction.follow_up_done.is_(True))
        elif f.follow_up in ("open", "due", "overdue"):
            query = query.where(Interaction.follow_up_on.is_not(None), Interaction.follow_up_done.is_(False))
            if f.follow_up == "due":
                query = query.where(Interaction.follow_up_on <= today)
            elif f.follow_up == "overdue":
                query = query.where(Interaction.follow_up_on < today)
        return query

    async def list_interactions(
        self, filters: InteractionFilter, page: int | None = 1, per_page: int | None = None, today: date | None = None
    ) -> Page[Interaction]:
        today = today or date.today()
        query = self._filtered(filters, today)
        if filters.follow_up in ("open", "due", "overdue"):
            query = query.order_by(Interaction.follow_up_on, Interaction.id)
        else:
            query = query.order_by(Interaction.occurred_on.desc(), Interaction.id.desc())
        return await paginate(self.session, query, page, per_page)

    async def follow_ups(self, librarian_id: int, today: date | None = None) -> list[Interaction]:
        """A librarian's open follow-ups: every overdue one, and those due within the horizon."""
        today = today or date.today()
        query = (
            select(Interaction)
            .where(Interaction.librarian_id == librarian_id, Interaction.follow_up_done.is_(False))
            .where(Interaction.follow_up_on.is_not(None), Interaction.follow_up_on <= today + FOLLOW_UP_HORIZON)
            .order_by(Interaction.follow_up_on, Interaction.id)
        )
        return list((await self.session.scalars(query)).unique())

    async def recent_touching(self, contact_ids: Select, group_ids: Iterable[int], limit: int = 15) -> list[Interaction]:
        """The latest interactions with any of these contacts (a subquery) or groups, by anyone."""
        via_contacts = select(interaction_contact.c.interaction_id).where(interaction_contact.c.contact_id.in_(contact_ids))
        via_groups = select(interaction_group.c.interaction_id).where(interaction_group.c.group_id.in_(list(group_ids)))
        query = (
            select(Interaction)
            .where(or_(Interaction.id.in_(via_contacts), Interaction.id.in_(via_groups)))
            .order_by(Interaction.occurred_on.desc(), Interaction.id.desc())
            .limit(limit)
        )
        return list((await self.session.scalars(query)).unique())

    # --- participants -------------------------------------------------------------------

    async def participants(self, contact_ids: Iterable[int], group_ids: Iterable[int]) -> tuple[list[Contact], list[Group]]:
        """The contacts and groups with these ids (unknown ids are left out), sorted for display."""
        contact_ids, group_ids = [i for i in contact_ids if storable(i)], [i for i in group_ids if storable(i)]
        contacts = list(await self.session.scalars(
            select(Contact).where(Contact.id.in_(contact_ids)).order_by(Contact.sort_key))) if contact_ids else []
        groups = list(await self.session.scalars(
            select(Group).where(Group.id.in_(group_ids)).order_by(Group.name))) if group_ids else []
        return contacts, groups

    async def participant_choices(self, q: str | None = None, unit_ids: Iterable[int] | None = None) -> schemas.ParticipantChoices:
        """Contacts and groups for the picker: by name/email search, or by unit (with its sub-units)."""
        terms = fold(q).split()
        units = list(unit_ids or [])
        if not terms and not units:
            return schemas.ParticipantChoices(contacts=[], groups=[])
        contacts = select(Contact).order_by(Contact.sort_key).limit(MAX_CHOICES)
        groups = select(Group).order_by(Group.name).limit(MAX_CHOICES)
        for term in terms:
            contacts = contacts.where(Contact.search_key.contains(term, autoescape=True))
            groups = groups.where(Group.search_key.contains(term, autoescape=True))
        if units:
            contacts = contacts.where(Contact.unit_id.in_(units))
            groups = groups.where(Group.unit_id.in_(units))
        return schemas.ParticipantChoices(
            contacts=[schemas.Participant(id=c.id, name=contact_label(c)) for c in await self.session.scalars(contacts)],
            groups=[schemas.Participant(id=g.id, name=group_label(g)) for g in await self.session.scalars(groups)],
        )

    # --- writes ---------------------------------------------------------------------------

    async def _resolve(self, values: dict, acting: User, interaction: Interaction | None, errors: dict[str, str]) -> dict:
        """Check ids and rules on the merged values; returns the related objects to set."""
        related: dict = {}
        if "contact_ids" in values or interaction is None:
            ids = list(dict.fromkeys(values.get("contact_ids") or []))
            known = [i for i in ids if storable(i)]
            found = list(await self.session.scalars(select(Contact).where(Contact.id.in_(known)))) if known else []
            missing = sorted(set(ids) - {c.id for c in found})
            if missing:
                errors["contact_ids"] = _("Unknown contact: %(ids)s.", ids=", ".join(map(str, missing[:20])))
            related["contacts"] = found
        if "group_ids" in values or interaction is None:
            ids = list(dict.fromkeys(values.get("group_ids") or []))
            known = [i for i in ids if storable(i)]
            found = list(await self.session.scalars(select(Group).where(Group.id.in_(known)))) if known else []
            missing = sorted(set(ids) - {g.id for g in found})
            if missing:
                errors["group_ids"] = _("Unknown group: %(ids)s.", ids=", ".join(map(str, missing[:20])))
            related["groups"] = found
        contacts = related.get("contacts", interaction.contacts if interaction else [])
        groups = related.get("groups", interaction.groups if interaction else [])
        if not contacts and not groups and "contact_ids" not in errors and "group_ids" not in errors:
            errors["contact_ids"] = _("Choose at least one contact or group that took part.")
        chosen = values.get("librarian_id")
        if chosen is not None and chosen != acting.id:
            if acting.role != "admin":
                errors["librarian_id"] = _("Only administrators can record an interaction for another librarian.")
            elif not storable(chosen) or (librarian := await self.session.get(User, chosen)) is None:
                errors["librarian_id"] = _("Unknown librarian.")
            else:
                related["librarian"] = librarian
        elif interaction is None or "librarian_id" in values:
            related["librarian"] = acting
        occurred_on = values.get("occurred_on", interaction.occurred_on if interaction else None)
        follow_up_on = values.get("follow_up_on", interaction.follow_up_on if interaction else None)
        if occurred_on and follow_up_on and follow_up_on < occurred_on:
            errors["follow_up_on"] = _("The follow-up date cannot be before the date of the interaction.")
        if "subject" in values and not values["subject"]:
            errors["subject"] = _("This field is required.")
        return related

    async def problems(self, values: dict, acting: User, interaction: Interaction | None = None) -> dict[str, str]:
        """Rule errors of input that also failed to parse, so a form shows every problem at once."""
        errors: dict[str, str] = {}
        await self._resolve(values, acting, interaction, errors)
        return errors

    def _apply(self, interaction: Interaction, values: dict, related: dict) -> None:
        for key, value in values.items():
            if key not in ("contact_ids", "group_ids", "librarian_id"):
                setattr(interaction, key, value)
        for key, value in related.items():
            setattr(interaction, key, value)
        if interaction.follow_up_on is None:
            interaction.follow_up_done = False

    async def create_interaction(self, data: schemas.InteractionCreate, acting: User) -> Interaction:
        values = cleaned(data)
        errors: dict[str, str] = {}
        related = await self._resolve(values, acting, None, errors)
        if errors:
            raise FieldErrors(errors)
        interaction = Interaction(contacts=[], groups=[])
        self._apply(interaction, values, related)
        self.session.add(interaction)
        await self.session.flush()
        return interaction

    async def update_interaction(self, interaction: Interaction, data: schemas.InteractionUpdate, acting: User) -> Interaction:
        values = cleaned(data)
        errors: dict[str, str] = {}
        related = await self._resolve(values, acting, interaction, errors)
        if errors:
            raise FieldErrors(errors)
        self._apply(interaction, values, related)
        await self.session.flush()
        return interaction

    async def delete_interaction(self, interaction: Interaction) -> None:
        await self.session.delete(interaction)
        await self.session.flush()

    async def mark_follow_up_done(self, interaction: Interaction) -> Interaction:
        if interaction.follow_up_on is None:
            raise FieldErrors({"follow_up_on": _("This interaction has no follow-up.")})
        interaction.follow_up_done = True
        await self.session.flush()
        return interaction


def to_schema(interaction: Interaction) -> schemas.Interaction:
    return schemas.Interaction(
        id=interaction.id,
        occurred_on=interaction.occurred_on,
        kind=interaction.kind,  # type: ignore[arg-type]
        subject=interaction.subject,
        librarian_id=interaction.librarian_id,
        librarian_name=interaction.librarian.full_name if interaction.librarian else None,
        notes=interaction.notes,
        outcome=interaction.outcome,
        follow_up_on=interaction.follow_up_on,
        follow_up_note=interaction.follow_up_note,
        follow_up_done=interaction.follow_up_done,
        contacts=[schemas.Participant(id=c.id, name=c.full_name) for c in interaction.contacts],
        groups=[schemas.Participant(id=g.id, name=group_label(g)) for g in interaction.groups],
    )

"""Groups: student cohorts and classes, research groups — and who belongs to them."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Group, Unit, group_member
from crm.liaison.schemas import groups as schemas
from crm.liaison.search import group_key
from crm.liaison.services.contacts import SEARCH_KEY_LENGTH, search_terms
from crm.liaison.services.units import UnitService
from crm.pagination import Page, paginate


@dataclass
class GroupFilter:
    q: str | None = None
    kind: str | None = None
    unit_id: int | None = None


def duplicate_code_message() -> str:
    return _("Another group already uses this code.")


class GroupService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, group_id: int) -> Group | None:
        return await self.session.get(Group, group_id) if storable(group_id) else None

    async def get_by_code(self, code: str) -> Group | None:
        return await self.session.scalar(select(Group).where(func.lower(Group.code) == code.strip().lower()))

    async def list_groups(self, f: GroupFilter, page: int | None = 1, per_page: int | None = None) -> Page[Group]:
        query = select(Group).order_by(Group.name, Group.id)
        for token in search_terms(f.q):
            query = query.where(Group.search_key.contains(token, autoescape=True))
        if f.kind:
            query = query.where(Group.kind == f.kind)
        if f.unit_id is not None:
            units = await UnitService(self.session).descendant_ids([f.unit_id]) if storable(f.unit_id) else set()
            query = query.where(Group.unit_id.in_(sorted(units)))
        return await paginate(self.session, query, page, per_page)

    async def member_counts(self, group_ids: Iterable[int]) -> dict[int, int]:
        """Members per group, for a whole page of groups in one query."""
        ids = list(group_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(group_member.c.group_id, func.count()).where(group_member.c.group_id.in_(ids)).group_by(group_member.c.group_id)
        )
        return {gid: n for gid, n in rows.all()}

    async def _check(self, values: dict[str, Any], group: Group | None = None) -> dict[str, Any]:
        errors: dict[str, str] = {}
        if "name" in values and not values["name"]:
            errors["name"] = _("This field is required.")
        unit_id = values.get("unit_id")
        if unit_id is not None and (not storable(unit_id) or await self.session.get(Unit, unit_id) is None):
            errors["unit_id"] = _("Unknown unit.")
        if errors:
            raise FieldErrors(errors)
        if values.get("code"):
            other = await self.get_by_code(values["code"])
            if other is not None and (group is None or other.id != group.id):
                raise Conflict({"code": duplicate_code_message()})
        return values

    async def _save(self, group: Group, values: dict[str, Any], new: bool) -> Group:
        for key, value in values.items():
            setattr(group, key, value)
        group.search_key = group_key(group.name, group.code)[:SEARCH_KEY_LENGTH]
        if new:
            self.session.add(group)
        try:
            await self.session.flush()
        except IntegrityError:  # a concurrent writer took the code (see ContactService._save)
            await self.session.rollback()
            raise Conflict({"code": duplicate_code_message()}) from None
        await self.session.refresh(group, ["unit"])
        return group

    async def create_group(self, data: schemas.GroupCreate) -> Group:
        return await self._save(Group(), await self._check(cleaned(data)), new=True)

    async def update_group(self, group: Group, data: schemas.GroupUpdate) -> Group:
        return await self._save(group, await self._check(cleaned(data), group), new=False)

    async def delete_group(self, group: Group) -> None:
        await self.session.delete(group)
        await self.session.flush()

    # --- members ----------------------------------------------------------------------------

    async def members(self, group_id: int) -> list[Contact]:
        query = (
            select(Contact).join(group_member, group_member.c.contact_id == Contact.id)
            .where(group_member.c.group_id == group_id).order_by(Contact.sort_key, Contact.id)
        )
        return list((await self.session.scalars(query)).unique())

    async def member_ids(self, group_id: int) -> set[int]:
        rows = await self.session.scalars(select(group_member.c.contact_id).where(group_member.c.group_id == group_id))
        return set(rows)

    async def groups_of(self, contact_id: int) -> list[Group]:
        query = (
            select(Group).join(group_member, group_member.c.group_id == Group.id)
            .where(group_member.c.contact_id == contact_id).order_by(Group.name, Group.id)
        )
        return list((await self.session.scalars(query)).unique())

    async def _known_contacts(self, contact_ids: Iterable[int], field: str) -> list[int]:
        ids = list(dict.fromkeys(contact_ids))
        valid = [i for i in ids if storable(i)]
        known: set[int] = set()
        for start in range(0, len(valid), 500):
            chunk = valid[start:start + 500]
            known.update(await self.session.scalars(select(Contact.id).where(Contact.id.in_(chunk))))
        unknown = [str(i) for i in ids if i not in known]
        if unknown:
            raise FieldErrors({field: _("Unknown contact: %(ids)s.", ids=", ".join(unknown[:20]))})
        return ids

    async def set_members(self, group: Group, contact_ids: Iterable[int]) -> list[Contact]:
        """Make the member list exactly ``contact_ids`` (unknown ids: nothing changes)."""
        wanted = set(await self._known_contacts(contact_ids, "contact_ids"))
        current = await self.member_ids(group.id)
        if current - wanted:
            await self.session.execute(delete(group_member).where(
                group_member.c.group_id == group.id, group_member.c.contact_id.in_(sorted(current - wanted))))
        if wanted - current:
            await self.session.execute(insert(group_member), [
                {"group_id": group.id, "contact_id": cid} for cid in sorted(wanted - current)])
        return await self.members(group.id)

    async def add_member(self, group: Group, contact_id: int) -> None:
        await self._known_contacts([contact_id], "contact_id")
        member = await self.session.scalar(select(group_member.c.contact_id).where(
            group_member.c.group_id == group.id, group_member.c.contact_id == contact_id))
        if member is None:
            await self.session.execute(insert(group_member).values(group_id=group.id, contact_id=contact_id))

    async def remove_member(self, group: Group, contact_id: int) -> None:
        if storable(contact_id):
            await self.session.execute(delete(group_member).where(
                group_member.c.group_id == group.id, group_member.c.contact_id == contact_id))


def to_schema(group: Group, member_count: int = 0) -> schemas.Group:
    return schemas.Group(
        id=group.id, name=group.name, code=group.code, kind=group.kind,  # type: ignore[arg-type]
        unit_id=group.unit_id, unit_code=group.unit.code if group.unit else None,
        description=group.description, member_count=member_count,
    )

"""Contacts and groups for the liaison tests, made straight with the models (keys set as the services do)."""

from crm.liaison.models import Contact, Group, group_member
from crm.liaison.search import contact_keys, group_key


async def make_contact(factory, full_name: str, email: str, unit_id: int | None = None, kind: str = "lecturer") -> Contact:
    return await factory.add(Contact(full_name=full_name, email=email, email_key=email.lower(), kind=kind,
                                     unit_id=unit_id, **contact_keys(full_name, email)))


async def make_group(factory, name: str, code: str | None = None, unit_id: int | None = None, members=(), kind: str = "cohort") -> Group:
    group = await factory.add(Group(name=name, code=code, kind=kind, unit_id=unit_id, search_key=group_key(name, code)))
    if members:
        async with factory.session_maker() as s, s.begin():
            await s.execute(group_member.insert(), [{"group_id": group.id, "contact_id": c.id} for c in members])
    return group

"""The demo data: a Vietnamese university loaded once into an empty database, usable at once."""

import unicodedata
from datetime import date, timedelta

from sqlalchemy import func, select

from crm.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, load_demo_if_empty
from crm.interests.models import InterestProfile
from crm.liaison.models import Contact, Group, Interaction, LiaisonAssignment, Unit, group_member
from crm.security.models import User
from crm.text import fold
from tests.conftest import login


async def _count(session, model, *where) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_demo_loads_once_into_an_empty_database(settings, session_maker):
    assert await load_demo_if_empty(settings) is True
    assert await load_demo_if_empty(settings) is False  # idempotent: accounts exist now

    async with session_maker() as s:
        assert await _count(s, Contact, Contact.kind.in_(["lecturer", "researcher"])) >= 30
        assert await _count(s, Contact, Contact.kind == "student") >= 10
        assert await _count(s, Group) == 5
        assert await _count(s, User) == 3
        admin = await s.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
        assert admin.role == "admin"

        # Every librarian has current assignments, and at least one faculty has no liaison.
        for user in await s.scalars(select(User)):
            assert await _count(s, LiaisonAssignment, LiaisonAssignment.librarian_id == user.id) > 0
        assert await _count(s, LiaisonAssignment, LiaisonAssignment.role == "backup") > 0
        served = select(LiaisonAssignment.unit_id).where(LiaisonAssignment.unit_id.is_not(None))
        unserved = list(await s.scalars(select(Unit.code).where(Unit.kind == "faculty", Unit.id.not_in(served))))
        assert unserved

        # Groups have members; profiles have structured interests; the home page has follow-ups due soon.
        assert await _count(s, group_member) >= 20
        assert await _count(s, InterestProfile) >= 8
        soon = date.today() + timedelta(days=7)
        due = await _count(s, Interaction, Interaction.librarian_id == admin.id, Interaction.follow_up_done.is_(False),
                           Interaction.follow_up_on.between(date.today(), soon))
        assert due >= 2
        training = await s.scalar(select(Interaction).where(Interaction.kind == "training"))
        assert training is not None and training.groups


async def test_demo_text_is_nfc_and_search_keys_are_set(settings, session_maker):
    await load_demo_if_empty(settings)
    async with session_maker() as s:
        contacts = list(await s.scalars(select(Contact)))
        units = list(await s.scalars(select(Unit)))
        groups = list(await s.scalars(select(Group)))
        profiles = list(await s.scalars(select(InterestProfile)))
    texts = [c.full_name for c in contacts] + [u.name_vi for u in units] + [g.name for g in groups]
    texts += [kw for p in profiles for kw in p.keywords + p.subject_headings] + [p.name for p in profiles]
    assert all(unicodedata.is_normalized("NFC", t) for t in texts)
    assert any(u.name_vi == "Trường Đại học Khoa học Xã hội và Nhân văn" for u in units)
    assert any(c.full_name == "Nguyễn Văn An" and c.academic_title == "GS.TS." for c in contacts)
    for c in contacts:
        assert c.email_key == c.email.lower() and c.email.endswith("@demo.edu.vn")
        assert c.search_key == fold(f"{c.full_name} {c.email}")
    assert len({c.email_key for c in contacts}) == len(contacts)
    assert all(u.search_key for u in units) and all(g.search_key for g in groups)
    thu_vien_so = next(p for p in profiles if "thư viện số" in p.keywords)
    assert thu_vien_so.languages == ["vie", "eng"] and "025-025.99" in thu_vien_so.class_ranges


async def test_the_demo_admin_can_log_in(settings, client):
    await load_demo_if_empty(settings)
    await login(client, DEMO_ADMIN_EMAIL, DEMO_PASSWORD)
    r = await client.get("/api/me")
    assert r.status_code == 200 and r.json()["email"] == DEMO_ADMIN_EMAIL
    r = await client.get("/units")
    assert "Khoa Thông tin – Thư viện" in r.text


async def test_demo_is_not_loaded_next_to_real_accounts(settings, factory, session_maker):
    await factory.user()
    assert await load_demo_if_empty(settings) is False
    async with session_maker() as s:
        assert await _count(s, Contact) == 0


async def test_demo_includes_new_acquisitions_in_the_item_store(settings, session_maker):
    from sqlalchemy import func, select

    from crm.demo import load_demo_if_empty
    from crm.sources.models import Item, Source, SourceRun

    assert await load_demo_if_empty(settings)
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Item)) == 24
        run = await s.scalar(select(SourceRun))
        assert (run.status, run.new, run.rejected) == ("ok", 24, 0)
        source = await s.scalar(select(Source))
        assert source.owner_id is not None and source.interval_minutes is None
        titles = set(await s.scalars(select(Item.title)))
    assert "Thư viện số hóa trong trường đại học" in titles

"""A small university for the question tests, and helpers to ask, relay and read the queued emails."""

import email
import re
from dataclasses import dataclass
from email import policy

from sqlalchemy import select

from crm.interests.models import InterestProfile
from crm.liaison.models import Contact, Group, LiaisonAssignment, Unit
from crm.mail.models import OutboxMessage
from crm.questions.models import Question
from tests.conftest import csrf_from
from tests.liaison.people import make_contact, make_group

LINK = re.compile(r"https?://[^\s\"<>]+/questions/(track|reply)/[A-Za-z0-9_.\-]+")


@dataclass
class World:
    unit: Unit
    sub_unit: Unit
    khoa: Contact
    trang: Contact
    huong: Contact
    group: Group


async def make_world(factory) -> World:
    """Khoa CNTT with a department, three lecturers (one with a profile on học máy), and cohort K66."""
    unit = await factory.unit("CNTT", "Khoa Công nghệ Thông tin")
    sub = await factory.unit("CNTT-KHMT", "Bộ môn Khoa học Máy tính", kind="department", parent_id=unit.id)
    other = await factory.unit("NV", "Khoa Ngữ văn")
    khoa = await make_contact(factory, "Ngô Minh Khoa", "khoa.nm@example.edu.vn", sub.id)
    trang = await make_contact(factory, "Bùi Thị Thu Trang", "trang.btt@example.edu.vn", sub.id)
    huong = await make_contact(factory, "Nguyễn Thị Thanh Hương", "huong.ntt@example.edu.vn", other.id)
    async with factory.session_maker() as s, s.begin():
        for who in (khoa, trang, huong):
            contact = await s.get(Contact, who.id)
            contact.academic_title = "TS."
    await factory.add(InterestProfile(contact_id=trang.id, name="Học máy", keywords=["học máy", "khai phá dữ liệu"],
                                      subject_headings=[], class_ranges=[], languages=["vie"], search_key="hoc may"))
    await factory.add(InterestProfile(contact_id=huong.id, name="Ngữ pháp tiếng Việt", keywords=["ngữ pháp"],
                                      subject_headings=[], class_ranges=[], languages=[], search_key="ngu phap"))
    group = await make_group(factory, "K66 Khoa học Máy tính", "K66-KHMT", unit.id)
    return World(unit, sub, khoa, trang, huong, group)


async def assign_liaison(factory, librarian, *, unit_id=None, group_id=None, role="primary"):
    from datetime import date

    await factory.add(LiaisonAssignment(librarian_id=librarian.id, unit_id=unit_id, group_id=group_id, role=role,
                                        start_date=date(2020, 1, 1)))


def ask_data(**overrides) -> dict:
    data = {"student_name": "Nguyễn Thị Mai Anh", "email": "MaiAnh.K66@Example.edu.vn", "course": "K66-KHMT",
            "topic": "Tài liệu về học máy", "question": "Em cần tài liệu nhập môn về học máy cho khóa luận, thầy cô gợi ý giúp em.",
            "lecturer": "", "consent_share_email": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def ask(client, headers: dict | None = None, **overrides):
    """Submit the public form as a browser would (its page first, for the CSRF token)."""
    page = await client.get("/ask", headers=headers or {})
    token = csrf_from(page.text)
    return await client.post("/ask", data={**ask_data(**overrides), "_csrf_token": token}, headers=headers or {},
                             follow_redirects=False)


async def latest_question(session_maker) -> Question:
    async with session_maker() as s:
        return await s.scalar(select(Question).order_by(Question.id.desc()).limit(1))


async def queued(session_maker, prefix: str = "question") -> list[OutboxMessage]:
    async with session_maker() as s:
        rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.startswith(prefix))
                               .order_by(OutboxMessage.id))
        return list(rows)


def parse(row: OutboxMessage):
    return email.message_from_bytes(row.raw, policy=policy.default)


def bodies(row: OutboxMessage) -> tuple[str, str]:
    """(text, HTML) parts of a queued message."""
    message = parse(row)
    text = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",))
    return text, html_part.get_content() if html_part else ""


def link_in(row: OutboxMessage, kind: str) -> str:
    """The path of the tracking or reply link in a queued message's text part."""
    text, _html = bodies(row)
    for match in LINK.finditer(text):
        if match.group(1) == kind:
            return "/" + match.group(0).split("/", 3)[3]
    raise AssertionError(f"no {kind} link in:\n{text}")


async def relay_as(client, question_id: int, lecturer_id: int):
    """Assign and relay from the question's page (the client is a logged-in librarian)."""
    page = await client.get(f"/questions/{question_id}")
    token = csrf_from(page.text)
    return await client.post(f"/questions/{question_id}/assign", data={
        "lecturer_id": str(lecturer_id), "relay": "1", "_csrf_token": token}, follow_redirects=False)

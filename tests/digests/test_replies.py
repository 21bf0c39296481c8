"""A reply to a digest lands on the contact's timeline, with a follow-up for their liaison librarian."""

import unicodedata
from datetime import UTC, date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm.digests.models import Digest
from crm.digests.replies import FOLLOW_UP_AFTER, MAX_NOTES, consume_digest_replies, reply_text
from crm.liaison.models import Interaction, LiaisonAssignment
from crm.mail.models import InboundMessage, OutboxMessage
from tests.digests.subscribers import reload, subscribe
from tests.liaison.people import make_contact, make_group

SUBJECT = "Tài liệu mới cho Thầy An: 5 tài liệu"


def raw_reply(text: str | None, sender: str = "an@example.edu.vn", html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"Nguyễn Văn An <{sender}>"
    message["To"] = "lan.tt@thuvien.example.edu.vn"
    message["Subject"] = f"Re: {SUBJECT}"
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    return message.as_bytes()


async def sent_digest(factory, subscription, contact, key="digest:1") -> Digest:
    outbox = await factory.add(OutboxMessage(
        idempotency_key=key, message_id=f"<{key}@test>", kind="digest", recipient=contact.email, subject=SUBJECT,
        raw=b"", status="sent", attempts=1, next_attempt_at=datetime.now(UTC)))
    return await factory.add(Digest(subscription_id=subscription.id, contact_id=contact.id, period="2026-W48",
                                    subject=SUBJECT, item_count=5, outbox_id=outbox.id))


async def inbound(factory, raw: bytes, outbox_id: int | None, kind: str = "reply", sender="an@example.edu.vn") -> InboundMessage:
    return await factory.add(InboundMessage(received_at=datetime.now(UTC), kind=kind, outbox_id=outbox_id, sender=sender,
                                            subject=f"Re: {SUBJECT}", raw=raw))


async def interactions(session_maker) -> list[Interaction]:
    async with session_maker() as s:
        return list((await s.scalars(select(Interaction).order_by(Interaction.id))).unique())


async def test_a_reply_becomes_an_interaction_with_a_follow_up_for_the_liaison(factory, session_maker, settings):
    faculty = await factory.unit("TTTV", "Khoa Thông tin – Thư viện")
    department = await factory.unit("TTTV-TVS", "Bộ môn Thư viện số", kind="department", parent_id=faculty.id)
    liaison = await factory.user(email="lan.tt@example.edu.vn", full_name="Trần Thị Lan")
    backup = await factory.user(email="ha.pt@example.edu.vn", full_name="Phạm Thu Hà")
    await factory.add(LiaisonAssignment(librarian_id=backup.id, unit_id=department.id, role="backup",
                                        start_date=date(2025, 9, 1)),
                      LiaisonAssignment(librarian_id=liaison.id, unit_id=faculty.id, role="primary",
                                        start_date=date(2025, 9, 1)))
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", unit_id=department.id)
    sub = await subscribe(factory, an)
    digest = await sent_digest(factory, sub, an)
    text = ("Chào chị Lan,\n\nNhờ chị giữ giúp tôi cuốn số 3 (Thư viện số).\n\nCảm ơn chị.\n\n"
            "Vào Th 2, 23 thg 11, 2026 lúc 08:00 Thư viện <thu-vien@example.edu.vn> đã viết:\n"
            "> Tài liệu mới cho Thầy An\n> 1. Thư viện số …\n")
    message = await inbound(factory, raw_reply(text), digest.outbox_id)

    report = await consume_digest_replies(session_maker, settings)
    assert (report.consumed, report.interactions) == (1, 1)
    [entry] = await interactions(session_maker)
    assert entry.subject == f"Trả lời bản tin: {SUBJECT}"
    assert entry.kind == "email" and [c.id for c in entry.contacts] == [an.id]
    assert entry.notes == "Chào chị Lan,\n\nNhờ chị giữ giúp tôi cuốn số 3 (Thư viện số).\n\nCảm ơn chị."
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.digests.timezone)).date()
    assert entry.follow_up_on == today + FOLLOW_UP_AFTER and not entry.follow_up_done
    assert entry.follow_up_note and "Nguyễn Văn An" in entry.follow_up_note
    # The primary liaison of the faculty wins over the department's backup.
    assert entry.librarian_id == liaison.id
    assert (await reload(factory, InboundMessage, message.id)).consumed_at is not None

    # Once only.
    again = await consume_digest_replies(session_maker, settings)
    assert again.consumed == 0 and len(await interactions(session_maker)) == 1


async def test_the_reply_shows_on_the_contacts_timeline_page(client, factory, session_maker, settings, librarian):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    digest = await sent_digest(factory, sub, an)
    await inbound(factory, raw_reply("Cảm ơn, <b>rất hữu ích</b>!"), digest.outbox_id)
    await consume_digest_replies(session_maker, settings)
    page = await client.get(f"/contacts/{an.id}")
    assert "Trả lời bản tin" in page.text
    assert "<b>rất hữu ích</b>" not in page.text


async def test_only_unconsumed_replies_to_digests_are_taken(factory, session_maker, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    digest = await sent_digest(factory, sub, an)
    other_outbox = await factory.add(OutboxMessage(
        idempotency_key="question:1", message_id="<q1@test>", kind="question", recipient=an.email, subject="Câu hỏi",
        raw=b"", status="sent", attempts=1, next_attempt_at=datetime.now(UTC)))
    bounce = await inbound(factory, b"Subject: failure\n\nbounced", digest.outbox_id, kind="bounce")
    question_reply = await inbound(factory, raw_reply("Về câu hỏi"), other_outbox.id)
    orphan = await inbound(factory, raw_reply("Không rõ thư nào"), None)
    report = await consume_digest_replies(session_maker, settings)
    assert report.consumed == 0 and await interactions(session_maker) == []
    for message in (bounce, question_reply, orphan):
        assert (await reload(factory, InboundMessage, message.id)).consumed_at is None


async def test_group_digest_replies_go_to_the_groups_liaison(factory, session_maker, settings):
    group_liaison = await factory.user(email="tuan.dm@example.edu.vn", full_name="Đỗ Minh Tuấn")
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    group = await make_group(factory, "Lớp K66 Khoa học Máy tính", "K66-KHMT", members=[an])
    await factory.add(LiaisonAssignment(librarian_id=group_liaison.id, group_id=group.id, role="primary",
                                        start_date=date(2025, 9, 1)))
    sub = await subscribe(factory, group)
    digest = await sent_digest(factory, sub, an)
    await inbound(factory, raw_reply("Xin thêm tài liệu về học máy."), digest.outbox_id)
    await consume_digest_replies(session_maker, settings)
    [entry] = await interactions(session_maker)
    assert entry.librarian_id == group_liaison.id


async def test_without_a_liaison_the_follow_up_has_no_librarian(factory, session_maker, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an)
    digest = await sent_digest(factory, sub, an)
    await inbound(factory, raw_reply(None, html="<p>Cảm ơn <i>thư viện</i></p>"), digest.outbox_id,
                  sender="an.nguyen@gmail.com")
    await consume_digest_replies(session_maker, settings)
    [entry] = await interactions(session_maker)
    assert entry.librarian_id is None and entry.follow_up_on is not None
    # HTML-only replies are read as text; a different sender address is noted.
    assert "an.nguyen@gmail.com" in entry.notes and "Cảm ơn thư viện" in entry.notes


def test_reply_text_is_nfc_trimmed_capped_and_unquoted():
    nfd = unicodedata.normalize("NFD", "  Cảm ơn thư viện  \n")
    assert reply_text(nfd) == unicodedata.normalize("NFC", "Cảm ơn thư viện")
    assert reply_text("Ok\n\nOn Mon, Nov 23, 2026 at 8:00 AM Thư viện wrote:\n> old") == "Ok"
    assert reply_text("Ok\n-----Original Message-----\nFrom: x") == "Ok"
    assert reply_text("> only quotes") == "> only quotes"
    assert len(reply_text("x" * (MAX_NOTES * 2))) == MAX_NOTES
    assert reply_text(None) == ""

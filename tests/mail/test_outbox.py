"""Queuing: the MIME built for each message, and one row per idempotency key."""

import asyncio
from email import policy
from email.parser import BytesParser

from sqlalchemy import func, select

from crm.mail.models import OutboxMessage
from crm.mail.outbox import Attachment, enqueue, format_address, message_id_for, render_message
from crm.mail.services import parse_message

SENDER = "Thư viện <thu-vien@thuvien.demo.edu.vn>"


def _parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def test_the_message_reads_back_exactly_as_it_was_given():
    raw = render_message(
        sender=SENDER, to=format_address("Nguyễn Văn An", "an.nguyenvan@demo.edu.vn"),
        subject="Thư mục tài liệu mới tháng 11 – Khoa Công nghệ Thông tin – thư viện số và số hóa tài liệu",
        text="Kính gửi Thầy An,\n\nThư viện xin giới thiệu 12 tài liệu mới.\n", html="<p>Kính gửi <b>Thầy An</b></p>\n",
        message_id="<abc@thuvien.demo.edu.vn>", reply_to=format_address("Trần Thị Lan", "lan.tranthi@thuvien.demo.edu.vn"),
        headers={"List-Unsubscribe": "<https://thuvien.demo.edu.vn/unsubscribe/tok>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        attachments=[Attachment("tài-liệu-mới.ris", b"TY  - BOOK\nER  - \n", "application/x-research-info-systems")],
    )
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    message = _parse(raw)
    assert str(message["From"]) == "Thư viện <thu-vien@thuvien.demo.edu.vn>"
    assert str(message["To"]) == "Nguyễn Văn An <an.nguyenvan@demo.edu.vn>"
    assert str(message["Reply-To"]) == "Trần Thị Lan <lan.tranthi@thuvien.demo.edu.vn>"
    assert str(message["Subject"]).startswith("Thư mục tài liệu mới tháng 11 – Khoa")
    assert message["Message-ID"] == "<abc@thuvien.demo.edu.vn>" and message["Date"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/mixed" and message["MIME-Version"] == "1.0"
    parsed = parse_message(raw)
    assert parsed.text == "Kính gửi Thầy An,\n\nThư viện xin giới thiệu 12 tài liệu mới.\n"
    assert parsed.html == "<p>Kính gửi <b>Thầy An</b></p>\n"
    [attachment] = parsed.attachments
    assert attachment.filename == "tài-liệu-mới.ris" and attachment.size == len(b"TY  - BOOK\nER  - \n")
    # Vietnamese bodies travel as 8bit UTF-8, readable and compact.
    assert "Thư viện xin giới thiệu".encode() in raw and b"Content-Transfer-Encoding: 8bit" in raw


def test_text_only_and_very_long_lines():
    long_line = "tài liệu " * 300
    raw = render_message(sender=SENDER, to="an.nguyenvan@demo.edu.vn", subject="Plain ASCII subject",
                        text=long_line, message_id="<x@y>")
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    assert b"quoted-printable" in raw
    message = _parse(raw)
    assert message.get_content_type() == "text/plain" and message.get_content() == long_line
    assert message["Subject"] == "Plain ASCII subject"


def test_header_injection_is_impossible():
    raw = render_message(sender=SENDER, to="an.nguyenvan@demo.edu.vn", subject="Câu hỏi\r\nBcc: victim@example.com",
                        text="x", message_id="<x@y>", headers={"X-Note": "a\nTo: other@example.com"})
    message = _parse(raw)
    assert message["Bcc"] is None and message.get_all("To") == ["an.nguyenvan@demo.edu.vn"]
    assert str(message["Subject"]) == "Câu hỏi Bcc: victim@example.com"


async def test_one_row_per_key_and_a_stable_message_id(session_maker):
    async def queue(subject: str) -> OutboxMessage:
        async with session_maker() as s, s.begin():
            return await enqueue(s, key="digest:7:3:2026-11", kind="digest", sender=SENDER,
                                 to=format_address("Nguyễn Văn An", "An.NguyenVan@demo.edu.vn"), subject=subject,
                                 text="Kính gửi Thầy An,\n")

    first = await queue("Thư mục tháng 11")
    assert first.id and first.status == "queued" and first.attempts == 0 and first.recipient == "an.nguyenvan@demo.edu.vn"
    assert first.message_id == message_id_for("digest:7:3:2026-11", "thuvien.demo.edu.vn")
    again = await queue("Another subject")
    assert again.id == first.id and again.subject == "Thư mục tháng 11"
    # Two processes queuing the same key at the same moment still make one row.
    await asyncio.gather(queue("a"), queue("b"))
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        stored = await s.get(OutboxMessage, first.id)
    assert _parse(stored.raw)["Message-ID"] == first.message_id


async def test_the_row_returned_is_the_stored_row(session_maker):
    async with session_maker() as s, s.begin():
        row = await enqueue(s, key="notice:1", kind="notice", sender=SENDER, to="lan.tranthi@demo.edu.vn",
                            subject="Thông báo", text="Kính gửi Cô Lan,\n")
        row.status = "cancelled"  # a caller may change it in the same transaction
    async with session_maker() as s:
        stored = await s.get(OutboxMessage, row.id)
    assert stored.status == "cancelled" and stored.created_at is not None and stored.next_attempt_at is not None


# --- the serializer against the standard library's parser --------------------------------------

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st  # noqa: E402

_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=3000)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200), text=_texts,
       html=st.none() | _texts, name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60),
       filename=st.none() | st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
       content=st.binary(max_size=2000))
def test_any_message_reads_back_exactly_and_without_defects(subject, text, html, name, filename, content):
    attachments = [Attachment(filename, content, "application/x-research-info-systems")] if filename else None
    raw = render_message(sender=SENDER, to=format_address(name, "an.nguyenvan@demo.edu.vn"), subject=subject,
                         text=text, html=html, message_id="<id@thuvien.demo.edu.vn>",
                         headers={"List-Id": "<digests.thuvien.demo.edu.vn>"}, attachments=attachments)
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    message = _parse(raw)
    assert all(not part.defects for part in message.walk())
    assert str(message["Subject"]).split() == subject.split()
    assert message["To"].addresses[0].addr_spec == "an.nguyenvan@demo.edu.vn"
    assert message["List-Id"] == "<digests.thuvien.demo.edu.vn>" and message["MIME-Version"] == "1.0"
    normalized = (lambda value: value.replace("\r\n", "\n").replace("\r", "\n"))
    bodies = [part for part in message.walk() if part.get_content_maintype() == "text"]
    assert bodies[0].get_content_type() == "text/plain"
    assert bodies[0].get_payload(decode=True).decode("utf-8") == normalized(text)
    if html is not None:
        assert bodies[1].get_content_type() == "text/html"
        assert bodies[1].get_payload(decode=True).decode("utf-8") == normalized(html)
    files = [part for part in message.walk() if part.get_content_disposition() == "attachment"]
    if filename:
        [attached] = files
        assert attached.get_payload(decode=True) == content
        assert attached.get_filename() == (" ".join(filename.replace("\\", "").replace('"', "").split()) or "attachment")
    else:
        assert files == []


@given(name=st.sampled_from(["Subject", "List-Unsubscribe", "X-Note"]),
       value=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
       | st.from_regex(r"<https://[a-z.]{5,40}/[A-Za-z0-9._~-]{40,160}>", fullmatch=True))
@hypothesis_settings(max_examples=300, deadline=None)
def test_header_lines_are_folded_exactly_as_the_standard_library_folds_them(name, value):
    from email.policy import compat32

    from crm.mail.outbox import _header_line, _header_value

    assert _header_line(name, value) == compat32.fold_binary(name, _header_value(name, value))

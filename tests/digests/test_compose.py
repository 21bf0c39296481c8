"""Composition: what a digest holds, once per recipient, and the email it queues."""

import email
import re
from datetime import UTC, date, datetime, timedelta
from email import policy

import rispy
from sqlalchemy import func, select

from crm.digests import compose, selection
from crm.digests.models import Digest, DigestEntry, OptOut, Subscription
from crm.liaison.models import Contact, Interaction, LiaisonAssignment, interaction_contact
from crm.mail.models import OutboxMessage
from tests.digests.digestdata import make_item, make_match, make_profile, make_source
from tests.liaison.people import make_contact, make_group


async def subscription_for(factory, owner, **fields) -> Subscription:
    values = {"language": "vi", "max_items": 30, "sections": ["acquisitions", "articles", "repository"], **fields}
    if isinstance(owner, Contact):
        return await factory.add(Subscription(contact_id=owner.id, **values))
    return await factory.add(Subscription(group_id=owner.id, **values))


async def queue(session_maker, settings, subscription, contact, period="2026-W48", **kw):
    async with session_maker() as s, s.begin():
        return await compose.queue_digest(s, settings, await s.get(Subscription, subscription.id),
                                          await s.get(Contact, contact.id), period, **kw)


async def preview(session_maker, settings, subscription, contact):
    async with session_maker() as s:
        return await compose.preview_digest(s, settings, await s.get(Subscription, subscription.id),
                                            await s.get(Contact, contact.id))


async def count(session_maker, model) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def outbox_message(session_maker, digest):
    async with session_maker() as s:
        row = await s.get(OutboxMessage, digest.outbox_id)
    return row, email.message_from_bytes(row.raw, policy=policy.default)


async def test_grouped_by_profile_then_section_without_repeats(factory, session_maker, settings):
    marc, feed, oai = [await make_source(factory, k) for k in ("marc", "feed", "oai")]
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    digital = await make_profile(factory, "Thư viện số", contact=an)
    open_data = await make_profile(factory, "Dữ liệu mở", contact=an)
    book = await make_item(factory, "Thư viện số và chuyển đổi số", source=marc, material_type="book")
    both = await make_item(factory, "Dữ liệu mở cho thư viện số", source=marc, material_type="book")
    article = await make_item(factory, "Open data in Vietnamese libraries", source=feed, material_type="article",
                              journal="Tạp chí Thư viện Việt Nam", doi="10.1234/tcvn.2025.1")
    thesis = await make_item(factory, "Kho dữ liệu mở của trường", source=oai, material_type="thesis")
    await make_match(factory, book, digital, 2.0)
    await make_match(factory, both, digital, 1.0)
    await make_match(factory, both, open_data, 3.0)  # its best profile: listed there only
    await make_match(factory, article, digital, 1.5)
    await make_match(factory, thesis, open_data, 1.0)
    subscription = await subscription_for(factory, an)

    rendered = await preview(session_maker, settings, subscription, an)
    layout = [(b.name, [(s.key, [e.item.id for e in s.entries]) for s in b.sections]) for b in rendered.blocks]
    assert layout == [
        ("Dữ liệu mở", [("acquisitions", [both.id]), ("repository", [thesis.id])]),
        ("Thư viện số", [("acquisitions", [book.id]), ("articles", [article.id])]),
    ]
    assert rendered.item_count == 4

    digest = await queue(session_maker, settings, subscription, an)
    async with session_maker() as s:
        entries = (await s.execute(select(DigestEntry.item_id, DigestEntry.profile_id, DigestEntry.section)
                                   .where(DigestEntry.digest_id == digest.id))).all()
    assert sorted(entries) == sorted([(both.id, open_data.id, "acquisitions"), (thesis.id, open_data.id, "repository"),
                                      (book.id, digital.id, "acquisitions"), (article.id, digital.id, "articles")])
    assert digest.item_count == 4 and digest.subject == "Bản tin tài liệu mới: 4 tài liệu"


async def test_an_item_reaches_a_recipient_once_and_nothing_new_sends_nothing(factory, session_maker, settings):
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    first = await make_item(factory, "Thư viện số", source=marc)
    await make_match(factory, first, profile)
    subscription = await subscription_for(factory, an)

    assert (await queue(session_maker, settings, subscription, an, "2026-W48")).item_count == 1
    assert await queue(session_maker, settings, subscription, an, "2026-W49") is None
    assert await preview(session_maker, settings, subscription, an) is None
    assert await count(session_maker, Digest) == 1 and await count(session_maker, OutboxMessage) == 1

    second = await make_item(factory, "Thư viện số thế hệ mới", source=marc)
    await make_match(factory, second, profile)
    digest = await queue(session_maker, settings, subscription, an, "2026-W50")
    async with session_maker() as s:
        items = list(await s.scalars(select(DigestEntry.item_id).where(DigestEntry.digest_id == digest.id)))
    assert items == [second.id]


async def test_dismissed_and_stale_matches_are_left_out(factory, session_maker, settings):
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    kept = await make_item(factory, "Giữ lại", source=marc)
    dismissed = await make_item(factory, "Bị loại", source=marc)
    stale = await make_item(factory, "Quá cũ", source=marc)
    await make_match(factory, kept, profile)
    await make_match(factory, dismissed, profile, dismissed=True)
    await make_match(factory, stale, profile, age=selection.STALE_AFTER + timedelta(days=1))
    inactive = await make_profile(factory, "Hồ sơ tạm dừng", contact=an, active=False)
    await make_match(factory, await make_item(factory, "Hồ sơ tạm dừng", source=marc), inactive)
    subscription = await subscription_for(factory, an)
    rendered = await preview(session_maker, settings, subscription, an)
    assert [e.item.id for e in rendered.entries] == [kept.id]


async def test_sections_and_max_items(factory, session_maker, settings):
    marc, feed = await make_source(factory, "marc"), await make_source(factory, "feed")
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    now = datetime.now(UTC)
    articles = [await make_item(factory, f"Bài báo {i}", source=feed, material_type="article",
                                seen_at=now - timedelta(days=10 - i)) for i in range(4)]
    book = await make_item(factory, "Sách", source=marc, material_type="book")
    for article, score in zip(articles, (1.0, 2.0, 2.0, 0.5)):
        await make_match(factory, article, profile, score)
    await make_match(factory, book, profile, 9.0)
    only_articles = await subscription_for(factory, an, sections=["articles"], max_items=2)
    rendered = await preview(session_maker, settings, only_articles, an)
    # Best score first; equal scores: the newest item first. The book is in another section.
    assert [e.item.id for e in rendered.entries] == [articles[2].id, articles[1].id]
    assert {e.section for e in rendered.entries} == {"articles"}


async def test_idempotent_per_period(factory, session_maker, settings):
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    await make_match(factory, await make_item(factory, "Một", source=marc), profile)
    subscription = await subscription_for(factory, an)
    assert await queue(session_maker, settings, subscription, an, "2026-11") is not None
    await make_match(factory, await make_item(factory, "Hai", source=marc), profile)
    assert await queue(session_maker, settings, subscription, an, "2026-11") is None
    async with session_maker() as s:
        keys = list(await s.scalars(select(OutboxMessage.idempotency_key)))
    assert keys == [f"digest:{an.id}:{subscription.id}:2026-11"]


async def test_the_email_headers_reply_to_liaison_and_attachment(factory, session_maker, settings):
    librarian = await factory.user(email="lan@lib.example.edu.vn", full_name="Trần Thị Lan")
    faculty = await factory.unit()
    department = await factory.unit(code="HTTT", name_vi="Bộ môn Hệ thống Thông tin", kind="department",
                                    parent_id=faculty.id)
    await factory.add(LiaisonAssignment(librarian_id=librarian.id, unit_id=faculty.id, role="primary",
                                        start_date=date(2020, 1, 1)))
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", unit_id=department.id)
    profile = await make_profile(factory, "Thư viện số", contact=an)
    for title in ("Thư viện số", "Chuyển đổi số trong thư viện"):
        await make_match(factory, await make_item(factory, title, source=marc, authors=["Nguyễn, Văn An"], year=2025,
                                                  publisher="NXB Đại học Quốc gia Hà Nội"), profile)
    subscription = await subscription_for(factory, an)
    digest = await queue(session_maker, settings, subscription, an)
    row, message = await outbox_message(session_maker, digest)

    assert row.kind == "digest" and row.recipient == "an@example.edu.vn"
    assert message["Reply-To"].addresses[0].addr_spec == "lan@lib.example.edu.vn"
    assert message["Reply-To"].addresses[0].display_name == "Trần Thị Lan"
    unsubscribe = message["List-Unsubscribe"]
    assert re.fullmatch(r"<http://testserver\.local/unsubscribe/[^>]+>", "".join(unsubscribe.split()))  # one-click only
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    assert "Trần Thị Lan" in text and "/preferences/" in text and "/unsubscribe/" in text
    assert "/digests/export.bib?token=" in text and "/digests/export.ris?token=" in text
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["digest-2026-W48.ris"]
    records = rispy.loads(attachments[0].get_content().decode("utf-8") if isinstance(attachments[0].get_content(), bytes)
                          else attachments[0].get_content())
    assert sorted(r["title"] for r in records) == ["Chuyển đổi số trong thư viện", "Thư viện số"]
    assert records[0]["authors"] == ["Nguyễn, Văn An"]


async def test_without_a_liaison_the_library_answers(factory, session_maker, settings):
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    await make_match(factory, await make_item(factory, "Thư viện số", source=marc), profile)
    digest = await queue(session_maker, settings, await subscription_for(factory, an), an)
    _row, message = await outbox_message(session_maker, digest)
    assert message["Reply-To"] == settings.mail.sender


async def test_the_digest_is_on_the_contacts_timeline(factory, session_maker, settings):
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Thư viện số", contact=an)
    for title in ("Một", "Hai", "Ba"):
        await make_match(factory, await make_item(factory, f"Sách {title}", source=marc), profile)
    digest = await queue(session_maker, settings, await subscription_for(factory, an), an)
    async with session_maker() as s:
        interaction = await s.scalar(select(Interaction).join(interaction_contact)
                                     .where(interaction_contact.c.contact_id == an.id))
    assert interaction.kind == "email"
    assert interaction.subject == "Bản tin tài liệu mới: 3 tài liệu"
    assert all(f"Sách {t}" in interaction.notes for t in ("Một", "Hai", "Ba"))
    assert f"/digests/{digest.id}" in interaction.notes


async def test_group_digest_goes_to_each_member_once(factory, session_maker, settings):
    librarian = await factory.user(email="hoa@lib.example.edu.vn", full_name="Lê Thị Hoa")
    marc = await make_source(factory)
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn", kind="student")
    binh = await make_contact(factory, "Trần Văn Bình", "binh@example.edu.vn", kind="student")
    chi = await make_contact(factory, "Phạm Thị Chi", "chi@example.edu.vn", kind="student")
    group = await make_group(factory, "Lớp K65 Thông tin – Thư viện", code="K65TV", members=[an, binh, chi])
    await factory.add(LiaisonAssignment(librarian_id=librarian.id, group_id=group.id, role="primary",
                                        start_date=date(2020, 1, 1)))
    group_profile = await make_profile(factory, "Khóa luận tốt nghiệp", group=group)
    own_profile = await make_profile(factory, "Thư viện số", contact=an)
    shared = await make_item(factory, "Thư viện số cho sinh viên", source=marc)
    await make_match(factory, shared, group_profile)
    await make_match(factory, shared, own_profile)
    group_subscription = await subscription_for(factory, group)
    own_subscription = await subscription_for(factory, an)
    await factory.add(OptOut(subscription_id=group_subscription.id, contact_id=chi.id))

    async with session_maker() as s, s.begin():
        gs, own = await s.get(Subscription, group_subscription.id), await s.get(Subscription, own_subscription.id)
        pairs = [(gs, await s.get(Contact, c.id)) for c in (an, binh, chi)] + [(own, await s.get(Contact, an.id))]
        digests = await compose.queue_digests(s, settings, pairs, "2026-W48")
    assert sorted(d.contact_id for d in digests) == sorted([an.id, binh.id])  # An once, Chi left
    _row, message = await outbox_message(session_maker, digests[0])
    assert message["Reply-To"].addresses[0].addr_spec == "hoa@lib.example.edu.vn"
    text = message.get_body(("plain",)).get_content()
    assert "Chào bạn" in text and "Lớp K65 Thông tin – Thư viện" in text


async def test_english_digest_and_escaping(factory, session_maker, settings):
    marc = await make_source(factory)
    an = await make_contact(factory, "John Smith", "smith@example.edu")
    profile = await make_profile(factory, "Digital <libraries>", contact=an)
    await make_match(factory, await make_item(factory, "Hacking <script>alert(1)</script> & co", source=marc,
                                              publisher="<b>Press</b>"), profile)
    rendered = await preview(session_maker, settings, await subscription_for(factory, an, language="en"), an)
    assert rendered.subject == "New in the library for you: 1 item"
    assert "<script>" not in rendered.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<b>Press</b>" not in rendered.html and "Digital &lt;libraries&gt;" in rendered.html
    assert "Hacking <script>alert(1)</script> & co" in rendered.text
    assert rendered.html.count("<style") == 1 and 'style="' in rendered.html  # CSS inlined, @media kept


async def test_arrived_requests_come_first_once_and_are_marked(factory, session_maker, settings):
    from crm.acquisitions.models import Arrival

    marc = await make_source(factory, "marc")
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    digital = await make_profile(factory, "Thư viện số", contact=an)
    asked = await make_item(factory, "Thư viện số: lý thuyết và thực hành", source=marc, material_type="book")
    other = await make_item(factory, "Thư viện số cho mọi người", source=marc, material_type="book")
    old = await make_item(factory, "Một cuốn sách về từ lâu", source=marc, material_type="book")
    await make_match(factory, asked, digital, 5.0)  # also matches: listed once, among the arrivals
    await make_match(factory, other, digital, 1.0)
    now = datetime.now(UTC)
    for item, reason, when in ((asked, "reading_list", now), (asked, "suggestion", now),
                               (old, "suggestion", now - selection.STALE_AFTER - timedelta(days=1))):
        await factory.add(Arrival(key=f"{reason}:{item.id}", item_id=item.id, reason=reason, contact_id=an.id,
                                  email=an.email, arrived_at=when))
    subscription = await subscription_for(factory, an, language="en")

    rendered = await preview(session_maker, settings, subscription, an)
    layout = [(b.kind, b.name, [e.item.id for s in b.sections for e in s.entries]) for b in rendered.blocks]
    assert layout == [("arrivals", "Arrived at your request", [asked.id]), ("profile", "Thư viện số", [other.id])]
    [arrived] = rendered.blocks[0].sections[0].entries
    assert arrived.arrived and arrived.reasons == ["Arrived: on the reading list of your course"]
    assert "✓ Arrived: on the reading list of your course" in rendered.text
    assert "Your reading lists and suggestions" in rendered.html

    digest = await queue(session_maker, settings, subscription, an)
    assert digest.item_count == 2
    async with session_maker() as s:
        entries = (await s.execute(select(DigestEntry.item_id, DigestEntry.profile_id)
                                   .where(DigestEntry.digest_id == digest.id).order_by(DigestEntry.position))).all()
    assert entries == [(asked.id, None), (other.id, digital.id)]
    assert await preview(session_maker, settings, subscription, an) is None  # both sent: nothing new

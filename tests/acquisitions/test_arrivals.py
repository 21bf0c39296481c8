"""Arrivals: an ingested item that fills an open suggestion or reading-list gap tells the suggester
and the course's lecturers once (not again on a re-run), and the digest can mark it."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from crm.acquisitions.models import Arrival, ArrivalRun, Citation, Suggestion
from crm.acquisitions.services import arrivals_for_contact, resolve_arrivals
from crm.acquisitions.services.citations import CitationService
from crm.acquisitions.services.parsing import CitationInput
from crm.acquisitions.services.suggestions import SuggestionService
from jobs import JobContext
from jobs import acquisitions as acquisitions_job
from tests.acquisitions.helpers import (
    book_record, count, ingest_demo, ingest_records, item_id, make_course, outbox, people,
)
from tests.acquisitions.test_suggestions import STUDENT, parsed
from tests.conftest import form_post


async def test_a_suggested_title_arriving_tells_the_suggester_once(client, session_maker, factory, settings):
    await form_post(client, "/suggest", None, STUDENT)  # "Giáo trình kế toán tài chính" by Ngô Thế Chi
    first = await resolve_arrivals(session_maker, settings)
    assert first.resolved == 0
    before = len(await outbox(session_maker))  # the acknowledgement
    await ingest_records(session_maker, factory, book_record("KT0001", "Giáo trình kế toán tài chính", "Ngô Thế Chi",
                                                             "978-604-0-00100-9"))
    run = await resolve_arrivals(session_maker, settings)
    assert (run.items, run.resolved) == (1, 1)
    messages = await outbox(session_maker)
    assert len(messages) == before + 1
    arrived = messages[-1]
    assert arrived.recipient == "maianh@st.demo.edu.vn" and arrived.idempotency_key.endswith(":received")
    subject, text, _html = parsed(arrived)
    assert "Đã về thư viện" in subject and "Giáo trình kế toán tài chính" in text and "025.04" in text
    async with session_maker() as s:
        suggestion = await s.scalar(select(Suggestion))
    assert suggestion.status == "received" and suggestion.item_id == await item_id(session_maker, "Giáo trình kế toán tài chính")
    # A re-run (or the same file ingested again) tells nobody twice.
    again = await resolve_arrivals(session_maker, settings)
    assert again.items == 0 and len(await outbox(session_maker)) == before + 1
    await ingest_records(session_maker, factory, book_record("KT0001", "Giáo trình kế toán tài chính", "Ngô Thế Chi",
                                                             "978-604-0-00100-9"), name="Lần nữa")
    await resolve_arrivals(session_maker, settings)
    assert len(await outbox(session_maker)) == before + 1
    assert await count(session_maker, Arrival) == 1


async def test_a_title_that_arrives_without_diacritics_and_an_isbn_still_counts(client, session_maker, factory, settings):
    r = await form_post(client, "/suggest", None, {**STUDENT, "isbn": "978-604-0-00101-6"})
    assert r.status_code == 200
    await ingest_records(session_maker, factory, book_record("KT0002", "Ke toan tai chinh doanh nghiep", "Khac Tac Gia",
                                                             "9786040001016"))
    assert (await resolve_arrivals(session_maker, settings)).resolved == 1  # same ISBN, another title


async def test_a_reading_list_gap_filled_tells_the_lecturers_in_one_email(session_maker, factory, settings):
    lan, minh, cohort = await people(factory)
    course = await make_course(factory, lecturers=[lan, minh], groups=[cohort])
    async with session_maker() as s, s.begin():
        service = CitationService(s, settings)
        await service.add(await s.merge(course), [
            CitationInput(title="Bảo quản tài liệu số", authors=["Vũ Văn Sơn"]),
            CitationInput(title="Siêu dữ liệu cho thư viện số", authors=["Cao Minh Kiểm"], requirement="recommended"),
            CitationInput(title="Một cuốn sách chưa về"),
        ])
    assert await resolve_arrivals(session_maker, settings)
    await ingest_records(session_maker, factory,
                         book_record("TV0001", "Bảo quản tài liệu số", "Vũ Văn Sơn"),
                         book_record("TV0002", "Sieu du lieu cho thu vien so", "Cao Minh Kiem"),
                         book_record("TV0003", "Một cuốn sách khác hẳn", "Ai Đó"))
    run = await resolve_arrivals(session_maker, settings)
    assert run.resolved == 2
    messages = await outbox(session_maker)
    assert sorted(m.recipient for m in messages) == ["lantt@demo.edu.vn", "minhlh@demo.edu.vn"]
    subject, text, _html = parsed(messages[0])
    assert "2 tài liệu" in subject and "Bảo quản tài liệu số" in text and "Sieu du lieu cho thu vien so" in text
    assert "TV2012" in text
    async with session_maker() as s:
        statuses = [(c.title, c.status, c.arrived_at is not None) for c in
                    await s.scalars(select(Citation).order_by(Citation.position))]
    assert statuses == [("Bảo quản tài liệu số", "held", True), ("Siêu dữ liệu cho thư viện số", "held", True),
                        ("Một cuốn sách chưa về", "not_held", False)]
    # The digest composer's view: what arrived for Lan since yesterday.
    async with session_maker() as s:
        notes = await arrivals_for_contact(s, lan.id, datetime.now(UTC) - timedelta(days=1))
        later = await arrivals_for_contact(s, lan.id, datetime.now(UTC) + timedelta(minutes=1))
    assert {n.reason for n in notes} == {"reading_list"} and len(notes) == 2 and later == []
    assert {n.item_id for n in notes} == {await item_id(session_maker, "Bảo quản tài liệu số"),
                                          await item_id(session_maker, "Sieu du lieu cho thu vien so")}
    assert (await resolve_arrivals(session_maker, settings)).resolved == 0 and len(await outbox(session_maker)) == 2


async def test_items_already_held_when_the_gap_was_recorded_are_not_arrivals(session_maker, factory, settings):
    await ingest_demo(session_maker, factory)
    lan, _minh, _cohort = await people(factory)
    course = await make_course(factory, lecturers=[lan])
    async with session_maker() as s, s.begin():
        # A librarian said "not this one" to the catalogue's Học máy: the gap stays open.
        service = CitationService(s, settings)
        [citation] = await service.add(await s.merge(course), [CitationInput(title="Học máy", authors=["Vũ Hữu Tiệp"])])
        await service.reject(citation, None)
    run = await resolve_arrivals(session_maker, settings)  # looks at the 24 demo items, older than the gap
    assert run.items == 24 and run.resolved == 0 and await outbox(session_maker) == []


async def test_a_lecturer_suggestion_arriving_is_marked_for_their_digest(session_maker, factory, settings):
    lan, _minh, _cohort = await people(factory)
    async with session_maker() as s, s.begin():
        await SuggestionService(s, settings).create(title="Quản trị thư viện số", authors="Nguyễn Hữu Hùng", isbn=None,
                                                    kind="lecturer", contact=await s.merge(lan))
    await ingest_records(session_maker, factory, book_record("TV0009", "Quản trị thư viện số", "Nguyễn Hữu Hùng"))
    await resolve_arrivals(session_maker, settings)
    async with session_maker() as s:
        notes = await arrivals_for_contact(s, lan.id, datetime.now(UTC) - timedelta(hours=1))
    assert [n.reason for n in notes] == ["suggestion"]
    from crm import i18n
    from crm.acquisitions import labels

    with i18n.language("vi"):
        assert labels.label(labels.ARRIVAL_REASONS, notes[0].reason) == "Đã về: tài liệu Thầy/Cô đề xuất"

    # Her next digest marks it, first, though no interest profile of hers matched it; then never again.
    from crm.digests import compose
    from crm.digests.models import DigestEntry, Subscription
    from crm.liaison.models import Contact

    subscription = await factory.add(Subscription(contact_id=lan.id, language="vi", max_items=30,
                                                  sections=["articles"]))
    async with session_maker() as s, s.begin():
        digest = await compose.queue_digest(s, settings, await s.get(Subscription, subscription.id),
                                            await s.get(Contact, lan.id), "2026-W48")
    assert digest is not None and digest.item_count == 1
    [message] = await outbox(session_maker, kind="digest")
    subject, text, html = parsed(message)
    assert "Tài liệu đã về theo đề nghị" in text and "✓ Đã về: tài liệu Thầy/Cô đề xuất" in text
    assert "Quản trị thư viện số" in text
    assert "Danh mục tài liệu học phần và đề xuất bổ sung" in html and "Đã về: tài liệu Thầy/Cô đề xuất" in html
    async with session_maker() as s:
        [entry] = await s.scalars(select(DigestEntry))
        assert entry.profile_id is None and entry.item_id == notes[0].item_id and entry.section == "acquisitions"
    async with session_maker() as s, s.begin():
        again = await compose.queue_digest(s, settings, await s.get(Subscription, subscription.id),
                                           await s.get(Contact, lan.id), "2026-W49")
    assert again is None  # nothing new: the arrival was sent once


async def test_the_scheduled_job_runs_the_arrival_check(session_maker, factory, settings):
    await form_post_free_suggestion(session_maker, settings)
    await ingest_records(session_maker, factory, book_record("KT0001", "Giáo trình kế toán tài chính", "Ngô Thế Chi"))
    filled = await acquisitions_job.run(JobContext(settings=settings, session_maker=session_maker))
    assert filled == 1 and await count(session_maker, ArrivalRun) == 1
    from jobs.scheduler import JOBS

    assert any(job.id == "acquisitions" for job in JOBS)


async def form_post_free_suggestion(session_maker, settings) -> None:
    async with session_maker() as s, s.begin():
        await SuggestionService(s, settings).create(title=STUDENT["title"], authors=STUDENT["authors"], isbn=None,
                                                    kind="student", name=STUDENT["name"], email=STUDENT["email"])

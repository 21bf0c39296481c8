"""The outbox and inbound jobs: registered on the scheduler, and the embedded round trip through the sink."""

import dataclasses
from datetime import timedelta

from sqlalchemy import select

from crm.mail.models import OutboxMessage, SinkMessage
from crm.mail.outbox import enqueue, format_address
from crm.mail.sink import start_sink
from crm.mail.verp import outbox_id_from_verp
from jobs import JobContext, outbox
from jobs.scheduler import build_scheduler


async def test_the_jobs_are_registered_once_each_without_overlap(settings, session_maker):
    scheduler = build_scheduler(settings, session_maker)
    sender = scheduler.get_job("outbox")
    assert sender.trigger.interval == timedelta(seconds=30)
    assert sender.max_instances == 1 and sender.coalesce is True
    reader = scheduler.get_job("inbound")
    assert reader.trigger.interval == timedelta(minutes=5) and reader.max_instances == 1


async def test_embedded_mode_the_job_sends_to_the_local_sink_and_the_mailbox_shows_it(settings, session_maker, client, librarian):
    embedded = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, port=0, embedded_sink=True))
    sink = await start_sink(embedded, session_maker)
    try:
        embedded = dataclasses.replace(embedded, mail=dataclasses.replace(embedded.mail, port=sink.port))
        async with session_maker() as s, s.begin():
            row = await enqueue(s, key="notice:1", kind="notice", sender=embedded.mail.sender,
                                to=format_address("Trần Thị Lan", "lan.tranthi@demo.edu.vn"),
                                subject="Buổi tập huấn sử dụng cơ sở dữ liệu", text="Kính mời Cô Lan tham dự.\n")
        assert await outbox.run(JobContext(settings=embedded, session_maker=session_maker)) == 1
        assert await outbox.run(JobContext(settings=embedded, session_maker=session_maker)) == 0
    finally:
        await sink.stop()
    async with session_maker() as s:
        [caught] = list(await s.scalars(select(SinkMessage)))
        sent = await s.get(OutboxMessage, row.id)
    assert caught.message_id == row.message_id and caught.rcpt_to == "lan.tranthi@demo.edu.vn"
    assert outbox_id_from_verp(embedded, caught.mail_from) == row.id
    assert sent.status == "sent"
    page = await client.get(f"/mailbox/{caught.id}")
    assert "Buổi tập huấn sử dụng cơ sở dữ liệu" in page.text

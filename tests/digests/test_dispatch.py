"""Dispatching due digests: due subscriptions only, one digest per period, restart-safe, and the job/CLI.

Uses crm.digests.compose (queue_digests) for the digests themselves and tests/digests/digestdata.py
for items and matches.
"""

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from crm.digests import dispatch
from crm.digests.dispatch import RETRY_AFTER, dispatch_due_digests
from crm.digests.models import Digest, Subscription
from crm.mail.models import OutboxMessage
from jobs import JobContext
from tests.digests.digestdata import make_item, make_match, make_profile, make_source
from tests.digests.subscribers import reload, subscribe
from tests.liaison.people import make_contact, make_group


async def count(session_maker, model) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def make_due(factory, sub, when: datetime) -> None:
    async with factory.session_maker() as s, s.begin():
        (await s.get(Subscription, sub.id)).next_due_at = when


async def lecturer_with_news(factory, name="Nguyễn Văn An", email="an@example.edu.vn", titles=("Thư viện số",)):
    contact = await make_contact(factory, name, email)
    profile = await make_profile(factory, f"Hồ sơ của {name}", contact=contact)
    source = await make_source(factory, "marc", name=f"Sách mới {email}")
    for title in titles:
        await make_match(factory, await make_item(factory, title, source=source, material_type="book"), profile)
    return contact, profile, source


async def test_a_due_subscription_is_sent_once_and_moves_to_its_next_slot(factory, session_maker, settings):
    an, _profile, _source = await lecturer_with_news(factory)
    sub = await subscribe(factory, an, frequency="weekly", weekday=0, hour=8)
    now = datetime.now(UTC)
    due = now - timedelta(minutes=3)
    await make_due(factory, sub, due)

    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert (report.subscriptions, report.recipients, report.digests, report.failed) == (1, 1, 1, 0)
    sub = await reload(factory, Subscription, sub.id)
    assert sub.next_due_at > now and sub.last_sent_at == now
    async with session_maker() as s:
        digest = await s.scalar(select(Digest))
    assert digest.contact_id == an.id and digest.subscription_id == sub.id
    year, week, _ = due.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).isocalendar()
    assert digest.period == f"{year}-W{week:02d}"
    assert await count(session_maker, OutboxMessage) == 1

    # Running again (a restart, a second process, the CLI) finds nothing due and queues nothing.
    again = await dispatch_due_digests(session_maker, settings, now=now)
    assert (again.subscriptions, again.digests) == (0, 0)
    assert await count(session_maker, OutboxMessage) == 1


async def test_a_crash_before_the_commit_re_runs_the_subscription_without_duplicates(factory, session_maker, settings):
    an, _profile, _source = await lecturer_with_news(factory)
    sub = await subscribe(factory, an)
    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    await make_due(factory, sub, due)
    await dispatch_due_digests(session_maker, settings, now=now)
    # As if next_due_at had not been saved: the same period comes up again.
    await make_due(factory, sub, due)
    report = await dispatch_due_digests(session_maker, settings, now=now + timedelta(minutes=1))
    assert (report.subscriptions, report.digests, report.empty) == (1, 0, 1)
    assert await count(session_maker, Digest) == 1 and await count(session_maker, OutboxMessage) == 1
    assert (await reload(factory, Subscription, sub.id)).next_due_at > now


async def test_a_failure_rolls_back_and_retries_later(factory, session_maker, settings, monkeypatch):
    from crm.digests import compose

    an, _profile, _source = await lecturer_with_news(factory)
    other, _p, _s = await lecturer_with_news(factory, "Trần Thị Lan", "lan@example.edu.vn", ("Dữ liệu mở",))
    failing = await subscribe(factory, an)
    fine = await subscribe(factory, other)
    now = datetime.now(UTC)
    for sub in (failing, fine):
        await make_due(factory, sub, now - timedelta(minutes=1))
    real = compose.prepare_digests

    async def broken(session, settings, pairs, period, **kw):
        if any(subscription.id == failing.id for subscription, _contact in pairs):
            await real(session, settings, pairs, period, **kw)  # composed, then the crash: nothing written
            raise RuntimeError("SMTP template exploded")
        return await real(session, settings, pairs, period, **kw)

    monkeypatch.setattr(compose, "prepare_digests", broken)
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert report.failed == 1 and "exploded" in report.errors[0]
    assert report.digests == 1  # the other subscription went out
    assert (await reload(factory, Subscription, failing.id)).next_due_at == now + RETRY_AFTER
    async with session_maker() as s:
        assert [d.contact_id for d in await s.scalars(select(Digest))] == [other.id]

    monkeypatch.setattr(compose, "prepare_digests", real)
    assert (await dispatch_due_digests(session_maker, settings, now=now + timedelta(minutes=1))).subscriptions == 0
    later = await dispatch_due_digests(session_maker, settings, now=now + RETRY_AFTER)
    assert (later.subscriptions, later.digests, later.failed) == (1, 1, 0)


async def test_paused_and_holiday_subscriptions_are_skipped(factory, session_maker, settings):
    an, _p, _s = await lecturer_with_news(factory)
    lan, _p2, _s2 = await lecturer_with_news(factory, "Trần Thị Lan", "lan@example.edu.vn", ("Dữ liệu mở",))
    paused = await subscribe(factory, an, frequency="paused")
    holiday = await subscribe(factory, lan, frequency="daily", paused_until=date.today() + timedelta(days=10))
    now = datetime.now(UTC)
    assert (await reload(factory, Subscription, paused.id)).next_due_at is None
    assert (await reload(factory, Subscription, holiday.id)).next_due_at > now + timedelta(days=8)
    # Even with a stale next_due_at, a paused subscription is not sent.
    await make_due(factory, paused, now - timedelta(hours=1))
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert report.subscriptions == 0 and await count(session_maker, Digest) == 0


async def test_a_group_digest_goes_to_each_member_but_not_to_those_who_left(factory, session_maker, settings):
    from crm.digests.services import SubscriptionService
    from crm.liaison.models import Contact

    a = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    b = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    c = await make_contact(factory, "Lê Hoàng Minh", "minh@example.edu.vn")
    group = await make_group(factory, "Nhóm nghiên cứu Thư viện số", "NNC-TVS", members=[a, b, c])
    profile = await make_profile(factory, "Thư viện số", group=group)
    source = await make_source(factory)
    await make_match(factory, await make_item(factory, "Thư viện số ở Việt Nam", source=source, material_type="book"), profile)
    sub = await subscribe(factory, group)
    async with session_maker() as s, s.begin():
        await SubscriptionService(s).unsubscribe(await s.get(Subscription, sub.id), await s.get(Contact, c.id))
    now = datetime.now(UTC)
    await make_due(factory, sub, now - timedelta(minutes=1))
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert (report.recipients, report.digests) == (2, 2)
    async with session_maker() as s:
        assert sorted(d.contact_id for d in await s.scalars(select(Digest))) == [a.id, b.id]


async def test_nothing_new_sends_nothing_but_moves_on(factory, session_maker, settings):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    sub = await subscribe(factory, an, frequency="daily")
    now = datetime.now(UTC)
    await make_due(factory, sub, now - timedelta(minutes=1))
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert (report.subscriptions, report.digests, report.empty) == (1, 0, 1)
    sub = await reload(factory, Subscription, sub.id)
    assert sub.last_sent_at is None and now < sub.next_due_at <= now + timedelta(days=1)


async def test_after_downtime_one_digest_catches_up_instead_of_a_burst(factory, session_maker, settings):
    an, _p, _s = await lecturer_with_news(factory, titles=("Thư viện số", "Dữ liệu mở", "Khoa học mở"))
    sub = await subscribe(factory, an, frequency="daily")
    now = datetime.now(UTC)
    await make_due(factory, sub, now - timedelta(days=3, hours=2))
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert report.digests == 1
    assert (await reload(factory, Subscription, sub.id)).next_due_at > now
    assert (await dispatch_due_digests(session_maker, settings, now=now)).subscriptions == 0


async def test_many_due_subscriptions_are_all_done_in_batches(factory, session_maker, settings, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 3)
    now = datetime.now(UTC)
    subs = []
    for n in range(8):
        contact = await make_contact(factory, f"Giảng viên {n}", f"gv{n}@example.edu.vn")
        subs.append(await subscribe(factory, contact, frequency="daily"))
        await make_due(factory, subs[-1], now - timedelta(minutes=n + 1))
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert report.subscriptions == 8
    for sub in subs:
        assert (await reload(factory, Subscription, sub.id)).next_due_at > now


async def test_the_job_is_registered_every_minute_and_runs(factory, session_maker, settings):
    from jobs import digests as digests_job
    from jobs.scheduler import JOBS, build_scheduler

    job = next(j for j in JOBS if j.id == "digests")
    assert job.every == timedelta(minutes=1)
    assert build_scheduler(settings, session_maker).get_job("digests") is not None
    an, _p, _s = await lecturer_with_news(factory)
    sub = await subscribe(factory, an)
    await make_due(factory, sub, datetime.now(UTC) - timedelta(minutes=1))
    assert await digests_job.run(JobContext(settings=settings, session_maker=session_maker)) == 1
    assert await digests_job.run(JobContext(settings=settings, session_maker=session_maker)) == 0


@pytest.fixture
def cli_env(settings):
    return {"CRM_VAR_DIR": str(settings.var_dir), "CRM_DATABASE_URL": settings.database.url,
            "CRM_SECRET_KEY": settings.secret_key}


async def test_cli_dispatch_and_list(cli_env, factory, session_maker):
    from crm.cli import main

    an, _p, _s = await lecturer_with_news(factory)
    sub = await subscribe(factory, an, frequency="weekly", weekday=2, hour=9)
    group = await make_group(factory, "Lớp K66", "K66", members=[an])
    await subscribe(factory, group, frequency="paused")
    await make_due(factory, sub, datetime.now(UTC) - timedelta(minutes=1))
    loop = asyncio.get_running_loop()

    def cli(*args):
        return loop.run_in_executor(None, lambda: CliRunner().invoke(main, list(args), env=cli_env, catch_exceptions=False))

    result = await cli("digests", "list", "--language", "en")
    assert result.exit_code == 0, result.output
    assert "Nguyễn Văn An" in result.output and "Wed 09:00" in result.output and "Lớp K66" in result.output
    result = await cli("digests", "list", "--due", "0")
    assert "Nguyễn Văn An" in result.output and "Lớp K66" not in result.output
    result = await cli("digests", "dispatch", "--language", "en")
    assert result.exit_code == 0, result.output
    assert "1 subscription(s) due, 1 digest(s) queued" in result.output
    result = await cli("digests", "dispatch")
    assert result.exit_code == 0 and "0 đăng ký đến hạn" in result.output
    assert (await cli("digests", "--help")).exit_code == 0


async def test_one_batch_holds_subscriptions_of_different_periods(factory, session_maker, settings):
    an, _p, _s = await lecturer_with_news(factory)
    lan, _p2, _s2 = await lecturer_with_news(factory, "Trần Thị Lan", "lan@example.edu.vn", ("Dữ liệu mở",))
    daily = await subscribe(factory, an, frequency="daily")
    monthly = await subscribe(factory, lan, frequency="monthly", month_day=1)
    now = datetime.now(UTC)
    for sub in (daily, monthly):
        await make_due(factory, sub, now - timedelta(minutes=1))
    report = await dispatch_due_digests(session_maker, settings, now=now)
    assert (report.subscriptions, report.digests) == (2, 2)
    async with session_maker() as s:
        periods = {d.contact_id: d.period for d in await s.scalars(select(Digest))}
    assert len(periods[an.id]) == 10 and len(periods[lan.id]) == 7  # 2026-11-23 and 2026-11

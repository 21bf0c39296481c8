"""Digests end to end: compose, render, queue and send 10,000 digests of 20 items each.

A temporary SQLite database (or ``--database-url``) is seeded with 10,000 lecturers, each with
an interest profile, a weekly subscription and 20 matches drawn from the period's 1,000 new
items (books from the ILS's MARC export, journal articles from feeds, theses from the
repository), and 20 faculties with a liaison librarian each. An aiosmtpd sink runs in another
process on a free loopback port and only counts what it receives.

Measured in one run, against the same sink:

* raw: aiosmtplib alone over 10 reused connections, sending pre-built digest emails (500 of the
  queued messages, cycled) — the ceiling for this machine; measured before and after the send
  phase and averaged, because the machine is shared; and, for reference, the same with 1 KiB
  messages (the sink reads a message line by line, so its rate depends on the size);
* compose + queue: the dispatch job (``crm.digests.dispatch.dispatch_due_digests``) with every
  subscription due and nothing sending: selection, CSL citations with a cold cache, Jinja
  rendering, CSS inlining, RIS export, MIME building in read-only transactions, then outbox
  rows, digests, digest entries and timeline entries written per chunk;
* send: ``crm.mail.sender.send_queued`` with ``settings.mail.connections = 10``;
* the pipeline as deployed: the digests, outbox and timeline entries are wiped, every
  subscription made due, and the real dispatch job (``crm.digests.dispatch.dispatch_due_digests``,
  100 subscriptions per transaction) runs in this process while a real ``crm send --loop
  --connections 10`` runs in another, sending each batch as soon as it is committed, until the sink
  has every digest. This is how ``crm worker`` plus a sender work in production.

Printed: digests/s of each phase, of the phases one after the other, and of the pipeline as
deployed; their ratio to raw; the peak RSS of this process. Target: the whole pipeline at least
one third of raw.
"""

import asyncio
import multiprocessing
import os
import signal
import sys
import random
import resource
import socket
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

import crm.models  # noqa: F401  (complete metadata)
from crm import db
from crm.cli import settle
from crm.digests import citations, compose, selection
from crm.digests.dispatch import dispatch_due_digests
from crm.digests.models import Digest, DigestEntry, Subscription
from crm.interests.models import InterestProfile
from crm.liaison.models import Contact, Interaction, LiaisonAssignment, Unit, interaction_contact
from crm.liaison.search import contact_keys
from crm.mail.models import OutboxMessage
from crm.matching.models import Match
from crm.security.models import User
from crm.settings import DatabaseSettings, MailSettings, Settings
from crm.sources.models import Item, ItemSource, Source

SEED = 20261123
RECIPIENTS = 10_000
ITEMS_PER_DIGEST = 20
ITEM_POOL = 1_000
FACULTIES = 20
CONNECTIONS = 10
#: Distinct pre-built messages the raw run cycles through.
RAW_SAMPLE = 500
PERIOD = "2026-W48"

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Thu", "Hoài", "Xuân", "Kim"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hòa", "Hùng", "Hương", "Khánh", "Lan", "Linh",
         "Long", "Mai", "Minh", "Nam", "Nga", "Ngọc", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn"]
WORDS = ("thư viện số", "dữ liệu mở", "học máy", "trí tuệ nhân tạo", "kinh tế số", "quản trị đại học", "giáo dục",
         "chuyển đổi số", "an toàn thông tin", "biến đổi khí hậu", "nông nghiệp bền vững", "y tế cộng đồng",
         "ngôn ngữ học", "văn hóa Việt Nam", "tài chính ngân hàng", "logistics", "khoa học dữ liệu", "vật liệu mới")
PUBLISHERS = ("NXB Đại học Quốc gia Hà Nội", "NXB Giáo dục Việt Nam", "NXB Khoa học và Kỹ thuật", "NXB Trẻ",
              "Springer", "Routledge", "NXB Thông tin và Truyền thông")
JOURNALS = ("Tạp chí Thư viện Việt Nam", "Tạp chí Khoa học ĐHQGHN", "Journal of Librarianship and Information Science",
            "Tạp chí Kinh tế và Phát triển")


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the sink (another process) ----------------------------------------------------------------


def _sink(port: int, count, ready) -> None:
    """aiosmtpd on 127.0.0.1:port that accepts everything and only counts messages."""
    import logging

    from aiosmtpd.smtp import SMTP

    logging.getLogger("mail.log").setLevel(logging.ERROR)

    class Counter:
        async def handle_DATA(self, server, session, envelope) -> str:
            with count.get_lock():
                count.value += 1
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Counter(), enable_SMTPUTF8=True, hostname="sink.local"),
                                          "127.0.0.1", port, backlog=256)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# --- seeding -----------------------------------------------------------------------------------


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def _insert(session, model, rows: list[dict], chunk: int = 5_000) -> None:
    for start in range(0, len(rows), chunk):
        await session.execute(insert(model), rows[start:start + chunk])


async def _seed(session_maker, rng: random.Random) -> None:
    now = datetime.now(UTC)
    async with session_maker() as s, s.begin():
        await _insert(s, Unit, [{"code": "DH", "name_vi": "Đại học Bách khoa", "kind": "university", "search_key": "dh"}])
        await _insert(s, Unit, [{"code": f"K{n:02d}", "name_vi": f"Khoa {WORDS[n % len(WORDS)].capitalize()}",
                                 "kind": "faculty", "parent_id": 1, "search_key": f"k{n}"} for n in range(FACULTIES)])
        await _insert(s, User, [{"email": f"thu-thu-{n}@lib.example.edu.vn", "full_name": _person(rng),
                                 "password_hash": "!", "role": "librarian", "title": "Cán bộ thư viện phụ trách"}
                                for n in range(FACULTIES)])
        await _insert(s, LiaisonAssignment, [{"librarian_id": n + 1, "unit_id": n + 2, "role": "primary",
                                              "start_date": date(2025, 1, 1)} for n in range(FACULTIES)])
        await _insert(s, Source, [{"name": "ILS – sách mới (MARC)", "kind": "marc"},
                                  {"name": "Tạp chí (RSS)", "kind": "feed"},
                                  {"name": "Kho nội sinh (OAI-PMH)", "kind": "oai"}])
        items, records = [], []
        for n in range(ITEM_POOL):
            kind = rng.choices(("marc", "feed", "oai"), (60, 25, 15))[0]
            topic = rng.choice(WORDS)
            item = {"title": f"{topic.capitalize()}: {rng.choice(WORDS)} và {rng.choice(WORDS)} ({n})",
                    "authors": [_person(rng) for _ in range(rng.randint(1, 3))], "year": rng.randint(2022, 2026),
                    "language": rng.choice(("vie", "vie", "eng")), "subjects": [{"heading": topic, "scheme": "local"}],
                    "isbns": [], "issns": [], "first_seen_at": now - timedelta(days=rng.randint(0, 6)),
                    "last_updated_at": now, "search_key": topic}
            if kind == "marc":
                item.update(material_type="book", publisher=rng.choice(PUBLISHERS), ddc=f"{rng.randint(0, 999):03d}.{n % 100}",
                            isbns=[f"978604{n:07d}"], control_number=f"VNU:{n:06d}")
            elif kind == "feed":
                item.update(material_type="article", journal=rng.choice(JOURNALS), issns=["1859-3127"],
                            doi=f"10.5555/bench.{n}")
            else:
                item.update(material_type="thesis", publisher="Trường Đại học Bách khoa",
                            link=f"https://repository.example.edu.vn/handle/123/{n}")
            items.append(item)
            records.append({"item_id": n + 1, "source_id": ("marc", "feed", "oai").index(kind) + 1,
                            "record_key": f"r{n}", "content_hash": "0" * 64, "seen_at": now})
        await _insert(s, Item, items)
        await _insert(s, ItemSource, records)
    async with session_maker() as s, s.begin():
        contacts, profiles, subscriptions = [], [], []
        for n in range(RECIPIENTS):
            name, email = _person(rng), f"gv{n:05d}@example.edu.vn"
            contacts.append({"full_name": name, "email": email, "email_key": email, "kind": "lecturer",
                             "unit_id": 2 + n % FACULTIES, "academic_title": rng.choice(("TS.", "ThS.", "PGS.TS.", None)),
                             **contact_keys(name, email)})
            topic = rng.choice(WORDS)
            profiles.append({"contact_id": n + 1, "name": topic.capitalize(), "keywords": [topic], "subject_headings": [],
                             "class_ranges": [], "languages": [], "search_key": topic})
            subscriptions.append({"contact_id": n + 1, "frequency": "weekly", "language": "vi" if n % 10 else "en",
                                  "max_items": 30, "sections": ["acquisitions", "articles", "repository"]})
        await _insert(s, Contact, contacts)
        await _insert(s, InterestProfile, profiles)
        await _insert(s, Subscription, subscriptions)
        matches = []
        for profile_id in range(1, RECIPIENTS + 1):
            for item_id in rng.sample(range(1, ITEM_POOL + 1), ITEMS_PER_DIGEST):
                matches.append({"item_id": item_id, "profile_id": profile_id, "score": round(rng.uniform(1, 9), 2),
                                "matched_at": now, "explanation": [{"clause": rng.choice(WORDS), "kind": "phrase",
                                                                     "fields": ["title", "subjects"], "weight": 3.0}]})
        await _insert(s, Match, matches, chunk=10_000)


# --- phases ---------------------------------------------------------------------------------------


class _Timed:
    """Total seconds spent in one function (patched in place for the run), for the breakdown."""

    def __init__(self, module, name: str) -> None:
        self.module, self.name, self.original, self.seconds = module, name, getattr(module, name), 0.0

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        async def timed_async(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(module, name, timed_async if asyncio.iscoroutinefunction(self.original) else timed)

    def restore(self) -> None:
        setattr(self.module, self.name, self.original)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _make_due(session_maker) -> None:
    async with session_maker() as s, s.begin():
        await s.execute(update(Subscription).values(next_due_at=datetime.now(UTC) - timedelta(minutes=1),
                                                    last_sent_at=None))


async def _compose(session_maker, settings: Settings) -> tuple[float, int]:
    """The dispatch job alone: every subscription due, nothing sending."""
    await _make_due(session_maker)
    started = time.perf_counter()
    with db.writing():  # as the scheduler runs its jobs
        report = await dispatch_due_digests(session_maker, settings)
    return time.perf_counter() - started, report.digests


async def _raw_messages(session_maker) -> list[tuple[str, bytes]]:
    async with session_maker() as s:
        rows = await s.execute(select(OutboxMessage.recipient, OutboxMessage.raw).order_by(OutboxMessage.id)
                               .limit(RAW_SAMPLE))
        return [(recipient, raw) for recipient, raw in rows.all()]


async def _raw(port: int, sample: list[tuple[str, bytes]], sender: str, total: int) -> float:
    """aiosmtplib alone: ``total`` pre-built messages over CONNECTIONS reused connections."""
    import aiosmtplib

    queue: asyncio.Queue = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(sample[n % len(sample)])

    async def connection() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
        await smtp.connect()
        try:
            while True:
                try:
                    recipient, raw = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await smtp.sendmail(sender, [recipient], raw)
        finally:
            await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return time.perf_counter() - started


async def _citation_cost(session_maker, settings: Settings) -> float:
    """Seconds to cite the pool once with a cold cache (part of the compose phase above)."""
    citations._cache.clear()
    async with session_maker() as s:
        store = selection.ItemStore()
        await store.load(s, set(range(1, ITEM_POOL + 1)))
    started = time.perf_counter()
    for item_id, item in store.items.items():
        section = selection.section_of(item, store.kinds[item_id])
        citations.format_citation(item, settings.digests.citation_style, "vi", section)
    return time.perf_counter() - started


async def _sender(settings: Settings, port: int) -> asyncio.subprocess.Process:
    """A real ``crm send --loop`` in another process, started and ready."""
    env = {**os.environ, "CRM_DATABASE_URL": settings.database.url, "CRM_VAR_DIR": str(settings.var_dir),
           "CRM_SECRET_KEY": settings.secret_key, "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(port),
           "CRM_SMTP_SINK": "0", "CRM_MAIL_FROM": settings.mail.sender,
           "CRM_MAIL_RETURN_PATH": settings.mail.return_path, "CRM_RUN_SCHEDULER": "0",
           "CRM_BASE_URL": settings.base_url}
    crm = Path(sys.executable).with_name("crm")
    process = await asyncio.create_subprocess_exec(
        str(crm), "send", "--loop", "--interval", "0.2", "--connections", str(CONNECTIONS),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    await asyncio.wait_for(process.stdout.readline(), 60)  # "Sending the outbox until stopped…"

    async def drain() -> None:  # its report lines, so the pipe never fills
        while await process.stdout.readline():
            pass

    process.drainer = asyncio.create_task(drain())
    return process


async def _pipeline(session_maker, settings: Settings, port: int, count, expected: int) -> tuple[float, int]:
    """The dispatch job here and ``crm send --loop`` in another process, from a clean slate."""
    async with session_maker() as s, s.begin():
        for table in (interaction_contact, Interaction.__table__, DigestEntry.__table__, Digest.__table__,
                      OutboxMessage.__table__):
            await s.execute(delete(table))
    await _make_due(session_maker)
    count.value = 0
    sender = await _sender(settings, port)
    try:
        started = time.perf_counter()
        with db.writing():  # as the scheduler runs its jobs
            report = await dispatch_due_digests(session_maker, settings)
        deadline = time.monotonic() + 600
        while count.value < report.digests and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - started
    finally:
        sender.send_signal(signal.SIGTERM)
        await asyncio.wait_for(sender.wait(), 60)
    if count.value != expected or report.digests != expected:
        raise RuntimeError(f"the pipeline queued {report.digests:,} and the sink counted {count.value:,}, "
                           f"not {expected:,}")
    return seconds, report.digests


async def _run(settings: Settings, port: int, count) -> None:
    engine = db.create_engine(settings)
    session_maker = db.session_maker(engine)
    label = "SQLite" if settings.database.is_sqlite else "PostgreSQL"
    try:
        started = time.perf_counter()
        await _seed(session_maker, random.Random(SEED))
        print(f"seeded {RECIPIENTS:,} recipients × {ITEMS_PER_DIGEST} matches over {ITEM_POOL:,} items "
              f"in {time.perf_counter() - started:.1f} s ({label})")
        settle()  # as `crm worker` (which runs the dispatch job) does once started
        rss_before = psutil.Process().memory_info().rss / 2**20

        from crm.digests import content
        from crm.mail import outbox

        timers = [_Timed(compose, "outbox_row"), _Timed(compose, "store_digests"), _Timed(content, "render_email")]
        compose_s, queued = await _compose(session_maker, settings)
        mime, queueing, render = timers
        for timer in timers:
            timer.restore()
        rss_compose = _peak_rss_mb()
        sample = await _raw_messages(session_maker)
        size = sum(len(raw) for _r, raw in sample) / len(sample)

        count.value = 0
        raw_before = await _raw(port, sample, settings.mail.return_path, RECIPIENTS)
        assert count.value == RECIPIENTS, f"the sink counted {count.value}"

        from crm.mail.sender import send_queued

        count.value = 0
        report = await send_queued(session_maker, settings)
        send_s = report.seconds
        rss_send = _peak_rss_mb()
        delivered = count.value

        count.value = 0
        raw_after = await _raw(port, sample, settings.mail.return_path, RECIPIENTS)
        raw_rate = RECIPIENTS / ((raw_before + raw_after) / 2)
        small = [(recipient, b"From: a@b\r\nTo: c@d\r\nSubject: x\r\n\r\n" + (b"x" * 98 + b"\r\n") * 10)
                 for recipient, _raw_bytes in sample[:10]]
        raw_small = RECIPIENTS / await _raw(port, small, settings.mail.return_path, RECIPIENTS)
        cite_s = await _citation_cost(session_maker, settings)
        citations._cache.clear()
        pipeline_s, dispatched = await _pipeline(session_maker, settings, port, count, queued)

        whole = queued / (compose_s + send_s)
        deployed = dispatched / pipeline_s
        print(f"digests queued {queued:,} (mean message {size / 1024:.1f} KiB); sent {report.sent:,}, "
              f"sink received {delivered:,}")
        print(f"raw aiosmtplib, {CONNECTIONS} connections   {RECIPIENTS / raw_before:8.0f} msg/s before, "
              f"{RECIPIENTS / raw_after:6.0f} after, mean {raw_rate:6.0f} msg/s "
              f"(1 KiB messages: {raw_small:.0f} msg/s)")
        print(f"compose + queue                  {queued / compose_s:8.0f} digests/s  ({compose_s:.1f} s)")
        print(f"  of which: writing (digests, outbox rows, entries, timeline) {queueing.seconds:.1f} s, "
              f"MIME messages {mime.seconds:.1f} s, Jinja + CSS inlining {render.seconds:.1f} s, "
              f"CSL citations about {cite_s:.1f} s (cold), the rest selection and reading")
        print(f"send (send_queued)               {report.sent / send_s:8.0f} digests/s  ({send_s:.1f} s)")
        print(f"phases one after the other       {whole:8.0f} digests/s  = {whole / raw_rate:.2f} × raw")
        print(f"whole pipeline as deployed       {deployed:8.0f} digests/s  = {deployed / raw_rate:.2f} × raw "
              f"(target ≥ 0.33): dispatch job + `crm send --loop` in another process, {pipeline_s:.1f} s "
              f"until the sink had all {dispatched:,}")
        print(f"peak RSS  {rss_compose:.0f} MiB after compose, {rss_send:.0f} MiB after send "
              f"(RSS before composing {rss_before:.0f} MiB)")
    finally:
        await engine.dispose()


def main(database_url: str | None = None, recipients: int | None = None) -> None:
    global RECIPIENTS
    RECIPIENTS = recipients or RECIPIENTS
    context = multiprocessing.get_context("spawn")
    count, ready = context.Value("q", 0), context.Event()
    port = _free_port()
    sink = context.Process(target=_sink, args=(port, count, ready), daemon=True)
    sink.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")
        with tempfile.TemporaryDirectory() as tmp:
            url = database_url or f"sqlite+aiosqlite:///{tmp}/digests.db"
            settings = Settings(
                var_dir=Path(tmp), secret_key="benchmark-secret-key-0123456789abcdef",
                database=DatabaseSettings(url=url),
                mail=MailSettings(host="127.0.0.1", port=port, embedded_sink=False, connections=CONNECTIONS,
                                  sender="Thư viện Đại học Bách khoa <thu-vien@lib.example.edu.vn>",
                                  return_path="bounces@lib.example.edu.vn"),
                base_url="https://crm.lib.example.edu.vn", run_scheduler=False)
            if database_url:
                asyncio.run(_reset_postgres(url))
            db.migrate(settings)
            asyncio.run(_run(settings, port, count))
    finally:
        sink.terminate()
        sink.join(10)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--recipients", type=int, help=f"digests to compose and send (default {RECIPIENTS:,})")
    arguments = parser.parse_args()
    main(arguments.database_url, arguments.recipients)

"""Harvesting: each kind of source end to end (real readers, real ingest, a real HTTP server on
127.0.0.1), failures that become runs, the schedule (run_due, claims), the job and the CLI."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from pymarc import Field, Record, Subfield
from sqlalchemy import func, select

from crm import i18n
from crm.sources.harvest import UnknownSource, import_upload, run_due, run_source
from crm.sources.models import Item, Source, SourceRun
from crm.sources.services.sources import CLAIM_LEASE, SourceService
from tests.sources.httpserver import Reply, Request, http_server  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def english():
    with i18n.language("en"):
        yield


def book(control: str, title: str | None, *, author: str = "Nguyễn Văn An", isbn: str | None = None,
         ddc: str | None = None, year: str = "2024") -> Record:
    record = Record(force_utf8=True)
    record.add_field(Field(tag="001", data=control), Field(tag="003", data="VNU"),
                     Field(tag="008", data=f"250101s{year}    vm            000 0 vie d"))
    if isbn:
        record.add_field(Field(tag="020", indicators=[" ", " "], subfields=[Subfield("a", isbn)]))
    if ddc:
        record.add_field(Field(tag="082", indicators=["0", "4"], subfields=[Subfield("a", ddc)]))
    record.add_field(Field(tag="100", indicators=["1", " "], subfields=[Subfield("a", author)]))
    if title:
        record.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", title)]))
    record.add_field(Field(tag="264", indicators=[" ", "1"], subfields=[
        Subfield("a", "Hà Nội :"), Subfield("b", "Đại học Quốc gia Hà Nội,"), Subfield("c", year)]))
    return record


def marc_bytes(*records: Record) -> bytes:
    return b"".join(r.as_marc() for r in records)


BOOKS = [
    book("1001", "Thư viện số : lý thuyết và thực hành", isbn="9786043356915", ddc="025.04"),
    book("1002", None),  # no title: rejected, the rest imports
    book("1003", "Khai phá dữ liệu", author="Trần Thị Bình", ddc="006.312"),
]


async def add_source(session_maker, **values) -> int:
    values.setdefault("name", "Nguồn thử")
    values.setdefault("interval_minutes", None)
    async with session_maker() as s, s.begin():
        source = Source(**values)
        s.add(source)
        await s.flush()
        source.interval_minutes = values["interval_minutes"]  # the column's default fills a None on INSERT
        return source.id


async def get_source(session_maker, source_id: int) -> Source:
    async with session_maker() as s:
        return await s.get(Source, source_id)


async def count(session_maker, model) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(model))


# --- MARC -------------------------------------------------------------------------------------


async def test_marc_file_is_imported_with_numbered_rejections_and_reimported_without_changes(settings, session_maker, tmp_path):
    path = tmp_path / "sach-moi.mrc"
    path.write_bytes(marc_bytes(*BOOKS))
    source_id = await add_source(session_maker, kind="marc", path=str(path))

    run = await run_source(session_maker, source_id, settings=settings)
    assert (run.status, run.read, run.new, run.rejected) == ("partial", 3, 2, 1)
    assert run.rejections[0]["number"] == 2 and run.rejections[0]["reason"]
    assert run.origin == str(path) and run.finished_at is not None
    assert await count(session_maker, Item) == 2

    again = await run_source(session_maker, source_id, settings=settings)
    assert (again.new, again.updated, again.duplicates, again.rejected) == (0, 0, 2, 1)
    assert await count(session_maker, Item) == 2
    source = await get_source(session_maker, source_id)
    assert source.last_status == "partial" and source.last_run_at is not None
    assert source.next_due_at is None  # by hand only


@pytest.mark.parametrize("content, words", [
    (None, "No MARC file"),
    (b"", "empty"),
    (b"this is not a MARC file at all, just some text\n" * 3, "neither MARC21"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>\n'
     b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record>&lol2;</record></collection>', "refused"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">\n<record/>', "refused"),
])
async def test_unreadable_marc_files_give_failed_runs(settings, session_maker, tmp_path, content, words):
    path = tmp_path / "file.mrc"
    if content is not None:
        path.write_bytes(content)
    source_id = await add_source(session_maker, kind="marc", path=str(path) if content is not None else None)
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and words in run.message, run.message
    assert run.new == 0 and await count(session_maker, Item) == 0
    assert (await get_source(session_maker, source_id)).last_status == "failed"


async def test_a_missing_file_is_a_failed_run(settings, session_maker, tmp_path):
    source_id = await add_source(session_maker, kind="marc", path=str(tmp_path / "gone.mrc"))
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and "cannot be read" in run.message


async def test_an_upload_replaces_the_previous_one(settings, session_maker, tmp_path):
    from crm.sources import uploads

    source_id = await add_source(session_maker, kind="marc")
    first = tmp_path / "t10.mrc"
    first.write_bytes(marc_bytes(BOOKS[0]))
    with first.open("rb") as fh:
        stored = uploads.store_file(fh, settings, "Sách mới T10.mrc")
    run = await import_upload(session_maker, source_id, stored, settings=settings)
    assert run.status == "ok" and run.new == 1 and run.origin == "sach-moi-t10.mrc"

    second = tmp_path / "t11.mrc"
    second.write_bytes(marc_bytes(BOOKS[2]))
    with second.open("rb") as fh:
        stored_again = uploads.store_file(fh, settings, "Sách mới T11.mrc")
    run = await import_upload(session_maker, source_id, stored_again, settings=settings)
    assert run.new == 1 and not stored.exists() and stored_again.exists()
    with pytest.raises(UnknownSource):
        await import_upload(session_maker, 987654, stored_again, settings=settings)
    with pytest.raises(UnknownSource):
        await run_source(session_maker, 987654, settings=settings)


async def test_a_source_of_an_unknown_kind_is_a_failed_run(settings, session_maker):
    source_id = await add_source(session_maker, kind="z39", url="https://a.example.edu.vn/z")
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and "z39" in run.message


# --- feeds ------------------------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Tài liệu mới</title><link>https://opac.example.edu.vn/</link><language>vi</language>
<item><title>Thư viện số trong trường đại học</title><link>https://opac.example.edu.vn/b/1</link>
  <dc:creator>Lê Thị Hoa</dc:creator><guid>https://opac.example.edu.vn/b/1</guid></item>
<item><title>Học máy cơ bản</title><link>https://opac.example.edu.vn/b/2</link>
  <dc:creator>Phạm Minh Khoa</dc:creator><guid>https://opac.example.edu.vn/b/2</guid></item>
</channel></rss>""".encode()


def conditional(body: bytes, etag: str):
    def reply(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(304, headers={"ETag": etag})
        return Reply(200, body, headers={"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8",
                                          "Last-Modified": "Mon, 03 Nov 2025 08:00:00 GMT"})
    return reply


async def test_feed_harvest_then_304_gives_not_modified(settings, session_maker, http_server):
    http_server.route("/rss", conditional(RSS, '"v1"'))
    source_id = await add_source(session_maker, kind="feed", url=http_server.url("/rss"), interval_minutes=60)
    now = datetime.now(UTC)

    run = await run_source(session_maker, source_id, settings=settings, now=now)
    assert (run.status, run.read, run.new) == ("ok", 2, 2), run.message
    source = await get_source(session_maker, source_id)
    assert source.etag == '"v1"' and source.last_modified == "Mon, 03 Nov 2025 08:00:00 GMT"
    assert source.next_due_at == now + timedelta(minutes=60)

    run = await run_source(session_maker, source_id, settings=settings)
    assert (run.status, run.read, run.new, run.updated, run.rejected) == ("not_modified", 0, 0, 0, 0)
    assert http_server.requests_to("/rss")[-1].headers["if-none-match"] == '"v1"'
    assert (await get_source(session_maker, source_id)).last_status == "not_modified"
    assert await count(session_maker, Item) == 2


@pytest.mark.parametrize("reply, words", [
    (Reply(500, b"boom"), "HTTP 500"),
    (Reply(404, b"gone"), "HTTP 404"),
    (Reply(200, b"x" * 100, headers={"Content-Length": str(50 * 1024 * 1024)}, length=False), "larger than"),
])
async def test_failing_fetches_give_failed_runs_with_the_reason(settings, session_maker, http_server, reply, words):
    http_server.route("/rss", reply)
    source_id = await add_source(session_maker, kind="feed", url=http_server.url("/rss"), etag='"old"')
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and words in run.message, run.message
    assert (await get_source(session_maker, source_id)).etag == '"old"'  # kept for the next try


async def test_an_unreachable_server_is_a_failed_run(settings, session_maker):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source_id = await add_source(session_maker, kind="feed", url=f"http://127.0.0.1:{port}/rss")
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and "127.0.0.1" in run.message


async def test_an_ill_formed_feed_keeps_what_was_recovered(settings, session_maker, http_server):
    broken = RSS.replace(b"</channel></rss>", "<item><title>Cắt ngang".encode())
    http_server.route("/rss", Reply(200, broken, headers={"Content-Type": "application/rss+xml"}))
    source_id = await add_source(session_maker, kind="feed", url=http_server.url("/rss"))
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "partial" and run.new >= 2 and "well-formed" in run.message

    http_server.route("/rss", Reply(200, b"<html><body>Not a feed</body></html>", headers={"Content-Type": "text/html"}))
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and run.message


# --- OAI-PMH ----------------------------------------------------------------------------------

def oai_page(records: list[tuple[str, str, str]], token: str | None = None, error: str | None = None) -> bytes:
    body = "".join(
        f"""<record><header><identifier>{identifier}</identifier><datestamp>{stamp}</datestamp></header>
        <metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
          xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>
          <dc:creator>Nguyễn, Văn An</dc:creator><dc:type>Thesis</dc:type><dc:language>vi</dc:language>
        </oai_dc:dc></metadata></record>""" for identifier, stamp, title in records)
    inner = f'<error code="{error}">problem</error>' if error else f"<ListRecords>{body}" + (
        f"<resumptionToken>{token}</resumptionToken>" if token else "") + "</ListRecords>"
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            f"<responseDate>2025-11-03T00:00:00Z</responseDate><request>http://x/oai</request>{inner}</OAI-PMH>").encode()


PAGE_1 = [("oai:repo.vnu.edu.vn:123/1", "2025-10-01T08:00:00Z", "Luận văn về thư viện số"),
          ("oai:repo.vnu.edu.vn:123/2", "2025-10-03T08:00:00Z", "Luận án về khai phá dữ liệu")]
PAGE_2 = [("oai:repo.vnu.edu.vn:123/3", "2025-10-02T08:00:00Z", "Khóa luận về học máy")]


async def test_oai_harvest_follows_tokens_and_continues_from_the_last_datestamp(settings, session_maker, http_server):
    def endpoint(request: Request) -> Reply:
        if request.query.get("resumptionToken") == "page2":
            return Reply(200, oai_page(PAGE_2))
        if request.query.get("from"):
            return Reply(200, oai_page([], error="noRecordsMatch"))
        return Reply(200, oai_page(PAGE_1, token="page2"))

    http_server.route("/oai", endpoint)
    source_id = await add_source(session_maker, kind="oai", url=http_server.url("/oai"), oai_set="com_1",
                                 oai_metadata_prefix="oai_dc", interval_minutes=1440)
    run = await run_source(session_maker, source_id, settings=settings)
    assert (run.status, run.read, run.new) == ("ok", 3, 3), run.message
    first = http_server.requests_to("/oai")[0].query
    assert first == {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "com_1"}
    assert (await get_source(session_maker, source_id)).oai_last_datestamp == "2025-10-03T08:00:00Z"

    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "ok" and run.read == 0
    assert http_server.requests_to("/oai")[-1].query["from"] == "2025-10-03T08:00:00Z"


async def test_an_interrupted_oai_harvest_keeps_its_records_but_not_the_datestamp(settings, session_maker, http_server):
    def endpoint(request: Request) -> Reply:
        if request.query.get("resumptionToken"):
            return Reply(200, oai_page([], error="badResumptionToken"))
        return Reply(200, oai_page(PAGE_1, token="expired"))

    http_server.route("/oai", endpoint)
    source_id = await add_source(session_maker, kind="oai", url=http_server.url("/oai"), oai_metadata_prefix="oai_dc")
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "partial" and run.new == 2 and "resumption token" in run.message
    assert (await get_source(session_maker, source_id)).oai_last_datestamp is None

    http_server.route("/oai", Reply(500, b"down"))
    run = await run_source(session_maker, source_id, settings=settings)
    assert run.status == "failed" and "HTTP 500" in run.message


# --- the schedule -------------------------------------------------------------------------------


async def test_run_due_runs_only_due_sources_and_schedules_the_next_run(settings, session_maker, tmp_path):
    path = tmp_path / "a.mrc"
    path.write_bytes(marc_bytes(BOOKS[0]))
    now = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)
    due = await add_source(session_maker, name="due", kind="marc", path=str(path), interval_minutes=60,
                           next_due_at=now - timedelta(minutes=1))
    never_run = await add_source(session_maker, name="new", kind="marc", path=str(path), interval_minutes=30)
    later = await add_source(session_maker, name="later", kind="marc", path=str(path), interval_minutes=60,
                             next_due_at=now + timedelta(minutes=5))
    manual = await add_source(session_maker, name="manual", kind="marc", path=str(path), interval_minutes=None)
    disabled = await add_source(session_maker, name="off", kind="marc", path=str(path), interval_minutes=60,
                                enabled=False, next_due_at=now - timedelta(days=1))

    runs = await run_due(session_maker, settings, now=now)
    assert sorted(r.source_id for r in runs) == sorted([due, never_run])
    assert (await get_source(session_maker, due)).next_due_at == now + timedelta(minutes=60)
    assert (await get_source(session_maker, never_run)).next_due_at == now + timedelta(minutes=30)
    for untouched in (later, manual, disabled):
        async with session_maker() as s:
            assert await s.scalar(select(func.count()).select_from(SourceRun).where(SourceRun.source_id == untouched)) == 0

    assert await run_due(session_maker, settings, now=now + timedelta(minutes=1)) == []
    runs = await run_due(session_maker, settings, now=now + timedelta(minutes=31))
    assert sorted(r.source_id for r in runs) == sorted([never_run, later])


async def test_a_source_is_claimed_by_one_caller_only(settings, session_maker):
    now = datetime.now(UTC)
    source_id = await add_source(session_maker, kind="feed", url="http://127.0.0.1:9/x", interval_minutes=15)

    async def claim() -> bool:
        async with session_maker() as s, s.begin():
            return await SourceService(s, settings).claim(source_id, now)

    results = await asyncio.gather(*(claim() for _ in range(4)))
    assert results.count(True) == 1
    source = await get_source(session_maker, source_id)
    assert source.next_due_at == now + CLAIM_LEASE  # not due again meanwhile
    async with session_maker() as s:
        assert await SourceService(s, settings).due_sources(now + timedelta(minutes=30)) == []


async def test_the_harvest_job_is_registered_and_runs_due_sources(settings, session_maker, tmp_path):
    from jobs import JobContext, harvest
    from jobs.scheduler import build_scheduler

    job = build_scheduler(settings, session_maker).get_job("harvest")
    assert job is not None and job.coalesce is True and job.max_instances == 1
    assert job.trigger.interval <= timedelta(minutes=15)

    path = tmp_path / "a.mrc"
    path.write_bytes(marc_bytes(BOOKS[0], BOOKS[2]))
    await add_source(session_maker, kind="marc", path=str(path), interval_minutes=60)
    assert await harvest.run(JobContext(settings=settings, session_maker=session_maker)) == 1
    assert await count(session_maker, Item) == 2
    assert await harvest.run(JobContext(settings=settings, session_maker=session_maker)) == 0


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(settings):
    return {"CRM_VAR_DIR": str(settings.var_dir), "CRM_DATABASE_URL": settings.database.url,
            "CRM_SECRET_KEY": settings.secret_key}


def invoke(env, *args):
    from crm.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


async def test_cli_adds_lists_and_harvests_sources(cli_env, session_maker, tmp_path, factory):
    await factory.user(email="lan@example.edu.vn")
    path = tmp_path / "sach.mrc"
    path.write_bytes(marc_bytes(*BOOKS))
    loop = asyncio.get_running_loop()

    def cli(*args):
        return loop.run_in_executor(None, lambda: invoke(cli_env, *args))

    result = await cli("source", "add", "--kind", "marc", "--name", "Koha xuất hằng đêm", "--path", str(path),
                       "--interval", "1440", "--owner", "lan@example.edu.vn")
    assert result.exit_code == 0, result.output
    source_id = int(result.output.split()[2])
    result = await cli("source", "add", "--kind", "feed", "--name", "Bad", "--url", "ftp://x.vn/rss")
    assert result.exit_code == 1 and "url" in result.output
    result = await cli("source", "add", "--kind", "feed", "--name", "Nobody", "--url", "https://x.vn/rss",
                       "--owner", "nobody@example.org")
    assert result.exit_code == 1 and "nobody@example.org" in result.output

    result = await cli("source", "list")
    assert "Koha xuất hằng đêm" in result.output and str(path) in result.output

    result = await cli("harvest", str(source_id), "--language", "en")
    assert result.exit_code == 0, result.output
    assert "new 2" in result.output and "rejected 1" in result.output
    assert "record 2" in result.output  # the rejected record, by its number

    result = await cli("harvest", "987654", "--language", "en")
    assert result.exit_code == 1 and "987654" in result.output
    result = await cli("harvest")
    assert result.exit_code == 2
    result = await cli("harvest", "--due", "--language", "en")
    assert result.exit_code == 0 and "No source is due" in result.output  # it ran just now


async def test_cli_harvest_exits_1_when_a_run_fails(cli_env, session_maker, tmp_path):
    source_id = await add_source(session_maker, kind="marc", path=str(tmp_path / "missing.mrc"), interval_minutes=60)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, lambda: invoke(cli_env, "harvest", "--due", "--language", "en"))
    assert result.exit_code == 1 and f"source {source_id}" in result.output and "cannot be read" in result.output

"""Ingest: dedup and merge, idempotent re-imports, per-batch transactions, reports, constant memory."""

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from pymarc import Field, Indicators, Record, Subfield
from sqlalchemy import func, select

from crm import i18n
from crm.sources import ingest as ingest_module
from crm.sources.ingest import ingest, marc_source_for_path
from crm.sources.models import Item, ItemIdentifier, ItemSource, Source, SourceRun
from crm.sources.readers.marc import iter_marc
from crm.sources.records import ItemRecord, Rejected, Subject

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.filterwarnings("ignore::pymarc.exceptions.BadSubfieldCodeWarning")


@pytest.fixture(autouse=True)
def english():
    with i18n.language("en"):
        yield


async def new_source(factory, name="Koha mới", kind="marc") -> int:
    return (await factory.add(Source(name=name, kind=kind, interval_minutes=None))).id


def marc_file(*names: str) -> bytes:
    return b"".join((FIXTURES / name).read_bytes() for name in names)


def stream(*names: str) -> io.BytesIO:
    return io.BytesIO(marc_file(*names))


async def snapshot(session_maker) -> dict:
    """Every row of the item store, to compare before and after."""
    async with session_maker() as s:
        out = {}
        for model in (Item, ItemIdentifier, ItemSource):
            rows = (await s.execute(select(model.__table__).order_by(model.__table__.c.id))).all()
            out[model.__tablename__] = [tuple(r) for r in rows]
        return out


async def items(session_maker) -> list[Item]:
    async with session_maker() as s:
        return list((await s.scalars(select(Item).order_by(Item.id))).all())


async def count(session_maker, model) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(model))


def book(key: str, title: str, **fields) -> ItemRecord:
    return ItemRecord(record_key=key, title=title, **fields)


# --- storing and normalizing --------------------------------------------------------------


async def test_a_marc_record_is_stored_normalized(session_maker, factory):
    source_id = await new_source(factory)
    run = await ingest(session_maker, source_id, iter_marc(stream("marc_vietnamese.mrc")), origin="moi.mrc")
    assert (run.status, run.read, run.new, run.updated, run.duplicates, run.rejected) == ("ok", 1, 1, 0, 0, 0)
    assert run.finished_at is not None and run.origin == "moi.mrc"
    [item] = await items(session_maker)
    assert item.title == "Thư viện số hóa trong trường đại học"
    assert item.isbns == ["9786047376834"]  # both 020s, ISBN-10 and ISBN-13, are one ISBN-13
    assert item.ddc == "025.04 TH-V" and item.ddc_key == "025.04" and item.lcc_key is None
    assert item.subjects[0] == {"heading": "Thư viện số -- Quản lý -- Việt Nam", "scheme": "local"}
    assert "thu vien so hoa trong truong dai hoc" in item.search_key
    assert "nguyen van an" in item.search_key and "9786047376834" in item.search_key and "6047376835" in item.search_key
    assert item.first_seen_at == item.last_updated_at
    async with session_maker() as s:
        keys = set((await s.execute(select(ItemIdentifier.kind, ItemIdentifier.value))).all())
        source = await s.get(Source, source_id)
    assert keys == {("isbn", "9786047376834"), ("control", "VNU-LIC:VN000123"),
                    ("title_author", "thu vien so hoa trong truong dai hoc|nguyen")}
    assert source.last_status == "ok" and source.last_run_at is not None


async def test_reimporting_the_same_file_changes_nothing(session_maker, factory):
    source_id = await new_source(factory)
    names = ("marc_vietnamese.mrc", "marc_koha.mrc", "marc_marc8.mrc", "marc_corrupt_middle.mrc")
    first = await ingest(session_maker, source_id, iter_marc(stream(*names)), batch_size=2)
    assert (first.read, first.new, first.rejected) == (6, 5, 1)
    before = await snapshot(session_maker)
    second = await ingest(session_maker, source_id, iter_marc(stream(*names)), batch_size=2)
    assert (second.new, second.updated, second.duplicates, second.rejected) == (0, 0, 5, 1)
    assert await snapshot(session_maker) == before
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(SourceRun)) == 2


async def test_a_changed_record_updates_its_item(session_maker, factory):
    source_id = await new_source(factory)
    await ingest(session_maker, source_id, iter_marc(stream("marc_vietnamese.mrc")))
    [before] = await items(session_maker)

    record = Record(data=(FIXTURES / "marc_vietnamese.mrc").read_bytes())
    record["245"]["a"] = "Thư viện số hóa trong trường đại học Việt Nam :"
    record.remove_fields("653")
    run = await ingest(session_maker, source_id, iter_marc(io.BytesIO(record.as_marc())))
    assert (run.new, run.updated, run.duplicates) == (0, 1, 0)
    [after] = await items(session_maker)
    assert after.id == before.id and after.title == "Thư viện số hóa trong trường đại học Việt Nam"
    assert len(after.subjects) == 2  # the record is the item's only source: it is replaced, not merged
    assert after.last_updated_at > before.last_updated_at and after.first_seen_at == before.first_seen_at
    assert "viet nam" in after.search_key
    assert await count(session_maker, ItemSource) == 1


async def test_a_changed_record_of_a_shared_item_keeps_the_other_sources_data(session_maker, factory):
    koha, feed = await new_source(factory), await new_source(factory, "RSS", "feed")
    await ingest(session_maker, koha, [book("k1", "Học máy", isbns=["9780198526636"], subjects=[Subject("AI")])])
    await ingest(session_maker, feed, [book("f1", "Học máy", isbns=["0198526636"], abstract="Tóm tắt.",
                                            subjects=[Subject("Machine learning")])])
    run = await ingest(session_maker, koha, [book("k1", "Học máy (tái bản)", isbns=["9780198526636"], subjects=[Subject("AI")])])
    assert run.updated == 1
    [item] = await items(session_maker)
    assert item.title == "Học máy (tái bản)" and item.abstract == "Tóm tắt."
    assert [s["heading"] for s in item.subjects] == ["AI", "Machine learning"]


# --- dedup and merge across sources -------------------------------------------------------


async def test_merge_across_sources_by_isbn(session_maker, factory):
    koha, feed = await new_source(factory), await new_source(factory, "Bản tin sách mới", "feed")
    await ingest(session_maker, koha, iter_marc(stream("marc_vietnamese.mrc")))
    record = book("https://opac.example.edu.vn/new/1", "Thư viện số hóa", isbns=["604-73-7683-5"],
                  authors=["Nguyễn Văn An", "Lê Văn Cường"], subjects=[Subject("Số hóa", "keyword"), Subject("Chuyển đổi số", "keyword")],
                  journal="Bản tin thư viện", link="https://opac.example.edu.vn/new/1")
    run = await ingest(session_maker, feed, [record])
    assert (run.new, run.updated, run.duplicates) == (0, 1, 0)
    [item] = await items(session_maker)
    assert item.title == "Thư viện số hóa trong trường đại học"  # filled fields are kept
    assert item.journal == "Bản tin thư viện"  # empty ones are filled
    assert item.authors == ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường"]
    assert [s["heading"] for s in item.subjects][-1] == "Chuyển đổi số"
    assert sum(s["heading"] == "Số hóa" for s in item.subjects) == 1
    assert await count(session_maker, ItemSource) == 2
    again = await ingest(session_maker, feed, [record])
    assert (again.new, again.updated, again.duplicates) == (0, 0, 1)


async def test_merge_across_sources_by_doi(session_maker, factory):
    koha, repository = await new_source(factory), await new_source(factory, "DSpace", "oai")
    await ingest(session_maker, koha, iter_marc(stream("marc_koha.mrc")))
    run = await ingest(session_maker, repository, [book("oai:dspace:1/42", "Machine learning for document classification",
                                                        doi="https://doi.org/10.1234/abc.2024.01", year=2024)])
    assert run.new == 0
    [item] = await items(session_maker)
    assert item.doi == "10.1234/abc.2024.01" and item.title == "Ứng dụng học máy trong phân loại tài liệu"


async def test_merge_across_sources_by_title_and_author(session_maker, factory):
    koha, feed = await new_source(factory), await new_source(factory, "RSS", "feed")
    await ingest(session_maker, koha, iter_marc(stream("marc_vietnamese.mrc")))
    run = await ingest(session_maker, feed, [book("rss-1", "THƯ VIỆN SỐ HÓA TRONG TRƯỜNG ĐẠI HỌC", authors=["Nguyễn, Văn An"])])
    assert run.new == 0 and len(await items(session_maker)) == 1
    # Same title, another author: another book.
    run = await ingest(session_maker, feed, [book("rss-2", "Thư viện số hóa trong trường đại học", authors=["Phạm Thị Dung"])])
    assert run.new == 1


async def test_issn_and_title_key_and_control_number_key(session_maker, factory):
    one, two = await new_source(factory), await new_source(factory, "TOC", "feed")
    await ingest(session_maker, one, [book("a", "Số hóa tài liệu", issns=["0378-5955"]), book("b", "Khác", control_number="DLC:123")])
    run = await ingest(session_maker, two, [book("x", "Số hóa tài liệu", issns=["ISSN 0378-5955"]),
                                            book("y", "Other title", control_number="DLC:123"),
                                            book("z", "Khác", control_number="123")])  # a bare 001 is not a key
    assert (run.new, run.duplicates) == (1, 2)


async def test_records_of_one_batch_sharing_keys_are_one_item(session_maker, factory):
    source_id = await new_source(factory)
    records = [book("1", "Giáo trình kế toán", isbns=["9780198526636"]),
               book("2", "Giáo trình kế toán tài chính", isbns=["978-0-19-852663-6"], publisher="Nxb. Tài chính"),
               book("3", "Kinh tế vi mô", authors=["Trần, Văn Bình"]),
               book("4", "KINH TẾ VI MÔ", authors=["Trần Văn Bình"], year=2020)]
    run = await ingest(session_maker, source_id, records)
    assert (run.new, run.updated, run.duplicates) == (2, 0, 2)
    first, second = await items(session_maker)
    assert first.title == "Giáo trình kế toán" and first.publisher == "Nxb. Tài chính"
    assert second.year == 2020
    assert await count(session_maker, ItemSource) == 4


async def test_the_same_record_key_twice_in_a_batch_keeps_the_last(session_maker, factory):
    source_id = await new_source(factory)
    run = await ingest(session_maker, source_id, [book("1", "Bản nháp"), book("1", "Bản cuối")])
    assert (run.new, run.duplicates) == (1, 1)
    [item] = await items(session_maker)
    assert item.title == "Bản cuối"


async def test_deleted_records_mark_their_source_record(session_maker, factory):
    source_id = await new_source(factory, "DSpace", "oai")
    await ingest(session_maker, source_id, [book("oai:x:1", "Luận văn A"), book("oai:x:2", "Luận văn B")])
    run = await ingest(session_maker, source_id, [ItemRecord(record_key="oai:x:1", title="", deleted=True),
                                                  ItemRecord(record_key="oai:x:9", title="", deleted=True)])
    assert (run.updated, run.duplicates, run.rejected) == (1, 1, 0)
    async with session_maker() as s:
        flags = dict((await s.execute(select(ItemSource.record_key, ItemSource.deleted))).all())
    assert flags == {"oai:x:1": True, "oai:x:2": False}
    run = await ingest(session_maker, source_id, [book("oai:x:1", "Luận văn A")])  # offered again
    assert run.updated == 1
    async with session_maker() as s:
        assert not await s.scalar(select(ItemSource.deleted).where(ItemSource.record_key == "oai:x:1"))


# --- reports, failures, memory ------------------------------------------------------------


async def test_rejections_carry_record_numbers(session_maker, factory):
    source_id = await new_source(factory)
    run = await ingest(session_maker, source_id, iter_marc(stream("marc_corrupt_middle.mrc", "marc_koha.mrc")))
    assert (run.status, run.read, run.new, run.rejected) == ("partial", 4, 3, 1)
    assert run.rejections == [{"number": 2, "reason": "The base address of the record data is invalid.", "record_key": None}]
    run = await ingest(session_maker, source_id, iter_marc(stream("marc_collection.xml")))
    assert run.rejections[0]["number"] == 3 and run.rejections[0]["record_key"] == "X-3"


async def test_a_failing_batch_rolls_back_only_itself(session_maker, factory, monkeypatch):
    source_id = await new_source(factory)
    calls = []
    original = ingest_module.write_batch

    async def second_batch_fails(session, source, numbered, delta):
        calls.append([n for n, _ in numbered])
        await original(session, source, numbered, delta)  # writes, then fails: all of it must go
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_module, "write_batch", second_batch_fails)
    records = [book(str(i), f"Sách số {i}", isbns=[]) for i in range(1, 7)]
    run = await ingest(session_maker, source_id, records, batch_size=2)
    assert calls == [[1, 2], [3, 4], [5, 6]]
    assert (run.status, run.read, run.new, run.rejected) == ("partial", 6, 4, 2)
    assert run.rejections[0]["number"] == 3 and "Records 3 to 4" in run.rejections[0]["reason"]
    assert "disk full" in run.rejections[0]["reason"]
    assert [i.title for i in await items(session_maker)] == ["Sách số 1", "Sách số 2", "Sách số 5", "Sách số 6"]
    async with session_maker() as s:
        assert set((await s.scalars(select(ItemSource.record_key))).all()) == {"1", "2", "5", "6"}


async def test_a_run_stops_when_batches_keep_failing(session_maker, factory, monkeypatch):
    source_id = await new_source(factory)

    async def always_fails(*_args):
        raise RuntimeError("database gone")

    monkeypatch.setattr(ingest_module, "write_batch", always_fails)
    run = await ingest(session_maker, source_id, (book(str(i), "T") for i in range(100)), batch_size=10)
    assert run.status == "failed" and run.read == 30 and run.rejected == 30 and "database gone" in run.message


async def test_a_reader_that_breaks_keeps_what_it_read(session_maker, factory):
    source_id = await new_source(factory)

    def reader():
        yield book("1", "Một")
        yield Rejected(number=2, reason="bad record")
        yield book("3", "Ba")
        raise OSError("connection reset")

    run = await ingest(session_maker, source_id, reader())
    assert (run.status, run.read, run.new, run.rejected) == ("partial", 3, 2, 1)
    assert "connection reset" in run.message

    async def nothing():
        raise OSError("no route to host")
        yield  # pragma: no cover

    run = await ingest(session_maker, source_id, nothing())
    assert run.status == "failed" and run.read == 0 and "no route to host" in run.message


async def test_async_iterables_are_ingested(session_maker, factory):
    source_id = await new_source(factory, "OAI", "oai")

    async def harvest():
        for i in range(5):
            yield book(f"oai:{i}", f"Bài báo {i}", doi=f"10.5555/{i}")

    run = await ingest(session_maker, source_id, harvest(), batch_size=2)
    assert (run.status, run.new) == ("ok", 5)


async def test_only_a_batch_or_two_is_held_in_memory(session_maker, factory, monkeypatch):
    """5,000 records from a generator, in batches of 500: the reader is never far ahead of the writer."""
    source_id = await new_source(factory)
    produced = 0
    observed = []
    original = ingest_module.write_batch

    def records():
        nonlocal produced
        for i in range(5000):
            produced += 1
            yield book(f"r{i}", f"Tài liệu {i}", authors=[f"Tác giả {i % 50}"])

    async def watched(session, source, numbered, delta):
        observed.append((len(numbered), numbered[-1][0], produced))
        await original(session, source, numbered, delta)

    monkeypatch.setattr(ingest_module, "write_batch", watched)
    run = await ingest(session_maker, source_id, records(), batch_size=500)
    assert run.new == 5000 and len(observed) == 10
    assert max(size for size, _, _ in observed) == 500
    # While a batch is written, at most the next batch has been read ahead.
    assert all(seen - last <= 500 for _, last, seen in observed)


async def test_marc_source_for_path_is_reused(session_maker, tmp_path):
    path = tmp_path / "moi.mrc"
    path.write_bytes(marc_file("marc_koha.mrc"))
    first = await marc_source_for_path(session_maker, path)
    assert await marc_source_for_path(session_maker, tmp_path / "." / "moi.mrc") == first
    async with session_maker() as s:
        source = await s.get(Source, first)
    assert (source.kind, source.name, source.path) == ("marc", "moi.mrc", str(path.resolve()))


# --- the command line ---------------------------------------------------------------------


def test_crm_ingest_command(tmp_path):
    from crm.cli import main

    env = {"CRM_VAR_DIR": str(tmp_path), "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
           "CRM_SECRET_KEY": "cli-test-secret-0123456789abcdef"}

    def invoke(*args):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    assert invoke("migrate").exit_code == 0
    path = tmp_path / "sach-moi.mrc"
    path.write_bytes(marc_file("marc_vietnamese.mrc", "marc_corrupt_middle.mrc"))
    result = invoke("ingest", str(path), "--language", "en")
    assert result.exit_code == 0, result.output
    assert "Read 4, new 3, updated 0" in result.output and "rejected 1" in result.output
    assert "record 3: The base address" in result.output
    result = invoke("ingest", str(path), "--batch-size", "1", "--language", "en")
    assert "new 0" in result.output and "duplicates 3" in result.output
    assert "«sach-moi.mrc»" in result.output

    for fixture in ("marc_billion_laughs.xml", "marc_external_entity.xml"):
        result = CliRunner().invoke(main, ["ingest", str(FIXTURES / fixture), "--language", "en"], env=env)
        assert result.exit_code == 1 and "XML was refused" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["ingest", str(FIXTURES / "marc_fixtures.py"), "--language", "en"], env=env)
    assert result.exit_code == 1 and "neither MARC21" in result.output
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "missing.mrc")], env=env)
    assert result.exit_code == 1 and "Cannot read" in result.output
    result = CliRunner().invoke(main, ["ingest", str(path), "--source", "999"], env=env)
    assert result.exit_code == 1 and "no source with id 999" in result.output

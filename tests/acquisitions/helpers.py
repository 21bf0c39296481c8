"""Data for the acquisitions tests: real MARC ingested into the item store, courses, people."""

import io
import warnings
from pathlib import Path

import pytest
from pymarc import Field, Indicators, Record, Subfield
from sqlalchemy import func, select

from crm.acquisitions.models import Course
from crm.demo import DEMO_MARC
from crm.liaison.models import Contact, Group
from crm.mail.models import OutboxMessage
from crm.sources.ingest import ingest
from crm.sources.models import Item, Source
from crm.sources.readers.marc import iter_marc
from tests.conftest import SHARED_DATA
from tests.liaison.people import make_contact, make_group

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: Perl books catalogued by a real library (pymarc's test data).
PERL_MARC = SHARED_DATA / "marc" / "pymarc" / "test" / "test.dat"


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data not available: {path}")
    return path


async def ingest_file(session_maker, factory, path: Path, name: str = "Koha") -> int:
    """Ingest a MARC file as the library's catalogue does; returns the source id."""
    source = await factory.add(Source(name=name, kind="marc", interval_minutes=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with path.open("rb") as stream:
            await ingest(session_maker, source.id, iter_marc(stream), origin=path.name)
    return source.id


async def ingest_demo(session_maker, factory) -> int:
    """The 24 new acquisitions of the demo (Vietnamese and English, with ISBNs)."""
    return await ingest_file(session_maker, factory, DEMO_MARC, "Sách mới")


def field(tag: str, ind: str, *pairs: str) -> Field:
    return Field(tag=tag, indicators=Indicators(ind[0], ind[1]),
                 subfields=[Subfield(code=pairs[i], value=pairs[i + 1]) for i in range(0, len(pairs), 2)])


def book_record(control: str, title: str, author: str, isbn: str | None = None, year: int = 2026,
                ddc: str = "025.04") -> bytes:
    """One MARC21 record as a vendor or Koha would send it."""
    record = Record(force_utf8=True, leader="00000nam a2200000 a 4500")
    record.add_field(Field(tag="001", data=control), Field(tag="003", data="VN-TEST"),
                     Field(tag="008", data=f"260101s{year}    vm a          000 0 vie d"))
    if isbn:
        record.add_field(field("020", "  ", "a", isbn))
    record.add_field(field("082", "04", "a", ddc), field("100", "0 ", "a", f"{author},"),
                     field("245", "10", "a", title), field("264", " 1", "a", "Hà Nội :", "b", "Giáo dục,", "c", f"{year}."))
    return record.as_marc()


async def ingest_records(session_maker, factory, *records: bytes, name: str = "Bổ sung mới") -> int:
    source = await factory.add(Source(name=name, kind="marc", interval_minutes=None))
    await ingest(session_maker, source.id, iter_marc(io.BytesIO(b"".join(records))), origin="new.mrc")
    return source.id


async def item_id(session_maker, title: str) -> int:
    async with session_maker() as s:
        found = await s.scalar(select(Item.id).where(Item.title == title))
    assert found is not None, title
    return found


async def outbox(session_maker, kind: str = "acquisitions") -> list[OutboxMessage]:
    async with session_maker() as s:
        return list(await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


async def count(session_maker, model) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(model)) or 0


async def make_course(factory, code: str = "TV2012", name: str = "Thư viện số", lecturers=(), groups=(),
                      enrolment: int | None = None) -> Course:
    from crm.acquisitions.services.courses import course_key

    course = await factory.add(Course(code=code, name=name, term="HK1 2026-2027", enrolment=enrolment,
                                      search_key=course_key(code, name, None)))
    if lecturers or groups:
        from crm.acquisitions.models import course_group, course_lecturer

        async with factory.session_maker() as s, s.begin():
            if lecturers:
                await s.execute(course_lecturer.insert(), [{"course_id": course.id, "contact_id": c.id} for c in lecturers])
            if groups:
                await s.execute(course_group.insert(), [{"course_id": course.id, "group_id": g.id} for g in groups])
    return course


async def people(factory) -> tuple[Contact, Contact, Group]:
    """A lecturer, a second lecturer, and a cohort of four students."""
    lan = await make_contact(factory, "Trần Thị Lan", "lantt@demo.edu.vn")
    minh = await make_contact(factory, "Lê Hoàng Minh", "minhlh@demo.edu.vn")
    students = [await make_contact(factory, name, f"sv{i}@demo.edu.vn", kind="student")
                for i, name in enumerate(["Nguyễn Thị Mai Anh", "Trần Văn Bình", "Lê Thị Cúc", "Phạm Minh Đức"])]
    cohort = await make_group(factory, "K65 Thông tin – Thư viện", "K65-TTTV", members=students)
    return lan, minh, cohort

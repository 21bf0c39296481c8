"""The weeding report: held items older than N years that match no interest profile and that no
reading list, suggestion or request slip ever named; paged, and as CSV."""

import csv
import io
from datetime import UTC, date, datetime

from crm.acquisitions.models import Citation, RequestSlip
from crm.acquisitions.services.weeding import cutoff_year, weeding_page
from crm.interests.models import InterestProfile
from crm.matching.models import Match
from tests.acquisitions.helpers import PERL_MARC, ingest_demo, ingest_file, item_id, make_course, people, shared


async def old_titles(session_maker, years: int = 10) -> list[str]:
    async with session_maker() as s:
        page = await weeding_page(s, years, per_page=200)
    return [i.title for i in page.items]


async def test_old_items_nobody_asked_for_are_listed(client, librarian, session_maker, factory):
    await ingest_demo(session_maker, factory)  # 2023–2026: too recent
    await ingest_file(session_maker, factory, shared(PERL_MARC), "pymarc")  # Perl books of 1999–2000
    titles = await old_titles(session_maker)
    assert "Programming Perl" in titles and "CGI programming with Perl" in titles and "Học máy" not in titles
    async with session_maker() as s:
        years = [i.year for i in (await weeding_page(s, 10, per_page=200)).items]
    assert years == sorted(years) and max(years) <= cutoff_year(10)
    # A profile match, a reading list and a refused request each take an item off the list.
    lan, _minh, _cohort = await people(factory)
    profile = await factory.add(InterestProfile(contact_id=lan.id, name="Perl", keywords=["perl"]))
    course = await make_course(factory)
    perl, cgi, admin = [await item_id(session_maker, t) for t in
                        ("Programming Perl", "CGI programming with Perl", "Perl for system administration")]
    await factory.add(Match(item_id=perl, profile_id=profile.id, score=1.0, matched_at=datetime.now(UTC)),
                      Citation(course_id=course.id, title="CGI programming with Perl", item_id=cgi, status="held"),
                      RequestSlip(title="Perl for system administration", item_id=admin, requested_on=date.today(),
                                  outcome="met"))
    titles = await old_titles(session_maker)
    assert not {"Programming Perl", "CGI programming with Perl", "Perl for system administration"} & set(titles)
    assert "Cross-platform Perl" in titles
    page = await client.get("/acquisitions/weeding?years=10")
    assert page.status_code == 200 and "Cross-platform Perl" in page.text and "Programming Perl<" not in page.text
    assert (await client.get("/acquisitions/weeding?years=30")).text.count("Cross-platform Perl") == 0
    bad = await client.get("/acquisitions/weeding?years=abc")
    assert bad.status_code == 400 and "từ 1 đến 200" in bad.text
    exported = await client.get("/acquisitions/weeding.csv?years=10")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["Tài liệu", "Nhan đề", "Tác giả", "Năm"] and len(rows) == len(titles) + 1
    api = await client.get("/api/acquisitions/weeding?years=10&per_page=5")
    assert api.json()["total"] == len(titles) and len(api.json()["items"]) == 5
    assert api.json()["cutoff_year"] == cutoff_year(10)


async def test_withdrawn_items_are_not_weeding_candidates(session_maker, factory):
    from sqlalchemy import update

    from crm.sources.models import ItemSource

    await ingest_file(session_maker, factory, shared(PERL_MARC), "pymarc")
    before = await old_titles(session_maker)
    async with session_maker() as s, s.begin():
        await s.execute(update(ItemSource).values(deleted=True))
    assert before and await old_titles(session_maker) == []

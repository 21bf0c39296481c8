"""The demo's acquisitions: reading lists resolved against the demo's new acquisitions, suggestions,
slips and a budget, so the pages show a realistic loop at first look."""

from sqlalchemy import func, select

from crm.acquisitions.models import BudgetLine, Citation, Course, RequestSlip, Suggestion
from crm.demo import load_demo_if_empty


async def test_the_demo_has_courses_reading_lists_suggestions_and_slips(settings, session_maker):
    assert await load_demo_if_empty(settings)
    async with session_maker() as s:
        courses = {c.code: c for c in await s.scalars(select(Course))}
        statuses = dict((await s.execute(select(Citation.status, func.count()).group_by(Citation.status))).all())
        suggestions = list(await s.scalars(select(Suggestion)))
        slips = await s.scalar(select(func.count()).select_from(RequestSlip))
        budget = await s.scalar(select(BudgetLine))
    assert set(courses) == {"TV2012", "KHMT3012"}
    assert [c.full_name for c in courses["TV2012"].lecturers] and courses["TV2012"].groups
    assert statuses.get("held", 0) >= 5 and statuses.get("not_held", 0) >= 2 and statuses.get("uncertain", 0) >= 1
    assert {s.status for s in suggestions} >= {"new", "accepted", "ordered", "rejected"}
    assert any(s.duplicate_of_id for s in suggestions)
    assert slips >= 5 and budget.amount == 50_000_000

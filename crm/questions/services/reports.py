"""Evaluation: questions asked, time to answer, resolved share and sources, per unit, lecturer or month.

A question counts in the period it was asked. Time to answer runs from asking to the first
answer (what the student waits). Resolved: answered, or closed by the library. Sources used:
the students who said, when rating, that they used the recommended sources.
"""

import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _, current_language
from crm.liaison.models import Contact, Unit
from crm.liaison.services.csv_table import write_csv
from crm.liaison.services.units import UnitService
from crm.questions.models import Answer, Question, answer_item

GROUPINGS = ("unit", "lecturer", "month")
#: The chart shows at most this many months (the most recent ones of the period).
CHART_MONTHS = 24
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 720, 240, 32


@dataclass
class Row:
    key: str
    label: str
    asked: int = 0
    answered: int = 0
    resolved: int = 0
    hours: list[float] = field(default_factory=list)
    recommended: int = 0
    ratings: int = 0
    used: int = 0
    helpful: int = 0

    @property
    def resolved_share(self) -> float | None:
        return self.resolved / self.asked if self.asked else None

    @property
    def median_hours(self) -> float | None:
        return round(statistics.median(self.hours), 1) if self.hours else None


@dataclass
class Bar:
    x: float
    y: float
    height: float
    width: float
    value: int
    kind: str  # asked | answered


@dataclass
class Chart:
    months: list[tuple[str, float]]  # (label, x of the label)
    bars: list[Bar]
    peak: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    baseline: float = CHART_HEIGHT - CHART_PAD


@dataclass
class Report:
    group_by: str
    date_from: date | None
    date_to: date | None
    rows: list[Row]
    total: Row
    chart: Chart


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min).astimezone()


def _month(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m")


async def build_report(session: AsyncSession, group_by: str = "unit", date_from: date | None = None,
                       date_to: date | None = None, unit_id: int | None = None,
                       lecturer_id: int | None = None) -> Report:
    group_by = group_by if group_by in GROUPINGS else "unit"
    recommended = (select(Answer.question_id, func.count(answer_item.c.item_id).label("n"))
                   .join(answer_item, answer_item.c.answer_id == Answer.id).group_by(Answer.question_id).subquery())
    query = (select(Question.id, Question.created_at, Question.answered_at, Question.status, Question.unit_id,
                    Question.lecturer_id, Question.rating_helpful, Question.rating_used_sources, Question.rated_at,
                    func.coalesce(recommended.c.n, 0))
             .outerjoin(recommended, recommended.c.question_id == Question.id))
    if date_from:
        query = query.where(Question.created_at >= _start(date_from))
    if date_to:
        query = query.where(Question.created_at < _start(date_to + timedelta(days=1)))
    if unit_id is not None:
        query = query.where(Question.unit_id.in_(await UnitService(session).descendant_ids([unit_id])))
    if lecturer_id is not None:
        query = query.where(Question.lecturer_id == lecturer_id)
    records = (await session.execute(query)).all()

    labels = await _labels(session, group_by, records)
    rows: dict[str, Row] = {}
    total = Row("total", _("Total"))
    monthly: dict[str, list[int]] = {}
    for (_id, created, answered_at, status, unit, lecturer, helpful, used, rated_at, n_items) in records:
        key = {"unit": unit, "lecturer": lecturer, "month": _month(created)}[group_by]
        key = "" if key is None else str(key)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(key, labels.get(key) or _("Not known"))
        for target in (row, total):
            target.asked += 1
            if answered_at is not None:
                target.answered += 1
                target.hours.append(max((answered_at - created).total_seconds() / 3600, 0.0))
            if answered_at is not None or status == "closed":
                target.resolved += 1
            target.recommended += n_items
            if rated_at is not None:
                target.ratings += 1
                target.used += 1 if used else 0
                target.helpful += 1 if helpful else 0
        counts = monthly.setdefault(_month(created), [0, 0])
        counts[0] += 1
        if answered_at is not None:
            counts[1] += 1
    ordered = sorted(rows.values(), key=(lambda r: r.key) if group_by == "month" else (lambda r: (-r.asked, r.label)))
    return Report(group_by, date_from, date_to, ordered, total, _chart(monthly))


async def _labels(session: AsyncSession, group_by: str, records: list) -> dict[str, str]:
    if group_by == "unit":
        ids = {r[4] for r in records if r[4] is not None}
        units = await session.scalars(select(Unit).where(Unit.id.in_(ids))) if ids else []
        return {str(u.id): u.name(current_language()) for u in units}
    if group_by == "lecturer":
        ids = {r[5] for r in records if r[5] is not None}
        contacts = await session.scalars(select(Contact).where(Contact.id.in_(ids))) if ids else []
        return {str(c.id): c.full_name for c in contacts}
    return {m: f"{m[5:]}/{m[:4]}" for m in {_month(r[1]) for r in records}}


def _chart(monthly: dict[str, list[int]]) -> Chart:
    """Asked and answered per month as bar geometry; the template draws the SVG (escaped as any page)."""
    months = sorted(monthly)[-CHART_MONTHS:]
    peak = max([max(monthly[m]) for m in months] or [0])
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    slot = inner_w / max(len(months), 1)
    bar_w = max(min(slot / 2.5, 28.0), 2.0)
    bars: list[Bar] = []
    labels: list[tuple[str, float]] = []
    for i, month in enumerate(months):
        x0 = CHART_PAD + i * slot + (slot - 2 * bar_w) / 2
        for j, (kind, value) in enumerate((("asked", monthly[month][0]), ("answered", monthly[month][1]))):
            height = inner_h * value / peak if peak else 0.0
            bars.append(Bar(x=round(x0 + j * bar_w, 1), y=round(CHART_HEIGHT - CHART_PAD - height, 1),
                            height=round(height, 1), width=round(bar_w - 1, 1), value=value, kind=kind))
        labels.append((f"{month[5:]}/{month[2:4]}", round(CHART_PAD + i * slot + slot / 2, 1)))
    return Chart(months=labels, bars=bars, peak=peak)


def csv_header(group_by: str) -> list[str]:
    first = {"unit": _("Unit"), "lecturer": _("Lecturer"), "month": _("Month")}.get(group_by, _("Unit"))
    return [first, _("Questions asked"), _("Answered"), _("Resolved share (%)"),
            _("Median hours to answer"), _("Sources recommended"), _("Ratings"), _("Students who used the sources"),
            _("Found the answer helpful")]


def _csv_row(row: Row) -> tuple:
    share = round(100 * row.resolved_share, 1) if row.resolved_share is not None else ""
    return (row.label, row.asked, row.answered, share, row.median_hours if row.median_hours is not None else "",
            row.recommended, row.ratings, row.used, row.helpful)


async def csv_rows(report: Report) -> AsyncIterator[tuple]:
    for row in report.rows:
        yield _csv_row(row)
    yield _csv_row(report.total)


def export_csv(report: Report) -> AsyncIterator[str]:
    """The report as CSV (formula-safe cells, UTF-8 with BOM), one row per group and a total."""
    return write_csv(csv_header(report.group_by), csv_rows(report))

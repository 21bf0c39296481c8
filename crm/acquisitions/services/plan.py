"""The purchase plan (kế hoạch bổ sung): candidates ranked live from reading-list gaps, suggestions and
refused requests, with the librarian's prices, copies, budget lines and decisions.

Why live: the reading lists, suggestions and slips change every day; a stored plan would go
stale. Only the librarian's edits are stored (``PlanEntry``), keyed by the candidate's stable
key (``isbn:<ISBN-13>``, else ``title:<folded title>``), so they survive every re-ranking. An
approved or ordered entry whose candidate has gone (the suggestion was marked received, the
gap filled) stays in the plan, so the budget still counts it.

Score of a candidate = Σ weight × students concerned, over what asks for it:
required reading > recommended reading > suggestions > refused requests.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.models import BudgetLine, Citation, Course, PlanEntry, RequestSlip, Suggestion
from crm.acquisitions.services.courses import student_counts
from crm.acquisitions.services.resolution import title_key
from crm.errors import Conflict, FieldErrors
from crm.i18n import _
from crm.liaison.ids import storable
from crm.sources.models import ItemIdentifier, ItemSource
from crm.text import nfc

REQUIRED_WEIGHT = 3.0
RECOMMENDED_WEIGHT = 1.5
SUGGESTION_WEIGHT = 1.0
REFUSAL_WEIGHT = 0.5
#: Refusals that buying would cure (not restricted access, not "other").
PURCHASE_REASONS = ("not_held", "on_loan", "lost")
#: Only refusals of the last year count: older ones say little about today's demand.
REFUSAL_WINDOW = timedelta(days=365)
#: Decisions whose cost counts against the budget.
COMMITTED = ("approved", "ordered")
#: Decisions left out of the proposed total.
SET_ASIDE = ("deferred", "rejected")


@dataclass
class Candidate:
    key: str
    title: str
    title_key: str
    authors: str | None = None
    isbn: str | None = None
    publisher: str | None = None
    year: int | None = None
    score: float = 0.0
    students: int = 0
    sources: list[schemas.PlanSource] = field(default_factory=list)
    #: Only refusals for copies (on loan, lost): wanted even though a copy is held.
    wants_copies: bool = False
    default_decision: str = "proposed"

    def add(self, kind: str, label: str, students: int, weight: float) -> None:
        students = max(1, students)
        self.sources.append(schemas.PlanSource(kind=kind, label=label, students=students, weight=weight))
        self.score += weight * students
        self.students += students

    def fill(self, authors: str | None, isbn: str | None, publisher: str | None, year: int | None) -> None:
        self.authors = self.authors or authors
        self.isbn = self.isbn or isbn
        self.publisher = self.publisher or publisher
        self.year = self.year or year


class _Pool:
    """Candidates merged by ISBN, and by folded title when one side has no ISBN."""

    def __init__(self) -> None:
        self.by_key: dict[str, Candidate] = {}
        self.by_title: dict[str, Candidate] = {}

    def get(self, title: str, isbn: str | None) -> Candidate:
        key_of_title = title_key(title)
        if isbn and f"isbn:{isbn}" in self.by_key:
            return self.by_key[f"isbn:{isbn}"]
        existing = self.by_title.get(key_of_title) if key_of_title else None
        if existing is not None and (not isbn or not existing.isbn):
            if isbn and not existing.isbn:
                # The title-only candidate learns its ISBN: re-key it so edits follow the ISBN.
                self.by_key.pop(existing.key, None)
                existing.key, existing.isbn = f"isbn:{isbn}", isbn
                self.by_key[existing.key] = existing
            return existing
        key = f"isbn:{isbn}" if isbn else f"title:{key_of_title[:400]}"
        candidate = Candidate(key=key, title=title, title_key=key_of_title, isbn=isbn)
        self.by_key[key] = candidate
        if key_of_title:
            self.by_title.setdefault(key_of_title, candidate)
        return candidate


async def _held_isbns(session: AsyncSession, isbns: set[str]) -> set[str]:
    if not isbns:
        return set()
    held = select(ItemSource.id).where(ItemSource.item_id == ItemIdentifier.item_id, ItemSource.deleted.is_(False)).exists()
    rows = await session.scalars(select(ItemIdentifier.value).where(
        ItemIdentifier.kind == "isbn", ItemIdentifier.value.in_(sorted(isbns)), held))
    return set(rows)


async def rank_candidates(session: AsyncSession, today: date | None = None) -> list[Candidate]:
    """Every candidate with its score and sources, best first (ties by title)."""
    today = today or date.today()
    pool = _Pool()
    gaps = list(await session.scalars(select(Citation).where(Citation.status == "not_held")))
    courses = {c.course_id: c.course for c in gaps}
    students = await student_counts(session, list(courses.values()))
    for citation in gaps:
        course: Course = courses[citation.course_id]
        weight = REQUIRED_WEIGHT if citation.requirement == "required" else RECOMMENDED_WEIGHT
        candidate = pool.get(citation.title, citation.isbn)
        candidate.add("reading_list", f"{course.code} — {labels.label(labels.REQUIREMENTS, citation.requirement)}",
                      students.get(course.id, 0), weight)
        candidate.fill("; ".join(citation.authors or []) or None, citation.isbn, citation.publisher, citation.year)
    suggestions = await session.scalars(select(Suggestion).where(
        Suggestion.status.in_(("new", "accepted", "ordered")), Suggestion.item_id.is_(None)))
    for suggestion in suggestions:
        candidate = pool.get(suggestion.title, suggestion.isbn)
        who = labels.label(labels.SUGGESTER_KINDS, suggestion.suggester_kind)
        candidate.add("suggestion", f"{who}: {suggestion.suggester_name}", suggestion.students, SUGGESTION_WEIGHT)
        candidate.fill(suggestion.authors, suggestion.isbn, suggestion.publisher, suggestion.year)
        if suggestion.status == "ordered":
            candidate.default_decision = "ordered"
    refusals = await session.scalars(select(RequestSlip).where(
        RequestSlip.outcome == "refused", RequestSlip.refusal_reason.in_(PURCHASE_REASONS),
        RequestSlip.requested_on >= today - REFUSAL_WINDOW))
    for slip in refusals:
        if slip.refusal_reason == "not_held" and slip.item_id is not None:
            continue  # asked for while missing, held now
        candidate = pool.get(slip.title, slip.isbn)
        candidate.add("refusal", labels.label(labels.REFUSAL_REASONS, slip.refusal_reason), slip.students,
                      REFUSAL_WEIGHT)
        candidate.fill(slip.author, slip.isbn, None, None)
        if slip.refusal_reason in ("on_loan", "lost"):
            candidate.wants_copies = True
    candidates = list(pool.by_key.values())
    held = await _held_isbns(session, {c.isbn for c in candidates if c.isbn})
    candidates = [c for c in candidates if not (c.isbn in held and not c.wants_copies)]
    candidates.sort(key=lambda c: (-c.score, c.title_key, c.key))
    return candidates


def _to_schema(rank: int, c: Candidate, entry: PlanEntry | None) -> schemas.PlanCandidate:
    price = entry.unit_price if entry else None
    copies = entry.copies if entry else 1
    line = entry.budget_line if entry else None
    return schemas.PlanCandidate(
        key=c.key, rank=rank, score=round(c.score, 2), title=c.title, authors=c.authors, isbn=c.isbn,
        publisher=c.publisher, year=c.year, students=c.students, sources=c.sources, unit_price=price, copies=copies,
        total=price * copies if price is not None else None,
        budget_line=schemas.Ref(id=line.id, name=line.name) if line else None,
        decision=entry.decision if entry else c.default_decision, note=entry.note if entry else None,
    )


async def build_plan(session: AsyncSession, decision: str | None = None, budget_line_id: int | None = None,
                     source: str | None = None) -> schemas.Plan:
    """The ranked plan (filtered for display) with totals over the whole plan and per budget line."""
    candidates = await rank_candidates(session)
    entries = {e.candidate_key: e for e in await session.scalars(select(PlanEntry))}
    used: set[str] = set()
    rows = []
    for rank, c in enumerate(candidates, start=1):
        # An entry saved while the candidate had no ISBN yet still belongs to it.
        entry = entries.get(c.key) or entries.get(f"title:{c.title_key[:400]}")
        if entry is not None:
            used.add(entry.candidate_key)
        rows.append(_to_schema(rank, c, entry))
    present = {c.key for c in candidates} | used
    for entry in entries.values():
        if entry.candidate_key not in present and entry.decision in COMMITTED:
            gone = Candidate(key=entry.candidate_key, title=entry.title, title_key=title_key(entry.title))
            if entry.candidate_key.startswith("isbn:"):
                gone.isbn = entry.candidate_key[5:]
            rows.append(_to_schema(len(rows) + 1, gone, entry))
    lines = list(await session.scalars(select(BudgetLine).order_by(BudgetLine.name)))
    committed_by_line: dict[int, int] = {}
    committed = proposed = 0
    for row in rows:
        if row.total is None:
            continue
        if row.decision in COMMITTED:
            committed += row.total
            if row.budget_line:
                committed_by_line[row.budget_line.id] = committed_by_line.get(row.budget_line.id, 0) + row.total
        elif row.decision not in SET_ASIDE:
            proposed += row.total
    budget_lines = [schemas.BudgetLine(id=b.id, name=b.name, amount=b.amount, committed=committed_by_line.get(b.id, 0),
                                       remaining=b.amount - committed_by_line.get(b.id, 0), notes=b.notes) for b in lines]
    shown = [r for r in rows
             if (not decision or r.decision == decision)
             and (budget_line_id is None or (r.budget_line and r.budget_line.id == budget_line_id))
             and (not source or any(s.kind == source for s in r.sources))]
    return schemas.Plan(candidates=shown, budget_lines=budget_lines, committed=committed, proposed=proposed,
                        budget=sum(b.amount for b in lines))


async def save_edit(session: AsyncSession, edit: schemas.PlanEdit, acting=None) -> PlanEntry:
    """Store a librarian's price, copies, budget line, decision and note for one candidate."""
    if edit.budget_line_id is not None:
        line = await session.get(BudgetLine, edit.budget_line_id) if storable(edit.budget_line_id) else None
        if line is None:
            raise FieldErrors({"budget_line_id": _("Unknown budget line.")})
    candidates = {c.key: c for c in await rank_candidates(session)}
    entry = await session.scalar(select(PlanEntry).where(PlanEntry.candidate_key == edit.key))
    if entry is None and edit.key not in candidates:
        raise FieldErrors({"key": _("This candidate is no longer in the plan.")})
    if entry is None:
        entry = PlanEntry(candidate_key=edit.key)
        session.add(entry)
    if edit.key in candidates:
        entry.title = candidates[edit.key].title
    entry.unit_price = edit.unit_price
    entry.copies = edit.copies
    entry.budget_line_id = edit.budget_line_id
    entry.decision = edit.decision
    entry.note = nfc(edit.note)
    entry.updated_by_id = acting.id if acting is not None else None
    await session.flush()
    await session.refresh(entry)
    return entry


async def create_budget_line(session: AsyncSession, data: schemas.BudgetLineCreate) -> BudgetLine:
    name = nfc(data.name) or ""
    if not name:
        raise FieldErrors({"name": _("This field is required.")})
    if await session.scalar(select(BudgetLine).where(BudgetLine.name == name)):
        raise Conflict({"name": _("A budget line with this name exists.")})
    line = BudgetLine(name=name, amount=data.amount, notes=nfc(data.notes))
    session.add(line)
    await session.flush()
    return line


async def update_budget_line(session: AsyncSession, line: BudgetLine, data: schemas.BudgetLineCreate) -> BudgetLine:
    name = nfc(data.name) or ""
    other = await session.scalar(select(BudgetLine).where(BudgetLine.name == name, BudgetLine.id != line.id))
    if other is not None:
        raise Conflict({"name": _("A budget line with this name exists.")})
    line.name, line.amount, line.notes = name, data.amount, nfc(data.notes)
    await session.flush()
    return line


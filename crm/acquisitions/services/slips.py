"""Request and unavailable slips (phiếu yêu cầu, phiếu từ chối): recorded by form or CSV, aggregated
by title and by subject so a librarian sees what readers ask for and do not get."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.models import REFUSAL_REASONS, RequestSlip
from crm.acquisitions.services.courses import item_ref
from crm.acquisitions.services.resolution import Wanted, resolve, title_key
from crm.acquisitions.services.parsing import split_authors
from crm.errors import FieldErrors
from crm.forms import cleaned, validate
from crm.i18n import _, language
from crm.liaison.ids import storable
from crm.liaison.services.csv_table import (
    MAX_IMPORT_BYTES, BadFile, ImportResult, RowError, failed, read_table,
)
from crm.pagination import Page, paginate
from crm.sources import identifiers
from crm.text import fold

__all__ = ["MAX_IMPORT_BYTES", "SLIP_HEADERS", "SlipFilter", "SlipService", "to_schema"]

#: The aggregation shows this many titles, most asked first.
SUMMARY_TITLES = 50
SLIP_HEADERS: dict[str, tuple[str, ...]] = {
    "title": ("title", "Title", "Nhan đề", "Tên tài liệu", "Tên sách"),
    "author": ("author", "Author", "Tác giả"),
    "isbn": ("isbn", "ISBN"),
    "requested_on": ("requested_on", "Date", "Ngày", "Ngày yêu cầu"),
    "outcome": ("outcome", "Outcome", "Kết quả"),
    "refusal_reason": ("refusal_reason", "Reason", "Lý do", "Lý do từ chối"),
    "subject": ("subject", "Subject", "Chủ đề", "Môn loại", "Ký hiệu phân loại", "Chuyên ngành"),
    "students": ("students", "Students", "Số sinh viên", "Số người", "Số bạn đọc"),
    "note": ("note", "Note", "Ghi chú"),
}
OUTCOME_WORDS = {"met": "met", "da dap ung": "met", "dap ung": "met", "co": "met", "yes": "met",
                 "refused": "refused", "tu choi": "refused", "khong dap ung": "refused", "no": "refused",
                 "chua dap ung": "refused"}
REASON_WORDS = {"khong co": "not_held", "chua co": "not_held", "thu vien khong co": "not_held",
                "dang muon": "on_loan", "da cho muon": "on_loan", "dang cho muon": "on_loan",
                "mat": "lost", "da mat": "lost", "han che": "restricted", "khong phuc vu": "restricted",
                "tai lieu han che": "restricted", "khac": "other"}


def _choice(value: str | None, vocabulary: dict[str, str], words: dict[str, str]) -> str | None:
    """A code from a cell: the code, its English or Vietnamese label, or a librarian's usual word."""
    word = fold(value).strip(" .")
    if not word:
        return None
    names = {fold(code): code for code in vocabulary}
    for lang in ("vi", "en"):
        with language(lang):
            names.update({fold(_(text)): code for code, text in vocabulary.items()})
    names.update(words)
    if word not in names:
        raise ValueError(word)
    return names[word]


@dataclass
class SlipFilter:
    q: str | None = None
    outcome: str | None = None
    reason: str | None = None
    subject: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def to_schema(slip: RequestSlip) -> schemas.Slip:
    return schemas.Slip(id=slip.id, title=slip.title, author=slip.author, isbn=slip.isbn, item=item_ref(slip.item),
                        requested_on=slip.requested_on, outcome=slip.outcome, refusal_reason=slip.refusal_reason,
                        note=slip.note, subject=slip.subject, students=slip.students)


class SlipService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, slip_id: int) -> RequestSlip | None:
        return await self.session.get(RequestSlip, slip_id) if storable(slip_id) else None

    def _filtered(self, query, filters: SlipFilter):
        for term in fold(filters.q).split():
            query = query.where(RequestSlip.title_key.contains(term, autoescape=True))
        if filters.outcome:
            query = query.where(RequestSlip.outcome == filters.outcome)
        if filters.reason:
            query = query.where(RequestSlip.refusal_reason == filters.reason)
        if filters.subject:
            query = query.where(RequestSlip.subject_key == fold(filters.subject))
        if filters.date_from:
            query = query.where(RequestSlip.requested_on >= filters.date_from)
        if filters.date_to:
            query = query.where(RequestSlip.requested_on <= filters.date_to)
        return query

    async def list_slips(self, filters: SlipFilter, page: int | None = 1, per_page: int | None = None) -> Page[RequestSlip]:
        query = select(RequestSlip).order_by(RequestSlip.requested_on.desc(), RequestSlip.id.desc())
        return await paginate(self.session, self._filtered(query, filters), page, per_page)

    async def _prepare(self, data: schemas.SlipCreate) -> RequestSlip:
        values = cleaned(data)
        errors: dict[str, str] = {}
        isbn = None
        if values.get("isbn"):
            isbn = identifiers.isbn13(values["isbn"])
            if isbn is None:
                errors["isbn"] = _("Not a valid ISBN: %(value)s", value=values["isbn"][:30])
        if data.outcome == "refused" and not data.refusal_reason:
            errors["refusal_reason"] = _("Say why the request was refused.")
        requested_on = data.requested_on or date.today()
        if requested_on > date.today():
            errors["requested_on"] = _("The date is in the future.")
        if not values.get("title"):
            errors["title"] = _("This field is required.")
        if errors:
            raise FieldErrors(errors)
        subject = values.get("subject")
        return RequestSlip(
            title=values["title"], author=values.get("author"), isbn=isbn, requested_on=requested_on,
            outcome=data.outcome, refusal_reason=data.refusal_reason if data.outcome == "refused" else None,
            note=values.get("note"), subject=subject, subject_key=fold(subject)[:200], students=data.students,
            title_key=title_key(values["title"]),
        )

    async def _resolve(self, slip: RequestSlip) -> None:
        """Link the slip to the held item it names, when sure (so weeding knows it was asked for)."""
        found = await resolve(self.session, Wanted(title=slip.title, authors=split_authors(slip.author), isbn=slip.isbn))
        slip.item_id = found.item_id if found.status == "held" else None

    async def create_slip(self, data: schemas.SlipCreate, acting=None) -> RequestSlip:
        slip = await self._prepare(data)
        slip.entered_by_id = acting.id if acting is not None else None
        await self._resolve(slip)
        self.session.add(slip)
        await self.session.flush()
        await self.session.refresh(slip)
        return slip

    async def delete_slip(self, slip: RequestSlip) -> None:
        await self.session.delete(slip)
        await self.session.flush()

    async def import_csv(self, data: bytes, acting=None) -> ImportResult:
        """All or nothing: every row is checked; rows numbered as the spreadsheet shows them."""
        try:
            table = read_table(data, SLIP_HEADERS, ["title"])
        except BadFile as exc:
            return ImportResult(errors=[RowError(None, None, str(exc))])
        if table.errors:
            return failed(table.errors)
        errors = list(table.row_errors)
        slips: list[RequestSlip] = []
        for number, row in table.rows:
            values = {k: v for k, v in row.items() if v}
            try:
                if "outcome" in values:
                    values["outcome"] = _choice(values["outcome"], labels.OUTCOMES, OUTCOME_WORDS)
                elif values.get("refusal_reason"):
                    values["outcome"] = "refused"
            except ValueError:
                errors.append(RowError(number, "outcome", _("Write met or refused (đáp ứng or từ chối).")))
                continue
            try:
                if "refusal_reason" in values:
                    values["refusal_reason"] = _choice(values["refusal_reason"], labels.REFUSAL_REASONS, REASON_WORDS)
            except ValueError:
                errors.append(RowError(number, "refusal_reason", _("Not a reason: use %(names)s.",
                                                                   names=", ".join(REFUSAL_REASONS))))
                continue
            try:
                slip = await self._prepare(validate(values, schemas.SlipCreate))
            except FieldErrors as exc:
                errors.extend(RowError(number, field if field != "_" else None, message)
                              for field, message in exc.errors.items())
                continue
            slip.entered_by_id = acting.id if acting is not None else None
            slips.append(slip)
        if errors:
            return failed(errors)
        for slip in slips:
            await self._resolve(slip)
        self.session.add_all(slips)
        await self.session.flush()
        return ImportResult(created=len(slips))

    async def summary(self, filters: SlipFilter, titles: int = SUMMARY_TITLES) -> schemas.SlipSummary:
        """Requests grouped by title (the most asked first) and by subject or class."""
        query = self._filtered(select(RequestSlip.title, RequestSlip.title_key, RequestSlip.isbn, RequestSlip.subject,
                                      RequestSlip.subject_key, RequestSlip.outcome, RequestSlip.refusal_reason,
                                      RequestSlip.students), filters)
        by_title: dict[str, schemas.SlipGroup] = {}
        by_subject: dict[str, schemas.SlipGroup] = {}
        for title, key, isbn, subject, subject_key, outcome, reason, students in (await self.session.execute(query)).all():
            for groups, group_key, label in ((by_title, isbn or key, title),
                                             (by_subject, subject_key, subject or _("(no subject)"))):
                group = groups.setdefault(group_key, schemas.SlipGroup(label=label, requests=0, students=0, met=0,
                                                                       refused=0, reasons={}))
                group.requests += 1
                group.students += students
                if outcome == "met":
                    group.met += 1
                else:
                    group.refused += 1
                    group.reasons[reason or "other"] = group.reasons.get(reason or "other", 0) + 1
        order = lambda g: (-g.refused, -g.students, -g.requests, fold(g.label))  # noqa: E731
        return schemas.SlipSummary(by_title=sorted(by_title.values(), key=order)[:titles],
                                   by_subject=sorted(by_subject.values(), key=order))

    async def recent_refusals(self, days: int = 90) -> int:
        return await self.session.scalar(select(func.count()).select_from(RequestSlip).where(
            RequestSlip.outcome == "refused", RequestSlip.requested_on >= date.today() - timedelta(days=days))) or 0


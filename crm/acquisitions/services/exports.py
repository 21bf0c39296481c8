"""The purchase plan for the acquisitions department, as CSV (UTF-8 with BOM, Excel-ready) and XLSX.

Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) stays text: the CSV
prefixes an apostrophe (crm.liaison.services.csv_table), the XLSX stores it as a string cell.
Amounts are whole đồng.
"""

import io
from collections.abc import AsyncIterator
from datetime import date

from crm.acquisitions import labels, schemas
from crm.i18n import _, fmt_date
from crm.liaison.services.csv_table import write_csv


def plan_header() -> list[str]:
    return [_("Rank"), _("Score"), _("Title"), _("Authors"), _("ISBN"), _("Publisher"), _("Year"), _("Students"),
            _("Why"), _("Unit price (VND)"), _("Copies"), _("Total (VND)"), _("Budget line"), _("Decision"),
            _("Note")]


def _why(candidate: schemas.PlanCandidate) -> str:
    return "; ".join(f"{labels.label(labels.PLAN_SOURCES, s.kind)}: {s.label} (×{s.students})"
                     for s in candidate.sources)


def plan_row(c: schemas.PlanCandidate) -> list:
    return [c.rank, c.score, c.title, c.authors or "", c.isbn or "", c.publisher or "", c.year or "", c.students,
            _why(c), c.unit_price if c.unit_price is not None else "", c.copies,
            c.total if c.total is not None else "", c.budget_line.name if c.budget_line else "",
            labels.label(labels.DECISIONS, c.decision), c.note or ""]


async def plan_csv(plan: schemas.Plan) -> AsyncIterator[str]:
    async def rows() -> AsyncIterator[tuple]:
        for candidate in plan.candidates:
            yield tuple(plan_row(candidate))

    async for chunk in write_csv(plan_header(), rows()):
        yield chunk


def _text_cell(sheet, row: int, column: int, value) -> None:
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever it starts with


def plan_xlsx(plan: schemas.Plan, today: date | None = None) -> bytes:
    """A workbook: the ranked plan (with a total row) and the budget lines."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    today = today or date.today()
    book = Workbook()
    sheet = book.active
    sheet.title = _("Purchase plan")[:31]
    header = plan_header()
    for column, title in enumerate(header, start=1):
        _text_cell(sheet, 1, column, title)
        sheet.cell(row=1, column=column).font = Font(bold=True)
    money = {10, 12}
    for row, candidate in enumerate(plan.candidates, start=2):
        for column, value in enumerate(plan_row(candidate), start=1):
            _text_cell(sheet, row, column, value if value != "" else None)
            if column in money:
                sheet.cell(row=row, column=column).number_format = "#,##0"
            if column in (3, 9):
                sheet.cell(row=row, column=column).alignment = Alignment(wrap_text=True, vertical="top")
    last = len(plan.candidates) + 1
    total_row = last + 1
    _text_cell(sheet, total_row, 3, _("Total"))
    sheet.cell(row=total_row, column=3).font = Font(bold=True)
    if plan.candidates:
        letter = get_column_letter(12)
        sheet.cell(row=total_row, column=12).value = f"=SUM({letter}2:{letter}{last})"
    else:
        sheet.cell(row=total_row, column=12).value = 0
    sheet.cell(row=total_row, column=12).number_format = "#,##0"
    sheet.cell(row=total_row, column=12).font = Font(bold=True)
    sheet.freeze_panes = "A2"
    widths = [6, 8, 48, 28, 16, 24, 7, 9, 48, 16, 8, 16, 22, 14, 30]
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(last, 1)}"

    budget = book.create_sheet(_("Budget")[:31])
    for column, title in enumerate([_("Budget line"), _("Amount (VND)"), _("Committed (VND)"), _("Remaining (VND)")], 1):
        _text_cell(budget, 1, column, title)
        budget.cell(row=1, column=column).font = Font(bold=True)
    for row, line in enumerate(plan.budget_lines, start=2):
        _text_cell(budget, row, 1, line.name)
        for column, value in ((2, line.amount), (3, line.committed), (4, line.remaining)):
            budget.cell(row=row, column=column).value = value
            budget.cell(row=row, column=column).number_format = "#,##0"
    summary = len(plan.budget_lines) + 3
    for offset, (title, value) in enumerate(((_("Budget"), plan.budget), (_("Committed (approved and ordered)"),
                                             plan.committed), (_("Proposed, not yet decided"), plan.proposed))):
        _text_cell(budget, summary + offset, 1, title)
        budget.cell(row=summary + offset, column=2).value = value
        budget.cell(row=summary + offset, column=2).number_format = "#,##0"
    _text_cell(budget, summary + 4, 1, _("Exported on %(date)s", date=fmt_date(today)))
    for column, width in enumerate([40, 18, 18, 18], start=1):
        budget.column_dimensions[get_column_letter(column)].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

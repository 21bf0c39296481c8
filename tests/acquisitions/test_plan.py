"""The purchase plan: candidates ranked from reading-list gaps (required > recommended), suggestions
and refused requests, weighted by students; prices, budget lines and decisions; CSV and XLSX exports."""

import csv
import io

import openpyxl
from sqlalchemy import select
import pytest

from crm.acquisitions.models import BudgetLine, PlanEntry, RequestSlip, Suggestion
from crm.acquisitions.services import plan as plan_service
from crm.acquisitions.services.citations import CitationService
from crm.acquisitions.services.parsing import CitationInput
from crm.acquisitions.services.plan import (
    RECOMMENDED_WEIGHT, REFUSAL_WEIGHT, REQUIRED_WEIGHT, SUGGESTION_WEIGHT, build_plan, rank_candidates,
)
from crm.acquisitions.services.suggestions import SuggestionService
from tests.acquisitions.helpers import make_course, people
from tests.conftest import bearer, form_post

KE_TOAN = "Giáo trình kế toán tài chính"


@pytest.fixture
async def demand(session_maker, factory, settings):
    """Two courses' gaps, two student suggestions of one title, refused requests."""
    lan, _minh, cohort = await people(factory)  # four students
    small = await make_course(factory, "TV2012", "Thư viện số", lecturers=[lan], groups=[cohort])
    large = await make_course(factory, "TV3001", "Siêu dữ liệu", enrolment=60)
    async with session_maker() as s, s.begin():
        service = CitationService(s, settings)
        await service.add(await s.merge(small), [
            CitationInput(title="Bảo quản tài liệu số", authors=["Vũ Văn Sơn"], isbn="9786040002006"),
            CitationInput(title="Siêu dữ liệu cho thư viện số", authors=["Cao Minh Kiểm"], requirement="recommended"),
        ])
        await service.add(await s.merge(large), [
            CitationInput(title="Sieu du lieu cho thu vien so", authors=["Cao Minh Kiem"], requirement="recommended")])
        suggestions = SuggestionService(s, settings)
        for name, email in (("Nguyễn Thị Mai Anh", "a@st.demo.edu.vn"), ("Trần Văn Bình", "b@st.demo.edu.vn")):
            await suggestions.create(title=KE_TOAN, authors="Ngô Thế Chi", isbn=None, kind="student", name=name, email=email)
        await suggestions.create(title='=HYPERLINK("http://evil.example","bấm vào")', authors=None, isbn=None,
                                 kind="student", name="X", email="x@st.demo.edu.vn")
        from datetime import date

        s.add_all([
            RequestSlip(title=KE_TOAN, requested_on=date.today(), outcome="refused", refusal_reason="not_held", students=3,
                        title_key="giao trinh ke toan tai chinh"),
            RequestSlip(title="Tạp chí hạn chế", requested_on=date.today(), outcome="refused", refusal_reason="restricted",
                        students=50, title_key="tap chi han che"),
            RequestSlip(title="Sách đã trả", requested_on=date.today(), outcome="met", students=50, title_key="sach da tra"),
        ])


async def test_candidates_are_ranked_by_weight_times_students(session_maker, demand):
    async with session_maker() as s:
        ranked = await rank_candidates(s)
    by_title = {c.title: c for c in ranked}
    assert [c.title for c in ranked][:3] == ["Siêu dữ liệu cho thư viện số", "Bảo quản tài liệu số", KE_TOAN]
    assert by_title["Siêu dữ liệu cho thư viện số"].score == RECOMMENDED_WEIGHT * 4 + RECOMMENDED_WEIGHT * 60
    assert by_title["Siêu dữ liệu cho thư viện số"].students == 64  # two courses' gaps are one candidate
    assert by_title["Bảo quản tài liệu số"].score == REQUIRED_WEIGHT * 4
    assert by_title["Bảo quản tài liệu số"].key == "isbn:9786040002006"
    assert by_title[KE_TOAN].score == 2 * SUGGESTION_WEIGHT + REFUSAL_WEIGHT * 3
    assert {s.kind for s in by_title[KE_TOAN].sources} == {"suggestion", "refusal"}
    assert "Tạp chí hạn chế" not in by_title and "Sách đã trả" not in by_title  # buying would not help


def test_the_weights_put_required_reading_first():
    assert REQUIRED_WEIGHT > RECOMMENDED_WEIGHT > SUGGESTION_WEIGHT > REFUSAL_WEIGHT > 0


async def test_prices_budget_lines_and_decisions_make_the_totals(client, librarian, session_maker, demand):
    r = await form_post(client, "/acquisitions/budgets", None, {"name": "Giáo trình 2027", "amount": "1.000.000"},
                        follow_redirects=False)
    assert r.status_code == 303
    async with session_maker() as s:
        line = await s.scalar(select(BudgetLine))
    page = await client.get("/acquisitions/plan")
    assert page.status_code == 200 and "isbn:9786040002006" in page.text
    r = await form_post(client, "/acquisitions/plan", "/acquisitions/plan/entry", {
        "key": "isbn:9786040002006", "unit_price": "250.000", "copies": "2", "budget_line_id": str(line.id),
        "decision": "approved", "note": "Mua ở NXB", "next": "/acquisitions/plan?page=1", "anchor": "2"},
        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/acquisitions/plan?page=1#p-2"
    await form_post(client, "/acquisitions/plan", "/acquisitions/plan/entry", {
        "key": "title:giao trinh ke toan tai chinh", "unit_price": "120000", "copies": "1", "decision": "proposed"})
    async with session_maker() as s:
        plan = await build_plan(s)
    assert (plan.budget, plan.committed, plan.proposed) == (1_000_000, 500_000, 120_000)
    assert [(b.name, b.committed, b.remaining) for b in plan.budget_lines] == [("Giáo trình 2027", 500_000, 500_000)]
    approved = next(c for c in plan.candidates if c.key == "isbn:9786040002006")
    assert (approved.unit_price, approved.copies, approved.total, approved.decision) == (250_000, 2, 500_000, "approved")
    page = await client.get("/acquisitions/plan?decision=approved")
    assert "Bảo quản tài liệu số" in page.text and KE_TOAN not in page.text and "500.000" in page.text
    gone = await form_post(client, "/acquisitions/plan", "/acquisitions/plan/entry", {"key": "title:khong co", "copies": "1"})
    assert gone.status_code == 400


async def test_an_approved_entry_whose_candidate_is_gone_still_counts(session_maker, settings, demand):
    from crm.acquisitions.schemas import PlanEdit

    async with session_maker() as s, s.begin():
        await plan_service.save_edit(s, PlanEdit(key="title:giao trinh ke toan tai chinh", unit_price=100_000,
                                                 decision="ordered"))
        for suggestion in await s.scalars(select(Suggestion)):
            suggestion.status = "received"
        for slip in await s.scalars(select(RequestSlip)):
            await s.delete(slip)
    async with session_maker() as s:
        plan = await build_plan(s)
    kept = next(c for c in plan.candidates if c.title == KE_TOAN)
    assert kept.sources == [] and kept.decision == "ordered" and plan.committed == 100_000


async def test_the_plan_exports_as_csv_and_xlsx_safely(client, librarian, session_maker, demand):
    await form_post(client, "/acquisitions/plan", "/acquisitions/plan/entry", {
        "key": "isbn:9786040002006", "unit_price": "250000", "copies": "2", "decision": "approved"})
    r = await client.get("/acquisitions/plan.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["Thứ tự", "Điểm", "Nhan đề"]
    assert rows[1][2] == "Siêu dữ liệu cho thư viện số"
    evil = next(row for row in rows if "HYPERLINK" in row[2])
    assert evil[2].startswith("'=")  # a spreadsheet shows it, never runs it
    x = await client.get("/acquisitions/plan.xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["Kế hoạch bổ sung", "Kinh phí"]
    sheet = book["Kế hoạch bổ sung"]
    assert [c.value for c in sheet[1]][:3] == ["Thứ tự", "Điểm", "Nhan đề"]
    titles = [sheet.cell(row=r, column=3).value for r in range(2, sheet.max_row)]
    assert titles[0] == "Siêu dữ liệu cho thư viện số"
    evil_cell = next(sheet.cell(row=r, column=3) for r in range(2, sheet.max_row)
                     if "HYPERLINK" in str(sheet.cell(row=r, column=3).value))
    assert evil_cell.data_type == "s" and evil_cell.value == '=HYPERLINK("http://evil.example","bấm vào")'
    approved_row = next(r for r in range(2, sheet.max_row) if sheet.cell(row=r, column=5).value == "9786040002006")
    assert sheet.cell(row=approved_row, column=10).value == 250000 and sheet.cell(row=approved_row, column=12).value == 500000
    total = sheet.cell(row=sheet.max_row, column=12)
    assert total.data_type == "f" and total.value.startswith("=SUM(L2:L")
    api = await client.get("/api/acquisitions/plan")
    assert api.status_code == 200 and api.json()["committed"] == 500_000


async def test_the_api_edits_the_plan_and_budget_lines(client, session_maker, demand, librarian_token):
    created = await client.post("/api/acquisitions/budgets", json={"name": "Sách ngoại văn", "amount": 2_000_000},
                                headers=bearer(librarian_token))
    assert created.status_code == 201
    line_id = created.json()["id"]
    dup = await client.post("/api/acquisitions/budgets", json={"name": "Sách ngoại văn"}, headers=bearer(librarian_token))
    assert dup.status_code == 409
    saved = await client.put("/api/acquisitions/plan/entries", json={
        "key": "isbn:9786040002006", "unit_price": 300_000, "copies": 3, "budget_line_id": line_id, "decision": "ordered"},
        headers=bearer(librarian_token))
    assert saved.status_code == 200 and saved.json()["decision"] == "ordered"
    lines = await client.get("/api/acquisitions/budgets", headers=bearer(librarian_token))
    assert lines.json()[0]["committed"] == 900_000 and lines.json()[0]["remaining"] == 1_100_000
    unknown = await client.put("/api/acquisitions/plan/entries", json={"key": "isbn:9786040002006", "budget_line_id": 999},
                               headers=bearer(librarian_token))
    assert unknown.status_code == 400 and "budget_line_id" in unknown.json()["errors"]
    async with session_maker() as s:
        assert await s.scalar(select(PlanEntry.copies)) == 3

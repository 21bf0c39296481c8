"""Request and unavailable slips: by form and CSV (all or nothing, errors by row), aggregated by
title and by subject."""

import re
from datetime import date

from sqlalchemy import select

from crm.acquisitions.models import RequestSlip
from tests.acquisitions.helpers import FIXTURES, count, ingest_demo, item_id
from tests.conftest import bearer, csrf_from, form_post


async def upload(client, path: str, data: bytes):
    page = await client.get("/acquisitions/slips/import")
    return await client.post(path, files={"file": ("phieu.csv", data, "text/csv")},
                             data={"_csrf_token": csrf_from(page.text)})


async def test_a_slip_by_form_links_the_held_item(client, librarian, session_maker, factory):
    await ingest_demo(session_maker, factory)
    r = await form_post(client, "/acquisitions/slips/new", None, {
        "title": "Học máy", "author": "Vũ Hữu Tiệp", "requested_on": "06/11/2026", "outcome": "refused",
        "refusal_reason": "on_loan", "subject": "Khoa học máy tính", "students": "3"}, follow_redirects=False)
    assert r.status_code == 303
    async with session_maker() as s:
        slip = await s.scalar(select(RequestSlip))
    assert (slip.requested_on, slip.refusal_reason, slip.students) == (date(2026, 11, 6), "on_loan", 3)
    assert slip.item_id == await item_id(session_maker, "Học máy")


async def test_the_form_explains_what_is_wrong(client, librarian, session_maker):
    r = await form_post(client, "/acquisitions/slips/new", None, {"title": "", "outcome": "refused",
                                                                 "requested_on": "01/01/2999", "isbn": "12"})
    assert r.status_code == 400
    assert "Hãy cho biết lý do từ chối yêu cầu." in r.text and "tương lai" in r.text and "ISBN không hợp lệ: 12" in r.text
    assert await count(session_maker, RequestSlip) == 0


async def test_a_csv_import_with_vietnamese_words(client, librarian, session_maker):
    r = await upload(client, "/acquisitions/slips/import", (FIXTURES / "slips.csv").read_bytes())
    assert r.status_code == 200 and "Đã nhập 5 phiếu." in r.text
    async with session_maker() as s:
        slips = list(await s.scalars(select(RequestSlip).order_by(RequestSlip.id)))
    assert [(x.outcome, x.refusal_reason) for x in slips] == [
        ("refused", "not_held"), ("refused", "not_held"), ("refused", "on_loan"), ("met", None), ("refused", "restricted")]
    assert slips[0].requested_on == date(2026, 11, 3) and slips[0].students == 3


async def test_a_broken_csv_saves_nothing_and_names_each_row(client, librarian, session_maker):
    r = await upload(client, "/acquisitions/slips/import", (FIXTURES / "broken-slips.csv").read_bytes())
    assert r.status_code == 400
    assert re.findall(r"<tr><td>(\d+)</td><td>", r.text) == ["2", "3", "4", "5", "6", "7"]
    assert "Hãy cho biết lý do từ chối yêu cầu." in r.text and "Hãy ghi met hoặc refused" in r.text
    assert await count(session_maker, RequestSlip) == 0


async def test_slips_are_aggregated_by_title_and_by_subject(client, librarian, session_maker, librarian_token):
    await upload(client, "/acquisitions/slips/import", (FIXTURES / "slips.csv").read_bytes())
    page = await client.get("/acquisitions/slips")
    assert page.status_code == 200 and "Theo nhan đề" in page.text and "Theo chủ đề hoặc môn loại" in page.text
    summary = (await client.get("/api/acquisitions/slips/summary", headers=bearer(librarian_token))).json()
    top = summary["by_title"][0]
    assert (top["label"], top["requests"], top["refused"], top["students"], top["reasons"]) == (
        "Giáo trình kế toán tài chính", 2, 2, 5, {"not_held": 2})
    subjects = {g["label"]: (g["requests"], g["met"]) for g in summary["by_subject"]}
    assert subjects == {"Kế toán": (2, 0), "Khoa học máy tính": (1, 0), "Văn học": (1, 1), "Thư viện học": (1, 0)}
    filtered = await client.get("/acquisitions/slips?subject=K%E1%BA%BF+to%C3%A1n")
    assert "Thi pháp học" not in filtered.text.split("Các phiếu")[1]


async def test_the_api_records_lists_and_imports_slips(client, session_maker, librarian_token):
    r = await client.post("/api/acquisitions/slips", json={"title": "Sách X", "refusal_reason": "lost",
                                                           "requested_on": "2026-11-01"}, headers=bearer(librarian_token))
    assert r.status_code == 201 and r.json()["outcome"] == "refused"
    bad = await client.post("/api/acquisitions/slips/import", content=(FIXTURES / "broken-slips.csv").read_bytes(),
                            headers={**bearer(librarian_token), "Content-Type": "text/csv"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["line"] == 2
    ok = await client.post("/api/acquisitions/slips/import", content=(FIXTURES / "slips.csv").read_bytes(),
                           headers={**bearer(librarian_token), "Content-Type": "text/csv"})
    assert ok.status_code == 200 and ok.json()["created"] == 5
    listed = await client.get("/api/acquisitions/slips?outcome=met", headers=bearer(librarian_token))
    assert [s["title"] for s in listed.json()["items"]] == ["Thi pháp học"]
    slip_id = r.json()["id"]
    assert (await client.delete(f"/api/acquisitions/slips/{slip_id}", headers=bearer(librarian_token))).status_code == 204
    assert await count(session_maker, RequestSlip) == 5

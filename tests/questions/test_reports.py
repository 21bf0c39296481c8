"""Evaluation: per unit, lecturer and month — asked, median time to answer, resolved share, sources
recommended and used; the chart on the page and a formula-safe CSV."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from crm.questions.models import Answer, Question
from crm.questions.services.reports import build_report
from crm.sources.records import ItemRecord
from tests.conftest import bearer
from tests.liaison.people import make_contact
from tests.sources.test_items import make_item

ASKED = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def _question(n: int, unit_id: int | None, lecturer_id: int | None = None, **values) -> Question:
    return Question(reference=f"CH-REP{n:04d}", student_name=f"Sinh viên {n}", student_email=f"sv{n}@example.edu.vn",
                    email_key=f"sv{n}@example.edu.vn", topic=f"Chủ đề {n}", body="Nội dung câu hỏi số " + str(n),
                    relayed_text="Nội dung câu hỏi số " + str(n), unit_id=unit_id, lecturer_id=lecturer_id,
                    **{"status": "new", "created_at": ASKED, **values})


@pytest.fixture
async def data(factory):
    cntt = await factory.unit("CNTT", "Khoa Công nghệ Thông tin")
    formula = await factory.unit("NV", "=HYPERLINK(\"http://evil.example\",\"Khoa Ngữ văn\")")
    trang = await make_contact(factory, "Bùi Thị Thu Trang", "trang@example.edu.vn", cntt.id)
    book = await make_item(factory, ItemRecord(record_key="r1", title="Nhập môn học máy"))
    other = await make_item(factory, ItemRecord(record_key="r2", title="Deep learning"))
    q1 = await factory.add(_question(1, cntt.id, trang.id, status="answered", answered_at=ASKED + timedelta(hours=24),
                                     rated_at=ASKED + timedelta(days=2), rating_helpful=True, rating_used_sources=True))
    await factory.add(_question(2, cntt.id, trang.id, status="closed", answered_at=ASKED + timedelta(hours=48),
                                closed_at=ASKED + timedelta(days=3), rated_at=ASKED + timedelta(days=3),
                                rating_helpful=False, rating_used_sources=False))
    await factory.add(_question(3, cntt.id, None))
    await factory.add(_question(4, formula.id, None, status="closed", closed_at=ASKED + timedelta(days=1)))
    await factory.add(_question(5, cntt.id, None, created_at=ASKED - timedelta(days=60)))
    async with factory.session_maker() as s, s.begin():
        s.add(Answer(question_id=q1.id, contact_id=trang.id, body="Trả lời", items=[await s.get(type(book), book.id),
                                                                                   await s.get(type(other), other.id)]))
    return {"cntt": cntt, "nv": formula, "trang": trang}


async def test_numbers_per_unit_lecturer_and_month(data, session_maker):
    async with session_maker() as s:
        report = await build_report(s, "unit", date(2026, 3, 1), date(2026, 3, 31))
        rows = {r.label: r for r in report.rows}
        cntt = rows["Khoa Công nghệ Thông tin"]
        assert (cntt.asked, cntt.answered, cntt.resolved) == (3, 2, 2)
        assert cntt.median_hours == 36.0 and round(cntt.resolved_share, 3) == 0.667
        assert (cntt.recommended, cntt.ratings, cntt.used, cntt.helpful) == (2, 2, 1, 1)
        nv = next(r for r in report.rows if r.key == str(data["nv"].id))
        assert (nv.asked, nv.answered, nv.resolved, nv.median_hours) == (1, 0, 1, None)
        assert report.total.asked == 4 and report.total.resolved == 3

        by_lecturer = await build_report(s, "lecturer", date(2026, 3, 1), date(2026, 3, 31))
        assert {r.label: r.asked for r in by_lecturer.rows} == {"Bùi Thị Thu Trang": 2, "Chưa rõ": 2}

        by_month = await build_report(s, "month")
        assert [(r.label, r.asked) for r in by_month.rows] == [("01/2026", 1), ("03/2026", 4)]
        assert [b.value for b in by_month.chart.bars] == [1, 0, 4, 2]  # asked, answered per month
        assert by_month.chart.peak == 4 and by_month.chart.bars[2].height > by_month.chart.bars[3].height

        only = await build_report(s, "unit", lecturer_id=data["trang"].id)
        assert only.total.asked == 2


async def test_the_page_draws_the_chart_and_needs_a_login(client, data, factory):
    r = await client.get("/questions/reports", follow_redirects=False)
    assert r.status_code == 303
    from tests.conftest import login

    user = await factory.user()
    await login(client, user.email)
    r = await client.get("/questions/reports", params={"group_by": "unit", "date_from": "01/03/2026", "date_to": "31/03/2026"})
    assert r.status_code == 200
    assert "<svg" in r.text and r.text.count('class="bar-asked"') == 1 and "03/26" in r.text
    assert "Khoa Công nghệ Thông tin" in r.text and "36 giờ" in r.text and "66,7 %" in r.text
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in r.text  # escaped like any text
    r = await client.get("/questions/reports", params={"date_from": "hôm qua"})
    assert r.status_code == 200 and "Ngày không hợp lệ" in r.text
    r = await client.get("/questions/reports", params={"date_from": "01/01/2030"})
    assert "Không có câu hỏi nào trong khoảng thời gian này." in r.text


async def test_the_csv_export_is_formula_safe(client, data, librarian):
    r = await client.get("/questions/reports/export.csv", params={"date_from": "2026-03-01", "date_to": "2026-03-31"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="questions-by-unit.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["Đơn vị", "Số câu hỏi", "Đã trả lời"]
    by_label = {row[0]: row for row in rows[1:]}
    assert by_label["Khoa Công nghệ Thông tin"][1:] == ["3", "2", "66.7", "36.0", "2", "2", "1", "1"]
    assert "'=HYPERLINK(\"http://evil.example\",\"Khoa Ngữ văn\")" in by_label
    assert rows[-1][0] == "Tổng cộng" and rows[-1][1] == "4"


async def test_the_report_api(client, data, librarian_token):
    r = await client.get("/api/questions/reports", params={"group_by": "lecturer", "date_from": "2026-03-01"},
                         headers=bearer(librarian_token))
    assert r.status_code == 200
    body = r.json()
    assert body["group_by"] == "lecturer" and body["total"]["asked"] == 4
    trang = next(row for row in body["rows"] if row["label"] == "Bùi Thị Thu Trang")
    assert trang["median_hours_to_answer"] == 36.0 and trang["resolved_share"] == 1.0 and trang["sources_recommended"] == 2
    r = await client.get("/api/questions/reports", params={"group_by": "weekday"}, headers=bearer(librarian_token))
    assert r.status_code == 400 and "group_by" in r.json()["errors"]

"""In Chromium: a librarian creates a course, pastes its reading list, sees what is held, confirms
an uncertain title; a student suggests a title on the public form."""

import subprocess
import sys

import pytest

from crm.demo import DEMO_MARC
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.browser

READING_LIST = """Tài liệu bắt buộc:
1. Vũ Hữu Tiệp. (2024). Học máy. Khoa học và Kỹ thuật.
2. Nguyễn Văn Bảo (2020), Trí tuệ nhân tạo, NXB Giáo dục, Hà Nội.
Tài liệu tham khảo:
- Bishop, C. M. (2006). Pattern recognition and machine learning. Springer.
"""


def test_a_reading_list_is_pasted_checked_and_confirmed(live_server, browser):
    subprocess.run([sys.executable, "-m", "crm.cli", "ingest", str(DEMO_MARC)], env=live_server["env"], cwd=ROOT,
                   check=True, capture_output=True)
    page = browser.new_page(locale="vi-VN", viewport={"width": 1280, "height": 900})
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/")

    page.get_by_role("link", name="Bổ sung", exact=True).click()
    page.wait_for_url(f"{base}/acquisitions")
    page.goto(f"{base}/acquisitions/courses/new")
    page.fill("#f-code", "KHMT3012")
    page.fill("#f-name", "Học máy")
    page.fill("#f-enrolment", "60")
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{base}/acquisitions/courses/*")

    page.fill("#f-text", READING_LIST)
    page.get_by_role("button", name="Thêm các tài liệu này").click()
    page.wait_for_url("**/acquisitions/courses/*?done=imported*")
    rows = page.locator("table.reading-list tbody tr")
    assert rows.count() == 3
    assert "Có sẵn" in rows.nth(0).inner_text()          # Học máy: held
    assert "Cần xác nhận" in rows.nth(1).inner_text()    # Trí tuệ nhân tạo, another author: to confirm
    assert "Chưa có" in rows.nth(2).inner_text()         # Bishop: not held
    rows.nth(1).get_by_role("button", name="Xác nhận").click()
    page.wait_for_load_state()
    assert "Có sẵn (đã xác nhận)" in page.locator("table.reading-list tbody tr").nth(1).inner_text()

    # The gap is now the top of the purchase plan.
    page.goto(f"{base}/acquisitions/plan")
    assert "Pattern recognition and machine learning" in page.locator("table.plan tbody tr").first.inner_text()


def test_a_student_suggests_a_title(live_server, browser):
    page = browser.new_page(locale="vi-VN", viewport={"width": 390, "height": 844})  # a phone, no account
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/suggest")
    page.fill("#f-title", "Giáo trình kế toán tài chính")
    page.fill("#f-authors", "Ngô Thế Chi")
    page.fill("#f-name", "Nguyễn Thị Mai Anh")
    page.fill("#f-email", "maianh@st.demo.edu.vn")
    box = page.locator("#f-website").bounding_box()
    assert box is None or box["x"] + box["width"] <= 0  # the honeypot stays out of sight
    page.get_by_role("button", name="Gửi đề xuất").click()
    page.wait_for_load_state()
    assert "Cảm ơn bạn đã đề xuất" in page.content() and "maianh@st.demo.edu.vn" in page.content()

"""In Chromium: log in, create a contact, record an interaction with a follow-up, see it on the home page."""

from datetime import date, timedelta

import pytest

pytestmark = pytest.mark.browser


def test_contact_interaction_follow_up_on_home(live_server, browser, tmp_path):
    page = browser.new_page(locale="vi-VN", viewport={"width": 390, "height": 844})  # a phone
    page.set_default_timeout(10_000)
    base = live_server["url"]

    page.goto(f"{base}/")
    assert "/login" in page.url
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/contacts/new")
    page.fill("#f-full_name", "Nguyễn Văn An")
    page.fill("#f-email", "an.nguyen@demo.edu.vn")
    page.select_option("#f-kind", "lecturer")
    page.fill("#f-academic_title", "TS.")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(f"{base}/contacts/*")
    assert "Nguyễn Văn An" in page.content()
    contact_url = page.url

    # Diacritic-insensitive search finds the new contact.
    page.goto(f"{base}/contacts?q=nguyen+van+an")
    assert page.get_by_role("link", name="Nguyễn Văn An").count() >= 1

    page.goto(contact_url)
    page.locator("a[href^='/interactions/new?contact_id=']").first.click()
    page.wait_for_url(f"{base}/interactions/new*")
    due = date.today() + timedelta(days=2)
    page.fill("#f-subject", "Tư vấn tìm tài liệu cho đề tài thư viện số")
    page.select_option("#f-kind", "consultation")
    page.fill("#f-occurred_on", date.today().isoformat())
    page.fill("#f-follow_up_on", due.isoformat())
    page.fill("#f-follow_up_note", "Gửi danh mục tài liệu tham khảo")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(f"{base}/interactions/*")

    page.goto(f"{base}/")
    home = page.content()
    assert "Gửi danh mục tài liệu tham khảo" in home or "Tư vấn tìm tài liệu cho đề tài thư viện số" in home
    assert due.strftime("%d/%m/%Y") in home
    page.screenshot(path=str(tmp_path / "home-phone.png"), full_page=True)

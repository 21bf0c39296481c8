"""In Chromium: the profile form checks its query as you type, marks the fault, then shows the compiled query."""

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crm.liaison.search import contact_keys

pytestmark = pytest.mark.browser


def _seed(database_url: str) -> None:
    now = datetime.now(timezone.utc).isoformat(sep=" ")
    name, email = "Nguyễn Văn An", "an@demo.edu.vn"
    keys = contact_keys(name, email)
    with sqlite3.connect(Path(database_url.split("///", 1)[1])) as db:
        db.execute(
            "INSERT INTO contact (id, full_name, email, email_key, kind, language, is_active, search_key, sort_key, "
            "created_at, updated_at) VALUES (1, ?, ?, ?, 'lecturer', 'vi', 1, ?, ?, ?, ?)",
            (name, email, email, keys["search_key"], keys["sort_key"], now, now))


def test_query_is_checked_as_you_type(live_server, browser):
    if not live_server["env"]["CRM_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("seeds the SQLite file directly")
    _seed(live_server["env"]["CRM_DATABASE_URL"])
    page = browser.new_page(locale="vi-VN")
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/profiles/new?contact_id=1")
    panel = page.locator("#query-check")
    assert panel.locator("[data-check-state=empty]").count() == 1
    page.fill("#f-name", "Thư viện số")
    page.locator("#f-query").type('title:("thư viện số" OR số hóa', delay=20)
    error = panel.locator("[data-check-state=error]")
    error.wait_for()
    assert "chưa được đóng" in error.inner_text() and "(vị trí 7)" in error.inner_text()
    assert panel.locator("mark.fault").inner_text() == "("
    assert page.url == f"{base}/profiles/new?contact_id=1"  # nothing was submitted

    page.locator("#f-query").press("End")
    page.locator("#f-query").type(")")
    page.fill("#f-languages", "vi")
    compiled = panel.locator("pre.query-compiled")
    compiled.wait_for()
    page.wait_for_function(
        "document.querySelector('#query-check pre.query-compiled').textContent.includes('lang:vie')")
    assert compiled.inner_text() == '(title:("thư viện số" OR số hóa)) AND lang:vie'
    assert panel.locator("mark.fault").count() == 0

    page.check("#f-exact")
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{base}/profiles/*")
    content = page.content()
    assert "lang:vie" in content and "Chính xác" in content

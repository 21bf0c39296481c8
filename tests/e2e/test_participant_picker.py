"""In Chromium: the participant picker of the interaction form finds people as you type, and a ticked match is saved."""

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crm.liaison.search import contact_keys, group_key

pytestmark = pytest.mark.browser


def _seed(database_url: str) -> None:
    """Two hundred contacts and a group, written straight into the server's SQLite file."""
    now = datetime.now(timezone.utc).isoformat(sep=" ")
    with sqlite3.connect(Path(database_url.split("///", 1)[1])) as db:
        db.execute("INSERT INTO unit (id, code, name_vi, kind, search_key, created_at, updated_at) VALUES (1, 'CNTT', "
                   "'Khoa Công nghệ Thông tin', 'faculty', 'cntt', ?, ?)", (now, now))
        for n in range(200):
            name = "Nguyễn Văn An" if n == 137 else f"Trần Thị Mai {n:03d}"
            email = f"person{n}@demo.edu.vn"
            keys = contact_keys(name, email)
            db.execute(
                "INSERT INTO contact (full_name, email, email_key, kind, unit_id, language, is_active, search_key, sort_key, "
                "created_at, updated_at) VALUES (?, ?, ?, 'lecturer', 1, 'vi', 1, ?, ?, ?, ?)",
                (name, email, email, keys["search_key"], keys["sort_key"], now, now))
        db.execute("INSERT INTO contact_group (name, code, kind, unit_id, search_key, created_at, updated_at) "
                   "VALUES ('Lớp K65', 'K65', 'cohort', 1, ?, ?, ?)", (group_key("Lớp K65", "K65"), now, now))


def test_pick_a_participant_by_typing(live_server, browser):
    if not live_server["env"]["CRM_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("seeds the SQLite file directly")
    _seed(live_server["env"]["CRM_DATABASE_URL"])
    page = browser.new_page(locale="vi-VN", viewport={"width": 390, "height": 844})
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/interactions/new")
    page.fill("#f-subject", "Buổi tư vấn luận văn")
    page.fill("#f-participant_q", "nguyen van an")  # no accents: still found, without a page load
    match = page.locator("[data-choices] label", has_text="Nguyễn Văn An")
    match.wait_for()
    assert page.locator("[data-choices] label").count() == 1
    match.locator("input").check()
    assert page.locator("[data-chosen] label", has_text="Nguyễn Văn An").count() == 1
    # A second search keeps what was ticked.
    page.fill("#f-participant_q", "k65")
    page.locator("[data-choices] label", has_text="Lớp K65").wait_for()
    page.locator("[data-choices] label", has_text="Lớp K65").locator("input").check()
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{base}/interactions/*")
    content = page.content()
    assert "Buổi tư vấn luận văn" in content and "Nguyễn Văn An" in content and "Lớp K65" in content

"""In Chromium: a librarian subscribes a lecturer; the lecturer, with no account, changes the
preferences from the signed link, then unsubscribes and changes their mind."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
from crm import db
from crm.liaison.models import Contact
from crm.liaison.search import contact_keys

pytestmark = pytest.mark.browser


def _run(url: str, work):
    async def go():
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with db.session_maker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    # Playwright's sync API runs an event loop in this thread; use the database from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_subscribe_then_the_lecturer_manages_it_without_logging_in(live_server, browser):
    from crm.digests.models import Subscription

    url = live_server["env"]["CRM_DATABASE_URL"]

    async def add_contact(session):
        name, email = "Nguyễn Văn An", "annv@demo.edu.vn"
        contact = Contact(full_name=name, email=email, email_key=email, kind="lecturer", **contact_keys(name, email))
        session.add(contact)
        await session.flush()
        return contact.id

    async def subscription(session):
        return await session.scalar(select(Subscription))

    contact_id = _run(url, add_contact)
    base = live_server["url"]
    page = browser.new_page(locale="vi-VN")
    page.set_default_timeout(10_000)
    page.goto(f"{base}/contacts/{contact_id}")
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/contacts/{contact_id}")
    page.locator("#main").get_by_role("link", name="Bản tin", exact=True).click()
    page.wait_for_url(f"{base}/contacts/{contact_id}/digest")
    assert page.get_by_label("Tần suất").input_value() == "weekly"
    page.get_by_role("button", name="Đăng ký", exact=True).click()
    page.wait_for_url(f"{base}/contacts/{contact_id}/digest?saved=1")
    assert "Thứ Hai hằng tuần, lúc 08:00" in page.content()
    preferences = page.get_by_role("link", name="Mở trang tùy chọn nhận tin").get_attribute("href")
    assert preferences.startswith(f"{base}/preferences/")

    # The lecturer's browser: no session, no account.
    lecturer = browser.new_context(locale="vi-VN").new_page()
    lecturer.set_default_timeout(10_000)
    lecturer.goto(preferences)
    assert lecturer.get_by_role("heading", name="Tùy chọn nhận tin").is_visible()
    lecturer.get_by_label("Tần suất").select_option("daily")
    lecturer.get_by_label("Giờ gửi").select_option("7")
    lecturer.get_by_label("Bài báo tạp chí").uncheck()
    lecturer.get_by_role("button", name="Lưu tùy chọn của tôi").click()
    assert lecturer.get_by_role("status").inner_text() == "Đã lưu tùy chọn của bạn."
    saved = _run(url, subscription)
    assert (saved.frequency, saved.hour, saved.sections) == ("daily", 7, ["acquisitions", "repository"])

    lecturer.get_by_role("link", name="English").click()
    assert lecturer.get_by_role("heading", name="Digest preferences").is_visible()
    lecturer.get_by_role("button", name="Unsubscribe from this digest").click()
    assert "You have unsubscribed" in lecturer.get_by_role("status").inner_text()
    assert _run(url, subscription).frequency == "paused"
    lecturer.get_by_label("How often").select_option("weekly")
    lecturer.get_by_role("button", name="Save my preferences").click()
    assert _run(url, subscription).frequency == "weekly"

"""In Chromium: a caught email's HTML part renders in the mailbox, and its scripts do not run."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from crm import db
from crm.mail.sink import store_message

pytestmark = pytest.mark.browser


def _store(url: str, raw: bytes) -> int:
    async def store() -> int:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            return await store_message(db.session_maker(engine), "thu-vien@demo.edu.vn", ["annv@demo.edu.vn"], raw)
        finally:
            await engine.dispose()

    # Playwright's sync API runs an event loop in this thread; store from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, store()).result()


def test_the_html_part_is_shown_sandboxed(live_server, browser):
    msg = EmailMessage()
    msg["From"] = "Thư viện <thu-vien@demo.edu.vn>"
    msg["To"] = "annv@demo.edu.vn"
    msg["Subject"] = "Bản tin tài liệu mới – Khoa Thông tin – Thư viện"
    msg.set_content("Phần văn bản của bản tin.")
    msg.add_alternative(
        "<html><body><h1>Tài liệu mới về thư viện số</h1>"
        "<script>document.body.dataset.pwned = '1'; parent.document.title = 'pwned';</script>"
        "</body></html>",
        subtype="html",
    )
    message_id = _store(live_server["env"]["CRM_DATABASE_URL"], msg.as_bytes())

    page = browser.new_page(locale="vi-VN")
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/mailbox")
    assert "/login" in page.url
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/mailbox")

    page.get_by_role("link", name="Bản tin tài liệu mới – Khoa Thông tin – Thư viện").click()
    page.wait_for_url(f"{base}/mailbox/{message_id}")
    frame = page.frame_locator("iframe.mail-html")
    assert frame.locator("h1").inner_text() == "Tài liệu mới về thư viện số"
    assert frame.locator("body[data-pwned]").count() == 0
    assert page.title() != "pwned"
    assert "Phần văn bản của bản tin." in page.locator("pre.mail").inner_text()

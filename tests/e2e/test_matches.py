"""In Chromium: a contact's page loads its matches with why, and "Dismiss" takes a bad one out in place."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.browser


async def _seed(database_url: str, var_dir) -> int:
    """A contact with a profile, three new items, and one matching run (the job's work)."""
    import crm.models  # noqa: F401  (every mapper, as the app loads them)
    from crm import db
    from crm.interests.models import InterestProfile
    from crm.liaison.models import Contact
    from crm.liaison.search import contact_keys, profile_key
    from crm.matching.services import IndexCache, match_new_items
    from crm.settings import DatabaseSettings, MailSettings, Settings
    from crm.sources.ingest import ingest
    from crm.sources.models import Source
    from crm.sources.records import ItemRecord

    settings = Settings(var_dir=var_dir, secret_key="e2e-secret-key-0123456789abcdef",
                        database=DatabaseSettings(url=database_url), mail=MailSettings())
    engine = db.create_engine(settings)
    session_maker = db.session_maker(engine)
    try:
        async with session_maker() as s, s.begin():
            contact = Contact(full_name="Nguyễn Văn An", email="an@demo.edu.vn", email_key="an@demo.edu.vn",
                              **contact_keys("Nguyễn Văn An", "an@demo.edu.vn"))
            source = Source(name="Sách mới", kind="marc", path="/tmp/e2e.mrc")
            s.add_all([contact, source])
            await s.flush()
            s.add(InterestProfile(contact_id=contact.id, name="Thư viện số", keywords=["thư viện số"],
                                  search_key=profile_key("Thư viện số", None, None)))
            contact_id, source_id = contact.id, source.id
        await ingest(session_maker, source_id, [
            ItemRecord(record_key="1", title="Thư viện số trong trường đại học", language="vie", year=2025),
            ItemRecord(record_key="2", title="Xây dựng thư viện số", language="vie", year=2024),
            ItemRecord(record_key="3", title="Hóa học hữu cơ", language="vie")])
        await match_new_items(session_maker, cache=IndexCache())
    finally:
        await engine.dispose()
    return contact_id


def test_dismiss_a_match_on_the_contact_page(live_server, browser):
    env = live_server["env"]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs an event loop in this thread
        contact_id = pool.submit(asyncio.run, _seed(env["CRM_DATABASE_URL"], env["CRM_VAR_DIR"])).result()
    page = browser.new_page(locale="vi-VN", viewport={"width": 390, "height": 844})
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/contacts/{contact_id}")
    matches = page.locator("#matches li.match")
    matches.first.wait_for()
    assert matches.count() == 2
    assert "từ khóa “thư viện số” trong nhan đề" in page.locator("#matches").inner_text()
    assert page.locator("#matches mark").first.inner_text().lower() == "thư viện số"

    matches.filter(has_text="Xây dựng thư viện số").get_by_role("button", name="Loại bỏ").click()
    page.wait_for_function("document.querySelectorAll('#matches li.match').length === 1")
    assert page.url == f"{base}/contacts/{contact_id}"  # in place, no page load
    assert "Xây dựng thư viện số" not in page.locator("#matches").inner_text()

    # The full list shows the dismissed match on demand, and restores it.
    page.goto(f"{base}/contacts/{contact_id}/matches?dismissed=1")
    dismissed = page.locator("li.match.dismissed")
    assert dismissed.count() == 1
    dismissed.get_by_role("button", name="Khôi phục").click()
    page.wait_for_load_state()
    page.goto(f"{base}/contacts/{contact_id}/matches")
    assert page.locator("li.match").count() == 2

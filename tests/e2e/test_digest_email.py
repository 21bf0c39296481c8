"""In Chromium: a real digest email reads well on a phone (375 px) and a desktop (1024 px), and the
links it carries work: the librarian sees it as sent, the reader downloads its RIS/BibTeX file."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

pytestmark = pytest.mark.browser

TITLES = [
    "Thư viện số và chuyển đổi số trong trường đại học: lý thuyết, thực tiễn và kinh nghiệm quốc tế",
    "Dữ liệu mở cho nghiên cứu khoa học",
    "Quản trị tri thức trong thư viện đại học Việt Nam",
]


async def _compose(env: dict, base_url: str, tmp: Path) -> tuple[int, bytes]:
    import crm.models  # noqa: F401
    from crm import db
    from crm.digests import compose
    from crm.digests.models import Subscription
    from crm.interests.models import InterestProfile
    from crm.liaison.models import Contact, LiaisonAssignment, Unit
    from crm.liaison.search import contact_keys
    from crm.mail.models import OutboxMessage
    from crm.matching.models import Match
    from crm.security.models import User
    from crm.settings import DatabaseSettings, MailSettings, Settings
    from crm.sources.models import Item, ItemSource, Source

    settings = Settings(var_dir=tmp, secret_key=env["CRM_SECRET_KEY"], base_url=base_url,
                        database=DatabaseSettings(url=env["CRM_DATABASE_URL"]),
                        mail=MailSettings(embedded_sink=False, sender="Thư viện Đại học <thu-vien@demo.edu.vn>"))
    engine = create_async_engine(settings.database.url, poolclass=NullPool)
    maker = db.session_maker(engine)
    now = datetime.now(UTC)
    try:
        async with maker() as s, s.begin():
            librarian = await s.scalar(select(User).where(User.email == "lan@demo.edu.vn"))
            unit = Unit(code="TTTV", name_vi="Khoa Thông tin – Thư viện", kind="faculty", search_key="tttv")
            s.add(unit)
            await s.flush()
            s.add(LiaisonAssignment(librarian_id=librarian.id, unit_id=unit.id, role="primary", start_date=date(2025, 1, 1)))
            contact = Contact(full_name="Nguyễn Văn An", email="an.nguyen@demo.edu.vn", email_key="an.nguyen@demo.edu.vn",
                              kind="lecturer", academic_title="TS.", unit_id=unit.id,
                              **contact_keys("Nguyễn Văn An", "an.nguyen@demo.edu.vn"))
            marc, feed = Source(name="Sách mới", kind="marc"), Source(name="Tạp chí", kind="feed")
            s.add_all([contact, marc, feed])
            await s.flush()
            profile = InterestProfile(contact_id=contact.id, name="Thư viện số và dữ liệu mở",
                                      keywords=["thư viện số", "dữ liệu mở"], subject_headings=[], class_ranges=[],
                                      languages=[], search_key="thu vien so")
            s.add(profile)
            items = [Item(title=title, authors=["Nguyễn, Văn An", "Trần Thị Bình"], year=2025, isbns=[], issns=[],
                          subjects=[], publisher="NXB Đại học Quốc gia Hà Nội", material_type="book", ddc="025.00285",
                          first_seen_at=now, last_updated_at=now, search_key="") for title in TITLES]
            items.append(Item(title="Open research data in Vietnamese universities", authors=["Smith, John"], year=2025,
                              journal="Journal of Librarianship and Information Science", isbns=[], issns=["0961-0006"],
                              subjects=[], doi="10.1177/09610006251234567890-a-very-long-doi-suffix",
                              material_type="article", first_seen_at=now, last_updated_at=now, search_key=""))
            s.add_all(items)
            await s.flush()
            for n, item in enumerate(items):
                s.add(ItemSource(item_id=item.id, source_id=(feed if item.doi else marc).id, record_key=f"r{n}",
                                 content_hash="0" * 64, seen_at=now))
                s.add(Match(item_id=item.id, profile_id=profile.id, score=5.0 - n, matched_at=now,
                            explanation=[{"clause": '"thu vien so"', "kind": "phrase", "fields": ["title"], "weight": 3}]))
            subscription = Subscription(contact_id=contact.id, language="vi", max_items=30,
                                        sections=["acquisitions", "articles", "repository"])
            s.add(subscription)
            await s.flush()
            digest = await compose.queue_digest(s, settings, subscription, contact, "2026-W48")
            raw = await s.scalar(select(OutboxMessage.raw).where(OutboxMessage.id == digest.outbox_id))
            return digest.id, raw
    finally:
        await engine.dispose()


def _in_thread(coroutine):
    # Playwright's sync API runs an event loop in this thread; the database work runs in another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_digest_email_reads_well_on_phone_and_desktop(live_server, browser, tmp_path):
    digest_id, raw = _in_thread(_compose(live_server["env"], live_server["url"], tmp_path))
    message = message_from_bytes(raw, policy=policy.default)
    html = message.get_body(("html",)).get_content()

    for width in (375, 1024):
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.set_content(html)
        sizes = page.evaluate("""() => {
            const px = el => parseFloat(getComputedStyle(el).fontSize);
            const text = [...document.querySelectorAll('p, li, a, span, h1, h2, h3')]
                .filter(el => el.offsetParent !== null && el.textContent.trim());
            return {scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
                    widest: Math.max(...[...document.body.querySelectorAll('*')].map(e => e.getBoundingClientRect().right)),
                    citation: px(document.querySelector('p.citation')), smallest: Math.min(...text.map(px))};
        }""")
        assert sizes["scroll"] <= sizes["client"], (width, sizes)  # no horizontal scrolling
        assert sizes["widest"] <= width + 0.5, (width, sizes)
        assert sizes["citation"] >= 16 and sizes["smallest"] >= 13, (width, sizes)
        assert page.locator("p.citation").count() == 4
        assert page.get_by_text("Kính gửi TS. Nguyễn Văn An,").is_visible()
        page.screenshot(path=str(tmp_path / f"digest-{width}.png"), full_page=True)
        page.close()
    assert (tmp_path / "digest-375.png").stat().st_size > 0 and (tmp_path / "digest-1024.png").stat().st_size > 0

    # The reader's export link works without logging in.
    page = browser.new_page()
    bib_link = page.evaluate("html => new DOMParser().parseFromString(html, 'text/html')"
                             ".querySelectorAll('a[href*=\"export.bib\"]')[0].href", html)
    response = page.request.get(bib_link)
    assert response.status == 200 and "@book{nguyen2025thu" in response.text()
    page.close()

    # The librarian opens the digest as it was sent.
    page = browser.new_page(locale="vi-VN")
    page.set_default_timeout(10_000)
    base = live_server["url"]
    page.goto(f"{base}/digests/{digest_id}")
    page.get_by_label("Email").fill(live_server["email"])
    page.get_by_label("Mật khẩu").fill(live_server["password"])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base}/digests/{digest_id}")
    frame = page.frame_locator("iframe.mail-html")
    assert frame.locator("p.citation").count() == 4
    assert "Trần Thị Lan" in frame.locator("body").inner_text()  # the liaison's signature
    page.screenshot(path=str(tmp_path / "digest-as-sent.png"), full_page=True)

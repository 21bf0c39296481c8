"""Vietnamese is the default; English is one switch away; every string has a translation."""

import re
import unicodedata

from crm import i18n
from crm.i18n_check import extracted, missing
from tests.conftest import form_post, login

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_translatable_string_has_a_vietnamese_translation():
    absent = missing("vi")
    report = "\n".join(f"{msgid!r} ({places[0]})" for msgid, places in sorted(absent.items()))
    assert not absent, f"{len(absent)} strings lack a Vietnamese translation:\n{report}"


def test_translations_keep_placeholders_and_are_nfc():
    catalog = i18n.catalog("vi")
    used = extracted()
    for msgid, msgstr in catalog.items():
        texts = msgstr if isinstance(msgstr, tuple) else (msgstr,)
        for text in texts:
            assert unicodedata.is_normalized("NFC", text), msgid
            if msgid in used:
                assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(msgid)), msgid


def test_gettext_follows_the_current_language():
    with i18n.language("vi"):
        assert i18n._("Log in") == "Đăng nhập"
        assert i18n._("At most %(n)s characters.", n=5) == "Tối đa 5 ký tự."
    with i18n.language("en"):
        assert i18n._("Log in") == "Log in"


def test_dates_are_written_day_first_in_vietnamese():
    from datetime import date

    with i18n.language("vi"):
        assert i18n.fmt_date(date(2025, 11, 4)) == "04/11/2025"
    with i18n.language("en"):
        assert "2025" in i18n.fmt_date(date(2025, 11, 4))


async def test_pages_are_vietnamese_by_default_and_switch_to_english(client, factory):
    r = await client.get("/login")
    assert "Đăng nhập" in r.text and '<html lang="vi">' in r.text
    r = await client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in r.text and "Log in" in r.text

    user = await factory.user()
    await login(client, user.email)
    r = await client.get("/account")
    assert "Tài khoản của tôi" in r.text
    await form_post(client, "/account", "/language", {"language": "en", "next": "/account"})
    r = await client.get("/account")
    assert "My account" in r.text
    # The choice is kept on the account, so it follows the librarian to another browser.
    from sqlalchemy import select

    from crm.security.models import User

    async with factory.session_maker() as s:
        assert (await s.scalar(select(User.language).where(User.id == user.id))) == "en"


async def test_api_errors_are_in_the_users_language(client, librarian_token):
    from tests.conftest import bearer

    r = await client.post("/api/units", json={"code": ""}, headers=bearer(librarian_token))
    # A librarian may not create units at all: 403, in Vietnamese by default.
    assert r.status_code == 403
    assert "không có quyền" in r.json()["detail"]

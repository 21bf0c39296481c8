"""Login, logout, sessions, CSRF, API tokens, roles and the login rate limit."""

from sqlalchemy import select

from crm.security.models import User
from crm.security.services import verify_password
from tests.conftest import PASSWORD, bearer, csrf_from, form_post, login


async def test_passwords_are_stored_as_argon2_hashes(factory, session):
    user = await factory.user()
    stored = await session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD) and not verify_password(stored, "wrong password")


async def test_login_and_logout(client, factory):
    user = await factory.user()
    r = await client.get("/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/account")

    r = await login(client, user.email)
    assert r.headers["location"] == "/"
    assert (await client.get("/account")).status_code == 200

    r = await form_post(client, "/account", "/logout", {}, follow_redirects=False)
    assert r.status_code == 303
    r = await client.get("/account", follow_redirects=False)
    assert r.status_code == 303


async def test_wrong_password_is_refused_with_a_message(client, factory):
    user = await factory.user()
    r = await form_post(client, "/login", "/login", {"email": user.email, "password": "nope nope nope"})
    assert r.status_code == 400
    assert "Sai email hoặc mật khẩu" in r.text
    r = await form_post(client, "/login", "/login", {"email": "nobody@example.org", "password": "whatever123"})
    assert r.status_code == 400
    assert (await client.get("/account", follow_redirects=False)).status_code == 303


async def test_inactive_account_cannot_log_in(client, factory, session_maker):
    user = await factory.user()
    async with session_maker() as s, s.begin():
        (await s.get(User, user.id)).is_active = False
    r = await form_post(client, "/login", "/login", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 400


async def test_login_redirects_only_to_local_paths(client, factory):
    user = await factory.user()
    page = await client.get("/login")
    r = await client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "next": "//evil.example/x", "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


async def test_forms_without_a_csrf_token_are_rejected(client, factory):
    user = await factory.user()
    await client.get("/login")  # sets the CSRF cookie
    r = await client.post("/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    r = await client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "_csrf_token": "forged"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert "Biểu mẫu đã hết hạn" in r.text


async def test_csrf_protects_logged_in_forms_too(client, librarian):
    r = await client.post("/account/tokens", data={"name": "x"})
    assert r.status_code == 403


async def test_changing_the_password_ends_other_sessions(new_client, factory):
    user = await factory.user()
    async with new_client() as first, new_client() as second:
        await login(first, user.email)
        await login(second, user.email)
        r = await form_post(first, "/account", "/account", {
            "full_name": user.full_name, "language": "vi",
            "current_password": PASSWORD, "password": "a brand new passphrase",
        }, follow_redirects=False)
        assert r.status_code == 303
        assert (await first.get("/account", follow_redirects=False)).status_code == 200
        assert (await second.get("/account", follow_redirects=False)).status_code == 303


async def test_wrong_current_password_does_not_change_it(client, librarian):
    r = await form_post(client, "/account", "/account", {
        "full_name": librarian.full_name, "language": "vi",
        "current_password": "not it at all", "password": "a brand new passphrase",
    })
    assert r.status_code == 400
    assert "Mật khẩu hiện tại không đúng" in r.text


async def test_api_needs_authentication(client):
    for path in ("/api/me", "/api/units", "/api/users", "/api/tokens"):
        r = await client.get(path)
        assert r.status_code == 401, path
        assert r.json()["detail"]


async def test_api_tokens_authenticate_and_can_be_revoked(client, factory):
    user = await factory.user()
    token = await factory.token(user)
    r = await client.get("/api/me", headers=bearer(token))
    assert r.status_code == 200 and r.json()["email"] == user.email

    r = await client.post("/api/tokens", json={"name": "second"}, headers=bearer(token))
    assert r.status_code == 201
    second = r.json()
    assert second["token"].startswith("crm_")
    listed = (await client.get("/api/tokens", headers=bearer(token))).json()
    assert {t["name"] for t in listed} == {"test", "second"}
    assert all("token" not in t for t in listed)  # only the prefix is ever shown again

    assert (await client.delete(f"/api/tokens/{second['id']}", headers=bearer(token))).status_code == 204
    assert (await client.get("/api/me", headers=bearer(second["token"]))).status_code == 401


async def test_a_bad_token_is_401_not_anonymous(client):
    r = await client.get("/api/me", headers=bearer("crm_not-a-token"))
    assert r.status_code == 401


async def test_tokens_are_created_and_revoked_from_the_account_page(client, librarian):
    r = await form_post(client, "/account", "/account/tokens", {"name": "Zotero script"})
    assert r.status_code == 200
    token = r.text.split('id="new-token">')[1].split("<")[0]
    assert (await client.get("/api/me", headers=bearer(token))).status_code == 200
    r = await form_post(client, "/account", "/account/tokens", {"name": ""})
    assert r.status_code == 400


async def test_api_writes_need_a_token_even_when_logged_in(client, admin):
    # A session cookie is enough for reading, not for writing: a cross-site form cannot use it.
    assert (await client.get("/api/units")).status_code == 200
    r = await client.post("/api/units", json={"code": "X", "name_vi": "X"})
    assert r.status_code == 401


async def test_librarians_cannot_manage_accounts(client, librarian, librarian_token):
    assert (await client.get("/admin/users")).status_code == 403
    assert (await client.get("/api/users", headers=bearer(librarian_token))).status_code == 403
    r = await client.post(
        "/api/users",
        json={"email": "x@example.org", "full_name": "X", "password": "long enough pw"},
        headers=bearer(librarian_token),
    )
    assert r.status_code == 403


async def test_login_is_rate_limited(client, factory):
    user = await factory.user()
    page = await client.get("/login")
    token = csrf_from(page.text)
    statuses = []
    for _ in range(12):
        r = await client.post("/login", data={"email": user.email, "password": "guess guess", "_csrf_token": token})
        statuses.append(r.status_code)
    assert statuses[:10] == [400] * 10
    assert statuses[-1] == 429

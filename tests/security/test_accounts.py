"""Administrators manage librarian accounts, through the API and the pages."""

from tests.conftest import bearer, form_post, login


async def test_admin_creates_updates_and_deactivates_an_account(client, admin_token):
    h = bearer(admin_token)
    r = await client.post(
        "/api/users",
        json={"email": "Lan.Tran@Example.edu.vn", "full_name": "Trần Thị Lan", "password": "mật khẩu dài đủ", "role": "librarian"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == "lan.tran@example.edu.vn"
    assert "password" not in user and "password_hash" not in user

    r = await client.patch(f"/api/users/{user['id']}", json={"role": "admin", "language": "en"}, headers=h)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await client.patch(f"/api/users/{user['id']}", json={"is_active": False}, headers=h)
    assert r.json()["is_active"] is False
    assert (await client.get(f"/api/users/{user['id']}", headers=h)).json()["is_active"] is False
    assert (await client.get("/api/users/99999", headers=h)).status_code == 404


async def test_account_input_errors(client, admin_token):
    h = bearer(admin_token)
    base = {"email": "a@example.org", "full_name": "A", "password": "long enough pw"}
    assert (await client.post("/api/users", json=base, headers=h)).status_code == 201
    r = await client.post("/api/users", json={**base, "email": "A@EXAMPLE.org"}, headers=h)
    assert r.status_code == 409 and "email" in r.json()["errors"]
    r = await client.post("/api/users", json={**base, "email": "not an email"}, headers=h)
    assert r.status_code == 400 and "email" in r.json()["errors"]
    r = await client.post("/api/users", json={**base, "email": "b@example.org", "password": "short"}, headers=h)
    assert r.status_code == 400 and "password" in r.json()["errors"]
    r = await client.post("/api/users", json={**base, "email": "c@example.org", "role": "superuser"}, headers=h)
    assert r.status_code == 400 and "role" in r.json()["errors"]
    r = await client.post("/api/users", json={**base, "email": "d@example.org", "full_name": "x" * 500}, headers=h)
    assert r.status_code == 400 and "full_name" in r.json()["errors"]
    r = await client.post("/api/users", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400


async def test_the_last_administrator_cannot_be_demoted(client, admin):
    r = await form_post(client, f"/admin/users/{admin.id}", None, {
        "email": admin.email, "full_name": admin.full_name, "role": "librarian", "language": "vi", "is_active": "on",
    })
    assert r.status_code == 400
    assert "quản trị" in r.text


async def test_admin_pages_create_an_account_that_can_log_in(new_client, client, admin):
    r = await form_post(client, "/admin/users/new", None, {
        "email": "minh@example.edu.vn", "full_name": "Lê Hoàng Minh", "password": "thư viện số 2026",
        "role": "librarian", "language": "vi",
    }, follow_redirects=False)
    assert r.status_code == 303
    page = await client.get("/admin/users")
    assert "Lê Hoàng Minh" in page.text

    async with new_client() as other:
        await login(other, "minh@example.edu.vn", "thư viện số 2026")
        assert (await other.get("/admin/users")).status_code == 403

    r = await form_post(client, "/admin/users/new", None, {"email": "bad", "full_name": "", "password": "x"})
    assert r.status_code == 400
    for message in ("Địa chỉ email không hợp lệ", "Trường này là bắt buộc", "Ít nhất 10 ký tự"):
        assert message in r.text


async def test_admin_deactivates_an_account_from_its_page(client, admin, factory, session_maker):
    from crm.security.models import User

    other = await factory.user(email="lan@example.edu.vn", full_name="Trần Thị Lan")
    r = await form_post(client, f"/admin/users/{other.id}", None, {
        "email": other.email, "full_name": other.full_name, "role": "librarian", "language": "vi",
    }, follow_redirects=False)
    assert r.status_code == 303
    async with session_maker() as s:
        assert (await s.get(User, other.id)).is_active is False

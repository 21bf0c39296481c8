from tests.conftest import bearer, login


async def test_login_page_renders(client):
    r = await client.get("/login")
    assert r.status_code == 200
    assert "Đăng nhập" in r.text or "Log in" in r.text


async def test_units_flow(client, admin, admin_token):
    r = await client.post("/api/units", json={"code": "DHX", "name_vi": "Đại học X", "kind": "university"}, headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    r = await client.get("/units")
    assert r.status_code == 200
    assert "Đại học X" in r.text

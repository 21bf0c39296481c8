"""The source registry's API: CRUD, who may change what, URL and path rules, uploads, runs."""

import pytest
from sqlalchemy import select

from crm.sources import uploads
from crm.sources.models import Source, SourceRun
from tests.conftest import bearer
from tests.sources.httpserver import Reply, http_server  # noqa: F401 - the fixture

FEED = {"name": "Tài liệu mới — Thư viện Trung tâm", "kind": "feed", "url": "https://opac.example.edu.vn/rss/new"}


async def _user_token(factory, email: str, role: str = "librarian") -> tuple[object, dict]:
    user = await factory.user(email=email, role=role, full_name=f"Người dùng {email.split('@')[0]}")
    return user, bearer(await factory.token(user))


async def test_source_crud_through_the_api(client, factory):
    lan, h = await _user_token(factory, "lan@example.edu.vn")
    r = await client.post("/api/sources", json={**FEED, "interval_minutes": 60, "notes": "RSS của Koha"}, headers=h)
    assert r.status_code == 201, r.text
    source = r.json()
    assert source["owner"] == {"id": lan.id, "full_name": lan.full_name}
    assert source["interval_minutes"] == 60 and source["enabled"] is True
    assert source["oai_metadata_prefix"] == "oai_dc" and source["last_status"] is None and source["uploaded"] is False

    r = await client.patch(f"/api/sources/{source['id']}", json={"enabled": False, "interval_minutes": None}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["interval_minutes"] is None and r.json()["name"] == FEED["name"]

    r = await client.get("/api/sources", headers=h)
    assert r.json()["total"] == 1 and r.json()["items"][0]["id"] == source["id"]
    assert (await client.get(f"/api/sources/{source['id']}/runs", headers=h)).json()["items"] == []

    assert (await client.delete(f"/api/sources/{source['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/sources/{source['id']}", headers=h)).status_code == 404
    assert (await client.get("/api/sources/99999999999999999999999", headers=h)).status_code in (400, 404)
    assert (await client.get("/api/runs/123", headers=h)).status_code == 404


async def test_oai_source_keeps_set_and_prefix(client, factory):
    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    r = await client.post("/api/sources", json={"name": "Kho tài liệu số", "kind": "oai",
                                                "url": "https://repository.vnu.edu.vn/oai/request",
                                                "oai_set": "com_123456789_1", "oai_metadata_prefix": "marc21"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["oai_set"] == "com_123456789_1" and r.json()["oai_metadata_prefix"] == "marc21"
    r = await client.post("/api/sources", json={"name": "x", "kind": "oai", "url": "https://a.vn/oai",
                                                "oai_set": "có dấu cách", "oai_metadata_prefix": "oai dc"}, headers=h)
    assert r.status_code == 400 and set(r.json()["errors"]) == {"oai_set", "oai_metadata_prefix"}


@pytest.mark.parametrize("url", ["ftp://example.edu.vn/feed.xml", "javascript:alert(1)", "file:///etc/passwd",
                                 "https://", "not a url", "http://user:secret@example.edu.vn/rss",
                                 "data:text/html,<script>alert(1)</script>", "http://exa mple.vn/rss"])
async def test_only_http_and_https_urls_are_accepted(client, factory, url):
    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    r = await client.post("/api/sources", json={**FEED, "url": url}, headers=h)
    assert r.status_code == 400, (url, r.text)
    assert "url" in r.json()["errors"]
    # Changing a good source to a bad address is refused the same way.
    created = (await client.post("/api/sources", json=FEED, headers=h)).json()
    r = await client.patch(f"/api/sources/{created['id']}", json={"url": url}, headers=h)
    assert r.status_code == 400 and "url" in r.json()["errors"]


async def test_kind_rules(client, factory):
    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    r = await client.post("/api/sources", json={"name": "Feed", "kind": "feed"}, headers=h)
    assert r.status_code == 400 and "url" in r.json()["errors"]
    r = await client.post("/api/sources", json={"name": "MARC", "kind": "marc", "url": "https://a.vn/x.mrc"}, headers=h)
    assert r.status_code == 400 and "url" in r.json()["errors"]
    r = await client.post("/api/sources", json={"name": "   ", "kind": "rss", "url": "https://a.vn"}, headers=h)
    assert r.status_code == 400
    for bad in (5, 0, -60, 10**9):
        r = await client.post("/api/sources", json={**FEED, "interval_minutes": bad}, headers=h)
        assert r.status_code == 400 and "interval_minutes" in r.json()["errors"], bad
    r = await client.post("/api/sources", json={**FEED, "unknown": 1}, headers=h)
    assert r.status_code == 400
    r = await client.post("/api/sources", json={"name": "MARC", "kind": "marc"}, headers=h)
    assert r.status_code == 201 and r.json()["path"] is None


async def test_permissions(client, factory, tmp_path):
    lan, h_lan = await _user_token(factory, "lan@example.edu.vn")
    _binh, h_binh = await _user_token(factory, "binh@example.edu.vn")
    admin, h_admin = await _user_token(factory, "admin@example.edu.vn", role="admin")
    # Anonymous: 401 everywhere under /api.
    assert (await client.get("/api/sources")).status_code == 401
    assert (await client.post("/api/sources", json=FEED)).status_code == 401
    assert (await client.get("/api/items")).status_code == 401

    mine = (await client.post("/api/sources", json=FEED, headers=h_lan)).json()
    # Another librarian reads it but may not change, harvest, upload to or delete it.
    assert (await client.get(f"/api/sources/{mine['id']}", headers=h_binh)).status_code == 200
    assert (await client.patch(f"/api/sources/{mine['id']}", json={"name": "x"}, headers=h_binh)).status_code == 403
    assert (await client.delete(f"/api/sources/{mine['id']}", headers=h_binh)).status_code == 403
    assert (await client.post(f"/api/sources/{mine['id']}/harvest", headers=h_binh)).status_code == 403
    assert (await client.post(f"/api/sources/{mine['id']}/upload", content=b"x", headers=h_binh)).status_code == 403
    # A librarian cannot give a source to someone else; an administrator can.
    r = await client.patch(f"/api/sources/{mine['id']}", json={"owner_id": admin.id}, headers=h_lan)
    assert r.status_code == 400 and "owner_id" in r.json()["errors"]
    r = await client.post("/api/sources", json={**FEED, "owner_id": admin.id}, headers=h_lan)
    assert r.status_code == 400 and "owner_id" in r.json()["errors"]
    r = await client.patch(f"/api/sources/{mine['id']}", json={"name": "Sửa bởi quản trị", "owner_id": None}, headers=h_admin)
    assert r.status_code == 200 and r.json()["owner"] is None
    assert (await client.patch(f"/api/sources/{mine['id']}", json={"name": "y"}, headers=h_lan)).status_code == 403
    r = await client.patch(f"/api/sources/{mine['id']}", json={"owner_id": lan.id}, headers=h_admin)
    assert r.json()["owner"]["id"] == lan.id
    r = await client.patch(f"/api/sources/{mine['id']}", json={"owner_id": 987654}, headers=h_admin)
    assert r.status_code == 400 and "owner_id" in r.json()["errors"]

    # Only administrators name a file on the server.
    marc = tmp_path / "moi.mrc"
    marc.write_bytes(b"00000")
    r = await client.post("/api/sources", json={"name": "Koha", "kind": "marc", "path": str(marc)}, headers=h_lan)
    assert r.status_code == 400 and "path" in r.json()["errors"]
    r = await client.post("/api/sources", json={"name": "Koha", "kind": "marc", "path": str(marc)}, headers=h_admin)
    assert r.status_code == 201 and r.json()["path"] == str(marc) and r.json()["uploaded"] is False
    for bad in ("relative/file.mrc", str(tmp_path / "missing.mrc"), str(tmp_path)):
        r = await client.post("/api/sources", json={"name": "Koha", "kind": "marc", "path": bad}, headers=h_admin)
        assert r.status_code == 400 and "path" in r.json()["errors"], bad
    # A cookie session may read the API but not write to it.
    assert (await client.post("/api/sources", json=FEED)).status_code == 401


async def test_changing_the_address_resets_the_harvest_state(client, factory, session_maker):
    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    created = (await client.post("/api/sources", json={**FEED, "interval_minutes": 120}, headers=h)).json()
    async with session_maker() as s, s.begin():
        source = await s.get(Source, created["id"])
        source.etag, source.last_modified = '"abc"', "Mon, 01 Dec 2025 00:00:00 GMT"
    await client.patch(f"/api/sources/{created['id']}", json={"notes": "ghi chú"}, headers=h)
    async with session_maker() as s:
        assert (await s.get(Source, created["id"])).etag == '"abc"'
    await client.patch(f"/api/sources/{created['id']}", json={"url": "https://opac.example.edu.vn/rss/khac"}, headers=h)
    async with session_maker() as s:
        source = await s.get(Source, created["id"])
        assert source.etag is None and source.last_modified is None


async def test_upload_through_the_api_is_limited_and_stored_safely(client, factory, settings, monkeypatch):
    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    feed = (await client.post("/api/sources", json=FEED, headers=h)).json()
    r = await client.post(f"/api/sources/{feed['id']}/upload", content=b"x", headers=h)
    assert r.status_code == 400 and "file" in r.json()["errors"]

    marc = (await client.post("/api/sources", json={"name": "Sách mới", "kind": "marc"}, headers=h)).json()
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1000)
    r = await client.post(f"/api/sources/{marc['id']}/upload", content=b"0" * 1001, headers=h)
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    r = await client.post(f"/api/sources/{marc['id']}/upload", files={"file": ("big.mrc", b"0" * 2000)}, headers=h)
    assert r.status_code == 413
    r = await client.post(f"/api/sources/{marc['id']}/upload", content=b"", headers=h)
    assert r.status_code == 400 and "file" in r.json()["errors"]
    # Nothing half-written is left behind.
    folder = settings.var_dir / "uploads"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_stored_names_never_come_from_the_client(settings):
    for client_name in ("../../etc/passwd", "..\\..\\boot.ini", "/abs/path/Sách mới.mrc", "", None, "a" * 500 + ".xml",
                        ".hidden", "x.php"):
        name = uploads.stored_name(client_name)
        assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
        assert name.endswith(uploads.SUFFIXES) and len(name) < 100
    assert uploads.stored_name("Sách mới T11.mrc").endswith("-sach-moi-t11.mrc")
    assert uploads.display_name("/x/0123456789abcdef-sach-moi.mrc") == "sach-moi.mrc"
    assert not uploads.is_upload("/etc/passwd", settings)


async def test_runs_of_a_source(client, factory, session_maker):
    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    created = (await client.post("/api/sources", json=FEED, headers=h)).json()
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    async with session_maker() as s, s.begin():
        for n in range(3):
            s.add(SourceRun(source_id=created["id"], started_at=now - timedelta(hours=n), finished_at=now, status="partial",
                            read=10, new=7, updated=1, duplicates=1, rejected=1,
                            rejections=[{"number": 4, "reason": "Không có nhan đề", "record_key": f"k{n}"}]))
    r = await client.get(f"/api/sources/{created['id']}/runs", params={"per_page": 2}, headers=h)
    assert r.status_code == 200 and r.json()["total"] == 3 and len(r.json()["items"]) == 2
    newest = r.json()["items"][0]
    assert newest["rejections"] == [{"number": 4, "reason": "Không có nhan đề", "record_key": "k0"}]
    assert newest["source_name"] == FEED["name"]
    r = await client.get(f"/api/runs/{newest['id']}", headers=h)
    assert r.json()["new"] == 7 and r.json()["status"] == "partial"
    async with session_maker() as s:
        assert len(list(await s.scalars(select(SourceRun)))) == 3
    # Deleting the source deletes its runs.
    await client.delete(f"/api/sources/{created['id']}", headers=h)
    async with session_maker() as s:
        assert list(await s.scalars(select(SourceRun))) == []


async def test_upload_and_harvest_now_answer_with_the_run_report(client, factory, http_server):
    from tests.sources.test_harvest import BOOKS, RSS, marc_bytes

    _lan, h = await _user_token(factory, "lan@example.edu.vn")
    marc = (await client.post("/api/sources", json={"name": "Sách mới", "kind": "marc"}, headers=h)).json()
    r = await client.post(f"/api/sources/{marc['id']}/upload", params={"filename": "sach-moi.mrc"},
                          content=marc_bytes(*BOOKS), headers=h)
    assert r.status_code == 201, r.text
    run = r.json()
    assert (run["status"], run["new"], run["rejected"], run["origin"]) == ("partial", 2, 1, "sach-moi.mrc")
    assert run["rejections"][0]["number"] == 2
    r = await client.post(f"/api/sources/{marc['id']}/upload", files={"file": ("T12.mrc", marc_bytes(BOOKS[0]))},
                          headers=h)
    assert r.status_code == 201 and r.json()["duplicates"] == 1
    source = (await client.get(f"/api/sources/{marc['id']}", headers=h)).json()
    assert source["uploaded"] is True and source["last_status"] == "ok"

    http_server.route("/rss", Reply(200, RSS, headers={"Content-Type": "application/rss+xml"}))
    feed = (await client.post("/api/sources", json={**FEED, "url": http_server.url("/rss")}, headers=h)).json()
    r = await client.post(f"/api/sources/{feed['id']}/harvest", headers=h)
    assert r.status_code == 201 and r.json()["status"] == "ok" and r.json()["new"] == 2
    assert (await client.get(f"/api/runs/{r.json()['id']}", headers=h)).json()["new"] == 2
    r = await client.get("/api/items", params={"source_id": feed["id"]}, headers=h)
    assert r.json()["total"] == 2

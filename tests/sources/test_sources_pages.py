"""The source pages: list, form, details with run history, upload, harvest now, the run report."""

import re
from datetime import UTC, datetime

from sqlalchemy import select

from crm.sources import uploads
from crm.sources.models import Source, SourceRun
from tests.conftest import csrf_from, form_post, login
from tests.sources.test_harvest import BOOKS, marc_bytes

XSS = '<script>alert("x")</script>'


async def _source_id(client, response) -> int:
    assert response.status_code == 303, response.text
    match = re.match(r"^/sources/(\d+)$", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


async def test_anonymous_visitors_are_sent_to_the_login(client):
    for path in ("/sources", "/sources/new", "/sources/upload", "/sources/1", "/sources/1/edit", "/runs/1", "/items", "/items/1"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    r = await client.post("/sources/1/harvest", follow_redirects=False)
    assert r.status_code in (303, 403)


async def test_librarian_creates_edits_and_deletes_a_feed(client, librarian, session_maker):
    r = await client.get("/sources")
    assert r.status_code == 200 and "Chưa có nguồn dữ liệu nào" in r.text
    assert 'href="/sources"' in r.text and 'href="/items"' in r.text  # the navigation links
    r = await client.get("/sources/new")
    assert 'name="path"' not in r.text and 'name="owner_id"' not in r.text  # administrators only

    data = {"name": "Mục lục tạp chí Thư viện", "kind": "feed", "url": "https://tapchi.example.edu.vn/toc.rss",
            "interval_minutes": "1440", "enabled": "on", "notes": ""}
    source_id = await _source_id(client, await form_post(client, "/sources/new", None, data, follow_redirects=False))
    r = await client.get(f"/sources/{source_id}")
    assert "Mục lục tạp chí Thư viện" in r.text and "Hằng ngày" in r.text and "Trần Thị Thu" in r.text
    assert "Thu thập ngay" in r.text  # the owner may harvest it now
    r = await client.get("/sources")
    assert "Mục lục tạp chí Thư viện" in r.text and "Nguồn tin RSS/Atom" in r.text and "Chưa chạy" in r.text

    # Bad input comes back with field messages, never a 500.
    bad = {**data, "url": "javascript:alert(1)", "interval_minutes": "5", "name": ""}
    r = await form_post(client, f"/sources/{source_id}/edit", None, bad)
    assert r.status_code == 400 and 'id="e-url"' in r.text and 'id="e-interval_minutes"' in r.text
    assert 'id="e-name"' in r.text
    r = await form_post(client, f"/sources/{source_id}/edit", None, {**data, "interval_minutes": "abc"})
    assert r.status_code == 400 and 'id="e-interval_minutes"' in r.text

    r = await form_post(client, f"/sources/{source_id}/edit", None, {**data, "interval_minutes": "", "enabled": ""},
                        follow_redirects=False)
    assert r.status_code == 303
    async with session_maker() as s:
        source = await s.get(Source, source_id)
        assert source.interval_minutes is None and source.enabled is False and source.owner_id == librarian.id
    r = await client.get(f"/sources/{source_id}")
    assert "Chỉ thu thập thủ công" in r.text

    r = await form_post(client, f"/sources/{source_id}", f"/sources/{source_id}/delete", {}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/sources"
    assert (await client.get(f"/sources/{source_id}")).status_code == 404


async def test_librarians_cannot_name_server_files_or_edit_others_sources(client, librarian, factory, session_maker, tmp_path):
    marc = tmp_path / "moi.mrc"
    marc.write_bytes(marc_bytes(BOOKS[0]))
    r = await form_post(client, "/sources/new", None, {"name": "Koha", "kind": "marc", "path": str(marc)})
    # The field is not on a librarian's form, and a forged one is ignored: no path is stored.
    async with session_maker() as s:
        assert [src.path for src in await s.scalars(select(Source))] in ([], [None])

    other = await factory.user(email="binh@example.edu.vn", full_name="Phạm Văn Bình")
    async with session_maker() as s, s.begin():
        theirs = Source(name="Của Bình", kind="feed", url="https://a.example.edu.vn/rss", owner_id=other.id)
        s.add(theirs)
    assert (await client.get(f"/sources/{theirs.id}")).status_code == 200
    r = await client.get(f"/sources/{theirs.id}")
    assert "Thu thập ngay" not in r.text  # no buttons for what one may not do
    assert (await client.get(f"/sources/{theirs.id}/edit")).status_code == 403
    assert (await client.get(f"/sources/{theirs.id}/upload")).status_code == 403
    token = csrf_from((await client.get("/sources")).text)
    for action in ("edit", "delete", "harvest", "upload"):
        r = await client.post(f"/sources/{theirs.id}/{action}", data={"_csrf_token": token, "name": "x", "kind": "feed"})
        assert r.status_code == 403, action
    assert (await client.get("/sources/999999")).status_code == 404
    assert (await client.get("/sources/99999999999999999999999")).status_code in (400, 404)


async def test_administrators_see_path_and_owner(client, admin, factory, tmp_path, session_maker):
    lan = await factory.user(email="lan@example.edu.vn", full_name="Lê Thị Lan")
    r = await client.get("/sources/new")
    assert 'name="path"' in r.text and 'name="owner_id"' in r.text and "Lê Thị Lan" in r.text
    r = await form_post(client, "/sources/new", None, {"name": "Koha", "kind": "marc", "path": "relative.mrc"})
    assert r.status_code == 400 and 'id="e-path"' in r.text
    marc = tmp_path / "moi.mrc"
    marc.write_bytes(marc_bytes(*BOOKS))
    source_id = await _source_id(client, await form_post(
        client, "/sources/new", None, {"name": "Koha", "kind": "marc", "path": str(marc), "owner_id": str(lan.id),
                                       "interval_minutes": ""}, follow_redirects=False))
    async with session_maker() as s:
        source = await s.get(Source, source_id)
        assert source.path == str(marc) and source.owner_id == lan.id


async def test_marc_upload_imports_and_shows_the_report(client, librarian, session_maker, settings):
    data = {"name": "Sách mới tháng 11", "kind": "marc", "interval_minutes": "", "enabled": "on"}
    page = await client.get("/sources/new")
    r = await client.post("/sources/new", data={**data, "_csrf_token": csrf_from(page.text)},
                          files={"file": ("../../Sách mới.mrc", marc_bytes(*BOOKS), "application/marc")},
                          follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/runs/"), r.text
    report = await client.get(r.headers["location"])
    assert report.status_code == 200
    text = report.text
    assert "Báo cáo nhập dữ liệu" in text and "Sách mới tháng 11" in text
    assert re.search(r"<td>2</td>", text)  # the rejected record, by its number
    async with session_maker() as s:
        source = await s.scalar(select(Source))
        assert uploads.is_upload(source.path, settings) and source.path.endswith("-sach-moi.mrc")
        assert source.path.startswith(str(settings.var_dir))

    # A new file for the same source replaces the old one.
    page = await client.get(f"/sources/{source.id}/upload")
    r = await client.post(f"/sources/{source.id}/upload", data={"_csrf_token": csrf_from(page.text)},
                          files={"file": ("T12.xml", marc_bytes(BOOKS[2]), "application/marc")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/runs/")
    # No file chosen: a message, not an error page.
    r = await client.post(f"/sources/{source.id}/upload", data={"_csrf_token": csrf_from(page.text)},
                          files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 400 and 'id="e-file"' in r.text
    # Without the CSRF token the upload is refused.
    r = await client.post(f"/sources/{source.id}/upload", files={"file": ("a.mrc", marc_bytes(BOOKS[0]))})
    assert r.status_code == 403


async def test_upload_page_creates_a_source_and_limits_the_size(client, librarian, monkeypatch, session_maker, settings):
    page = await client.get("/sources/upload")
    token = csrf_from(page.text)
    r = await client.post("/sources/upload", data={"_csrf_token": token, "name": ""},
                          files={"file": ("Tài liệu mới.mrc", marc_bytes(BOOKS[0]), "application/marc")},
                          follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/runs/")
    async with session_maker() as s:
        source = await s.scalar(select(Source))
        assert source.name == "tai-lieu-moi.mrc" and source.kind == "marc" and source.interval_minutes is None

    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1000)
    r = await client.post("/sources/upload", data={"_csrf_token": token},
                          files={"file": ("big.mrc", b"0" * 5000, "application/marc")})
    assert r.status_code == 413 and "MB" in r.text
    r = await client.post(f"/sources/{source.id}/upload", data={"_csrf_token": token},
                          files={"file": ("big.mrc", b"0" * 5000, "application/marc")})
    assert r.status_code == 413
    r = await client.post("/sources/upload", data={"_csrf_token": token})
    assert r.status_code == 400 and 'id="e-file"' in r.text
    # A file for a feed source is refused.
    r = await form_post(client, "/sources/new", None, {"name": "x", "kind": "feed", "url": "https://a.vn/rss"},
                        files={"file": ("a.mrc", b"123", "application/marc")})
    assert r.status_code == 400 and 'id="e-file"' in r.text
    assert sorted(p.name for p in (settings.var_dir / "uploads").iterdir()) == [p.split("/")[-1] for p in [source.path]]


async def test_harvest_now_and_the_run_report_escape_what_they_show(client, librarian, session_maker, tmp_path):
    async with session_maker() as s, s.begin():
        source = Source(name=f"Nguồn {XSS}", kind="marc", owner_id=librarian.id, notes=XSS)
        s.add(source)
        await s.flush()
        s.add(SourceRun(source_id=source.id, started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
                        status="partial", read=5, new=3, updated=0, duplicates=0, rejected=2, message=f"Lỗi {XSS}",
                        rejections=[{"number": 4, "reason": f"Không có nhan đề {XSS}", "record_key": XSS},
                                    {"number": 17, "reason": "Bản ghi hỏng", "record_key": None}]))
    for path in ("/sources", f"/sources/{source.id}"):
        r = await client.get(path)
        assert XSS not in r.text and "&lt;script&gt;" in r.text, path
    run_id = (await client.get(f"/sources/{source.id}")).text.split('href="/runs/')[1].split('"')[0]
    r = await client.get(f"/runs/{run_id}")
    assert r.status_code == 200 and XSS not in r.text and "&lt;script&gt;" in r.text
    assert "<td>4</td>" in r.text and "<td>17</td>" in r.text and "Bản ghi hỏng" in r.text

    # Harvest now: a source without a file gives a failed run with its reason, shown on the report.
    r = await form_post(client, f"/sources/{source.id}", f"/sources/{source.id}/harvest", {}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/runs/")
    r = await client.get(r.headers["location"])
    assert "Thất bại" in r.text and "Chưa có tệp MARC" in r.text
    assert (await client.get("/runs/999999")).status_code == 404


async def test_other_librarians_read_sources_and_reports(client, librarian, new_client, factory, session_maker):
    async with session_maker() as s, s.begin():
        source = Source(name="Chung", kind="feed", url="https://a.example.edu.vn/rss", owner_id=librarian.id)
        s.add(source)
    other = await factory.user(email="binh@example.edu.vn", full_name="Phạm Văn Bình")
    async with new_client() as second:
        await login(second, other.email)
        r = await second.get(f"/sources/{source.id}")
        assert r.status_code == 200 and "Chung" in r.text

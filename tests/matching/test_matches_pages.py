"""Stored matches on the contact and group pages and in the API: listed with why, dismissed and restored."""

import re

import pytest
from sqlalchemy import func, select

from crm.interests.models import InterestProfile
from crm.liaison.search import profile_key
from crm.matching.models import Match
from crm.matching.services import IndexCache, match_new_items
from crm.sources.ingest import ingest
from crm.sources.models import Source
from crm.sources.records import ItemRecord, Subject
from tests.conftest import bearer, csrf_from, form_post
from tests.liaison.people import make_contact, make_group

TITLES = ["Thư viện số trong trường đại học", "Thư viện số và dữ liệu mở", "Quản trị thư viện số",
          "<script>alert(1)</script> Thư viện số"]


def _text(html: str) -> str:
    """The page without its tags (titles carry <mark> around the words that hit)."""
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture
async def world(factory, session_maker):
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    lan = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn")
    k65 = await make_group(factory, "Lớp K65 Thư viện học", "K65", members=[an])
    mine = await factory.add(InterestProfile(contact_id=an.id, name="Thư viện số", keywords=["thư viện số"],
                                             search_key=profile_key("Thư viện số", None, None)))
    theirs = await factory.add(InterestProfile(group_id=k65.id, name="Dữ liệu mở", query='"dữ liệu mở"',
                                               search_key=profile_key("Dữ liệu mở", None, None)))
    source = await factory.add(Source(name="Sách mới", kind="marc", path="/tmp/x.mrc"))
    await ingest(session_maker, source.id, [
        ItemRecord(record_key=str(n), title=title, language="vie", authors=["Lê Văn Bình"], year=2025,
                   material_type="book", subjects=[Subject("Thư viện số", "local")])
        for n, title in enumerate(TITLES)])
    await match_new_items(session_maker, cache=IndexCache())
    async with session_maker() as s:
        ids = {pid: list(await s.scalars(select(Match.id).where(Match.profile_id == pid).order_by(Match.id)))
               for pid in (mine.id, theirs.id)}
    return {"an": an, "lan": lan, "k65": k65, "mine": mine, "theirs": theirs, "matches": ids}


async def test_anonymous_is_refused(client, world):
    an, match_id = world["an"], world["matches"][world["mine"].id][0]
    for path in (f"/api/contacts/{an.id}/matches", f"/api/groups/{world['k65'].id}/matches",
                 f"/api/profiles/{world['mine'].id}/matches"):
        assert (await client.get(path)).status_code == 401
    assert (await client.post(f"/api/matches/{match_id}/dismiss")).status_code == 401
    for path in (f"/contacts/{an.id}/matches", f"/contacts/{an.id}/matches?fragment=1", f"/groups/{world['k65'].id}/matches"):
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_api_lists_a_contacts_matches_with_why(client, world, librarian_token):
    an, mine = world["an"], world["mine"]
    r = await client.get(f"/api/contacts/{an.id}/matches", headers=bearer(librarian_token))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 4 and len(page["items"]) == 4
    first = page["items"][0]
    assert first["profile"] == {"id": mine.id, "name": "Thư viện số", "contact_id": an.id, "group_id": None}
    assert set(first["item"]) >= {"id", "title", "authors", "year", "material_type"}
    assert first["item"]["authors"] == ["Lê Văn Bình"] and first["item"]["year"] == 2025
    assert first["reasons"][0]["text"] == "từ khóa “thư viện số” trong nhan đề, chủ đề"
    assert first["reasons"][0]["fields"] == ["title", "subjects"]
    assert first["explanation"][0]["clause"] == '"thu vien so"'

    r = await client.get(f"/api/contacts/{an.id}/matches", params={"per_page": 3, "page": 2},
                         headers={**bearer(librarian_token), "Accept-Language": "en"})
    assert r.json()["total"] == 4 and len(r.json()["items"]) == 1 and r.json()["page"] == 2

    r = await client.get(f"/api/contacts/{world['lan'].id}/matches", headers=bearer(librarian_token))
    assert r.json() == {"items": [], "total": 0, "page": 1, "per_page": 50}


async def test_api_groups_and_profiles(client, world, librarian_token):
    r = await client.get(f"/api/groups/{world['k65'].id}/matches", headers=bearer(librarian_token))
    assert [m["item"]["title"] for m in r.json()["items"]] == ["Thư viện số và dữ liệu mở"]
    assert r.json()["items"][0]["reasons"][0]["text"] == "từ khóa “dữ liệu mở” trong nhan đề"
    r = await client.get(f"/api/profiles/{world['mine'].id}/matches", params={"per_page": 2},
                         headers=bearer(librarian_token))
    assert r.json()["total"] == 4 and len(r.json()["items"]) == 2


async def test_api_unknown_and_bad_ids(client, world, librarian_token):
    headers = bearer(librarian_token)
    for path in ("/api/contacts/999999/matches", "/api/groups/999999/matches", "/api/profiles/999999/matches"):
        assert (await client.get(path, headers=headers)).status_code == 404
    assert (await client.post("/api/matches/999999/dismiss", headers=headers)).status_code == 404
    assert (await client.get("/api/contacts/0/matches", headers=headers)).status_code == 400
    assert (await client.get(f"/api/contacts/{world['an'].id}/matches", params={"dismissed": "maybe"},
                             headers=headers)).status_code == 400
    assert (await client.get(f"/api/contacts/{world['an'].id}/matches", params={"page": 0},
                             headers=headers)).status_code == 400


async def test_api_dismiss_and_restore(client, world, librarian_token, session_maker):
    an, match_id = world["an"], world["matches"][world["mine"].id][0]
    headers = bearer(librarian_token)
    r = await client.post(f"/api/matches/{match_id}/dismiss", headers=headers)
    assert r.status_code == 200 and r.json()["dismissed"] is True and r.json()["id"] == match_id
    listed = (await client.get(f"/api/contacts/{an.id}/matches", headers=headers)).json()
    assert listed["total"] == 3 and match_id not in [m["id"] for m in listed["items"]]
    listed = (await client.get(f"/api/contacts/{an.id}/matches", params={"dismissed": "true"}, headers=headers)).json()
    assert listed["total"] == 4 and [m["dismissed"] for m in listed["items"] if m["id"] == match_id] == [True]

    # The next run, even after the profile is edited and back-filled, keeps the dismissal.
    async with session_maker() as s, s.begin():
        (await s.get(InterestProfile, world["mine"].id)).keywords = ["thư viện số", "dữ liệu mở"]
    await match_new_items(session_maker, cache=IndexCache())
    async with session_maker() as s:
        rows = list(await s.scalars(select(Match).where(Match.profile_id == world["mine"].id)))
    assert len(rows) == 4 and [m.dismissed for m in rows if m.id == match_id] == [True]

    r = await client.post(f"/api/matches/{match_id}/restore", headers=headers)
    assert r.status_code == 200 and r.json()["dismissed"] is False
    assert (await client.get(f"/api/contacts/{an.id}/matches", headers=headers)).json()["total"] == 4


async def test_api_writes_need_a_token_not_a_session(client, world, librarian):
    match_id = world["matches"][world["mine"].id][0]
    assert (await client.get(f"/api/contacts/{world['an'].id}/matches")).status_code == 200  # reads may use the session
    assert (await client.post(f"/api/matches/{match_id}/dismiss")).status_code == 401


async def test_the_contact_page_loads_its_matches(client, world, librarian):
    an = world["an"]
    page = (await client.get(f"/contacts/{an.id}")).text
    assert f'data-matches-src="/contacts/{an.id}/matches?fragment=1"' in page
    assert f'href="/contacts/{an.id}/matches"' in page  # the no-JS fallback
    assert "/static/js/matches.js" in page
    fragment = await client.get(f"/contacts/{an.id}/matches?fragment=1")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.count('class="match"') == 4
    assert "từ khóa “thư viện số” trong nhan đề, chủ đề" in fragment.text
    assert "<mark>Thư viện số</mark>" in fragment.text  # the words that hit, marked in the title
    assert "<script>alert(1)</script>" not in fragment.text and "&lt;script&gt;" in fragment.text
    item_links = re.findall(r'href="/items/(\d+)"', fragment.text)
    assert len(item_links) == 4
    assert f'href="/profiles/{world["mine"].id}"' in fragment.text
    assert "Loại bỏ" in fragment.text and 'name="_csrf_token"' in fragment.text


async def test_the_group_page_and_the_full_list(client, world, librarian):
    k65 = world["k65"]
    assert f'data-matches-src="/groups/{k65.id}/matches?fragment=1"' in (await client.get(f"/groups/{k65.id}")).text
    page = await client.get(f"/groups/{k65.id}/matches")
    assert page.status_code == 200 and "<html" in page.text and "Lớp K65 Thư viện học" in page.text
    assert "Thư viện số và dữ liệu mở" in _text(page.text) and "Thư viện số trong trường đại học" not in _text(page.text)
    assert (await client.get("/groups/999999/matches")).status_code == 404
    assert (await client.get("/contacts/99999999999999999999/matches")).status_code in (400, 404)
    empty = await client.get(f"/contacts/{world['lan'].id}/matches?fragment=1")
    assert "Chưa có tài liệu phù hợp" in empty.text


async def test_page_dismiss_and_restore_with_csrf(client, world, librarian, session_maker):
    an, match_id = world["an"], world["matches"][world["mine"].id][0]
    full = f"/contacts/{an.id}/matches"
    r = await form_post(client, full, f"/matches/{match_id}/dismiss", {"next": full + "?page=1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == full + "?page=1"
    async with session_maker() as s:
        assert (await s.get(Match, match_id)).dismissed is True
    page = (await client.get(full)).text
    assert page.count('class="match"') == 3 and "(1)" in page  # "Show dismissed matches (1)"
    shown = (await client.get(full + "?dismissed=1")).text
    assert shown.count('class="match dismissed"') == 1 and f'action="/matches/{match_id}/restore"' in shown

    r = await form_post(client, full, f"/matches/{match_id}/restore", {"next": "https://evil.example/"},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == full  # never to another site
    async with session_maker() as s:
        assert (await s.get(Match, match_id)).dismissed is False

    token = csrf_from((await client.get(full)).text)
    assert (await client.post(f"/matches/{match_id}/dismiss", data={"next": full})).status_code == 403  # no CSRF
    r = await client.post("/matches/999999/dismiss", data={"_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 404
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Match).where(Match.dismissed)) == 0


async def test_the_full_list_is_paged(client, world, librarian, factory, session_maker):
    from crm.matching.controllers import matches as controller

    source = await factory.add(Source(name="Nguồn 2", kind="marc", path="/tmp/y.mrc"))
    await ingest(session_maker, source.id, [ItemRecord(record_key=f"p{n}", title=f"Thư viện số tập {n}", language="vie")
                                            for n in range(controller.PAGE_SIZE)])
    await match_new_items(session_maker, cache=IndexCache())
    full = f"/contacts/{world['an'].id}/matches"
    first = (await client.get(full)).text
    assert first.count('class="match"') == controller.PAGE_SIZE and 'rel="next"' in first
    second = (await client.get(full + "?page=2")).text
    assert second.count('class="match"') == 4 and 'rel="prev"' in second
    fragment = (await client.get(full + "?fragment=1")).text
    assert fragment.count('class="match"') == controller.FRAGMENT_SIZE
    assert f"Xem tất cả {controller.PAGE_SIZE + 4} tài liệu phù hợp" in fragment

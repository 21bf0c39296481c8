"""Stored matching: new items meet active profiles once, from a checkpoint, with their explanation."""

from sqlalchemy import func, select

from crm.interests.models import InterestProfile
from crm.liaison.models import Contact
from crm.liaison.search import contact_keys, profile_key
from crm.matching.models import Match, MatchRun
from crm.matching.services import match_new_items, matches_for_profile
from crm.sources.ingest import ingest
from crm.sources.models import Source
from crm.sources.records import ItemRecord, Subject


async def _profile(factory, **fields) -> InterestProfile:
    contact = Contact(full_name="Nguyễn Văn An", email="an@demo.edu.vn", email_key="an@demo.edu.vn",
                      **contact_keys("Nguyễn Văn An", "an@demo.edu.vn"))
    await factory.add(contact)
    profile = InterestProfile(contact_id=contact.id, search_key=profile_key(fields["name"], None, fields.get("keywords")),
                              **fields)
    return await factory.add(profile)


async def _items(factory, session_maker, *records: ItemRecord) -> None:
    source = await factory.add(Source(name="Sách mới", kind="marc", path="/tmp/x.mrc"))
    await ingest(session_maker, source.id, list(records))


def _book(key: str, title: str, **extra) -> ItemRecord:
    return ItemRecord(record_key=key, title=title, language="vie", **extra)


async def test_new_items_are_matched_once_and_explained(factory, session_maker):
    profile = await _profile(factory, name="Thư viện số", keywords=["thư viện số"], class_ranges=["025-025.99"])
    await _items(factory, session_maker,
                 _book("1", "Thư viện số hóa trong trường đại học"),
                 _book("2", "Quản trị thư viện", ddc="025.1977"),
                 _book("3", "Học máy", subjects=[Subject("Học máy", "local")], ddc="006.31"))

    first = await match_new_items(session_maker)
    assert (first.items, first.matches, first.profiles) == (3, 2, 1)
    async with session_maker() as s:
        found = await matches_for_profile(s, profile.id)
    titles = {item.title for _match, item in found}
    assert titles == {"Thư viện số hóa trong trường đại học", "Quản trị thư viện"}
    by_title = {item.title: match for match, item in found}
    assert by_title["Quản trị thư viện"].explanation[0]["kind"] == "class"
    assert any("title" in hit["fields"] for hit in by_title["Thư viện số hóa trong trường đại học"].explanation)

    again = await match_new_items(session_maker)
    assert (again.items, again.matches) == (0, 0)  # nothing new since the checkpoint

    await _items(factory, session_maker, _book("4", "Thu vien so va du lieu mo"))
    third = await match_new_items(session_maker)
    assert (third.items, third.matches) == (1, 1)  # folded diacritics still match
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Match)) == 3
        assert await s.scalar(select(func.count()).select_from(MatchRun)) == 3


async def test_inactive_and_empty_profiles_are_not_matched(factory, session_maker):
    await _profile(factory, name="Tắt", keywords=["thư viện"], is_active=False)
    await _items(factory, session_maker, _book("1", "Thư viện đại học"))
    result = await match_new_items(session_maker)
    assert (result.items, result.matches, result.profiles) == (1, 0, 0)


def test_crm_match_command(tmp_path):
    from click.testing import CliRunner

    from crm.cli import main

    env = {"CRM_VAR_DIR": str(tmp_path), "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
           "CRM_SECRET_KEY": "match-cli-secret-0123456789abcdef"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    result = runner.invoke(main, ["match"], env=env)
    assert result.exit_code == 0, result.output
    assert "0 new match" in result.output


async def test_a_new_profile_is_back_filled_over_recent_items(factory, session_maker):
    await _items(factory, session_maker, _book("1", "Thư viện số hóa trong trường đại học"), _book("2", "Học máy"))
    first = await match_new_items(session_maker)
    assert (first.items, first.matches) == (2, 0)  # no profile yet

    profile = await _profile(factory, name="Học máy", keywords=["học máy"])
    second = await match_new_items(session_maker)
    assert (second.items, second.matches) == (0, 1)  # the old item, found by the back-fill
    async with session_maker() as s:
        assert [item.title for _m, item in await matches_for_profile(s, profile.id)] == ["Học máy"]

    third = await match_new_items(session_maker)
    assert third.matches == 0  # back-filled once

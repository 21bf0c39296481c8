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
    titles = {row.item.title for row in found.rows}
    assert titles == {"Thư viện số hóa trong trường đại học", "Quản trị thư viện"}
    by_title = {row.item.title: row.match for row in found.rows}
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
        assert [row.item.title for row in (await matches_for_profile(s, profile.id)).rows] == ["Học máy"]

    third = await match_new_items(session_maker)
    assert third.matches == 0  # back-filled once


# --- the index kept across runs, back-fill window, withdrawal, source: clauses ------------------

from datetime import UTC, datetime, timedelta  # noqa: E402

from sqlalchemy import update  # noqa: E402

from crm.matching.index import ProfileIndex  # noqa: E402
from crm.matching.services import IndexCache, index_cache  # noqa: E402
from crm.sources.models import Item  # noqa: E402
from tests.liaison.people import make_contact  # noqa: E402


class SpyIndex(ProfileIndex):
    """A ProfileIndex that records which profiles each call touched."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, object]] = []
        self._inside = False

    def _record(self, call: str, profile_id, query, exact):
        self.calls.append((call, profile_id))
        self._inside = True  # ProfileIndex.add removes the old version itself: not a call of the cache
        try:
            return ProfileIndex.add(self, profile_id, query, exact)
        finally:
            self._inside = False

    def add(self, profile_id, query, exact=False):
        return self._record("add", profile_id, query, exact)

    def update(self, profile_id, query, exact=False):
        return self._record("update", profile_id, query, exact)

    def remove(self, profile_id):
        removed = super().remove(profile_id)
        if removed and not self._inside:
            self.calls.append(("remove", profile_id))
        return removed


async def _owner(factory, n: int = 1):
    return await make_contact(factory, f"Nguyễn Văn An {n}", f"an{n}@demo.edu.vn")


async def _own_profile(factory, contact, **fields) -> InterestProfile:
    fields.setdefault("name", "Hồ sơ")
    return await factory.add(InterestProfile(contact_id=contact.id, search_key=profile_key(fields["name"], None, None),
                                             **fields))


async def _edit(session_maker, profile_id: int, **values) -> None:
    async with session_maker() as s, s.begin():
        profile = await s.get(InterestProfile, profile_id)
        for name, value in values.items():
            setattr(profile, name, value)


async def _stored(session_maker) -> dict[tuple[str, int], Match]:
    async with session_maker() as s:
        rows = (await s.execute(select(Match, Item.title).join(Item, Item.id == Match.item_id))).all()
    return {(title, match.profile_id): match for match, title in rows}


async def test_an_edit_updates_only_that_profile_in_the_kept_index(factory, session_maker):
    contact = await _owner(factory)
    first = await _own_profile(factory, contact, name="Thư viện", keywords=["thư viện số"])
    second = await _own_profile(factory, contact, name="Học máy", keywords=["học máy"])
    third = await _own_profile(factory, contact, name="Kinh tế", keywords=["kinh tế"])
    spy = SpyIndex()
    cache = IndexCache(spy)

    report = await match_new_items(session_maker, cache=cache)
    assert sorted(spy.calls) == [("add", first.id), ("add", second.id), ("add", third.id)]  # built once
    assert sorted(report.index.added) == sorted([first.id, second.id, third.id])

    spy.calls.clear()
    await match_new_items(session_maker, cache=cache)
    assert spy.calls == []  # nothing changed: no rebuild, no call at all

    await _edit(session_maker, second.id, keywords=["trí tuệ nhân tạo"])
    report = await match_new_items(session_maker, cache=cache)
    assert spy.calls == [("update", second.id)]
    assert report.index.updated == [second.id] and not report.index.added and not report.index.removed
    assert spy.query(second.id).text == '"trí tuệ nhân tạo"'

    spy.calls.clear()
    await _edit(session_maker, third.id, is_active=False)
    async with session_maker() as s, s.begin():
        await s.delete(await s.get(InterestProfile, first.id))
    report = await match_new_items(session_maker, cache=cache)
    assert sorted(spy.calls) == sorted([("remove", first.id), ("remove", third.id)])
    assert first.id not in spy and third.id not in spy and second.id in spy
    assert report.profiles == 1

    spy.calls.clear()
    await _edit(session_maker, third.id, is_active=True)  # reactivated: indexed again
    await match_new_items(session_maker, cache=cache)
    assert spy.calls == [("add", third.id)]


async def test_a_profile_whose_query_stops_compiling_leaves_the_index(factory, session_maker):
    contact = await _owner(factory)
    profile = await _own_profile(factory, contact, keywords=["thư viện"])
    cache = IndexCache()
    await match_new_items(session_maker, cache=cache)
    assert profile.id in cache.index
    await _edit(session_maker, profile.id, query="title:(thư viện")  # unbalanced: not matched, logged
    report = await match_new_items(session_maker, cache=cache)
    assert profile.id not in cache.index and report.index.skipped == [profile.id]
    await _edit(session_maker, profile.id, query=None, keywords=[])  # nothing to look for
    report = await match_new_items(session_maker, cache=cache)
    assert profile.id not in cache.index and report.index.skipped == [profile.id]


async def test_the_process_keeps_one_index_per_database(session_maker):
    assert index_cache(session_maker) is index_cache(session_maker)
    report = await match_new_items(session_maker)  # the default: the registry's cache
    assert index_cache(session_maker).loaded and report.profiles == 0


async def test_exact_profiles_match_case_and_diacritics_as_written(factory, session_maker):
    contact = await _owner(factory)
    exact = await _own_profile(factory, contact, name="Chính xác", query='"Thư viện"', exact=True)
    folded = await _own_profile(factory, contact, name="Gần đúng", query='"Thư viện"')
    await _items(factory, session_maker, _book("1", "Thư viện số"), _book("2", "thu vien so"))
    await match_new_items(session_maker, cache=IndexCache())
    stored = await _stored(session_maker)
    assert set(stored) == {("Thư viện số", exact.id), ("Thư viện số", folded.id), ("thu vien so", folded.id)}


async def test_source_clauses_see_the_sources_of_each_item(factory, session_maker):
    contact = await _owner(factory)
    books = await factory.add(Source(name="Sách mới", kind="marc", path="/tmp/a.mrc"))
    journals = await factory.add(Source(name="Tạp chí điện tử", kind="feed", url="https://example.org/rss"))
    await ingest(session_maker, books.id, [_book("b1", "Thư viện số hóa")])
    await ingest(session_maker, journals.id, [_book("j1", "Thư viện và dữ liệu mở")])
    by_name = await _own_profile(factory, contact, name="Tạp chí", query='thư viện AND source:"tạp chí"')
    by_id = await _own_profile(factory, contact, name="Sách", query=f"thư viện AND source:{books.id}")
    await match_new_items(session_maker, cache=IndexCache())
    stored = await _stored(session_maker)
    assert set(stored) == {("Thư viện và dữ liệu mở", by_name.id), ("Thư viện số hóa", by_id.id)}
    assert any(hit["kind"] == "source" for hit in stored[("Thư viện số hóa", by_id.id)].explanation)


async def _age(session_maker, title: str, days: int) -> None:
    async with session_maker() as s, s.begin():
        await s.execute(update(Item).where(Item.title == title)
                        .values(first_seen_at=datetime.now(UTC) - timedelta(days=days)))


async def test_the_back_fill_window_is_a_setting(factory, session_maker):
    await _items(factory, session_maker, _book("1", "Học máy cơ bản"), _book("2", "Học máy nâng cao"))
    await _age(session_maker, "Học máy nâng cao", 40)
    await match_new_items(session_maker, cache=IndexCache())  # items matched before the profile exists
    contact = await _owner(factory)
    profile = await _own_profile(factory, contact, keywords=["học máy"])
    report = await match_new_items(session_maker, backfill_days=30, cache=IndexCache())
    assert (report.items, report.matches, report.backfilled) == (0, 1, 1)
    assert set(await _stored(session_maker)) == {("Học máy cơ bản", profile.id)}
    await _edit(session_maker, profile.id, name="Học máy (sửa)")
    report = await match_new_items(session_maker, backfill_days=60, cache=IndexCache())
    assert report.backfilled == 1
    assert set(await _stored(session_maker)) == {("Học máy cơ bản", profile.id), ("Học máy nâng cao", profile.id)}


async def test_an_edit_withdraws_the_matches_it_no_longer_meets(factory, session_maker):
    from crm.digests.models import Digest, DigestEntry

    contact = await _owner(factory)
    profile = await _own_profile(factory, contact, keywords=["thư viện"])
    titles = ["Thư viện số", "Thư viện đại học", "Thư viện công cộng", "Thư viện trường học"]
    await _items(factory, session_maker, *[_book(str(n), title) for n, title in enumerate(titles)])
    await _age(session_maker, "Thư viện trường học", 400)  # outside the window, but a stored match
    cache = IndexCache()
    await match_new_items(session_maker, cache=cache)
    stored = await _stored(session_maker)
    assert len(stored) == 4
    # A librarian dismissed one; another already went out in a digest.
    async with session_maker() as s, s.begin():
        await s.execute(update(Match).where(Match.id == stored[("Thư viện đại học", profile.id)].id).values(dismissed=True))
        digest = Digest(contact_id=contact.id, period="2026-W48", subject="Bản tin")
        s.add(digest)
        await s.flush()
        item_id = stored[("Thư viện công cộng", profile.id)].item_id
        s.add(DigestEntry(digest_id=digest.id, contact_id=contact.id, item_id=item_id, profile_id=profile.id,
                          section="acquisitions"))
    before = stored[("Thư viện số", profile.id)]

    await _edit(session_maker, profile.id, keywords=[], query='"thư viện số" OR title:số')
    report = await match_new_items(session_maker, cache=cache)
    after = await _stored(session_maker)
    assert report.withdrawn == 1  # "Thư viện trường học": no longer met, neither dismissed nor sent
    assert ("Thư viện trường học", profile.id) not in after
    assert ("Thư viện đại học", profile.id) in after and after[("Thư viện đại học", profile.id)].dismissed
    assert ("Thư viện công cộng", profile.id) in after  # it went out in a digest: history
    refreshed = after[("Thư viện số", profile.id)]
    assert refreshed.id == before.id and refreshed.score > before.score and report.refreshed == 1
    assert [hit["clause"] for hit in refreshed.explanation] == ['"thu vien so"', "title:so"]

    again = await match_new_items(session_maker, cache=cache)
    assert (again.withdrawn, again.matches) == (0, 0)
    assert ("Thư viện đại học", profile.id) in await _stored(session_maker)  # dismissed: never re-created


async def test_the_job_passes_the_back_fill_setting(factory, session_maker, settings):
    from dataclasses import replace

    from jobs import JobContext
    from jobs import match as match_job

    await _items(factory, session_maker, _book("1", "Học máy cơ bản"))
    await _age(session_maker, "Học máy cơ bản", 20)
    context = JobContext(settings=replace(settings, match_backfill_days=10), session_maker=session_maker)
    assert await match_job.run(context) == 0
    contact = await _owner(factory)
    await _own_profile(factory, contact, keywords=["học máy"])
    assert await match_job.run(context) == 0  # 20 days old, the window is 10
    await _edit(session_maker, (await _stored_profiles(session_maker))[0], name="Học máy 2")
    context = JobContext(settings=replace(settings, match_backfill_days=30), session_maker=session_maker)
    assert await match_job.run(context) == 1


async def _stored_profiles(session_maker) -> list[int]:
    async with session_maker() as s:
        return list(await s.scalars(select(InterestProfile.id)))


def test_crm_match_takes_the_back_fill_window(tmp_path):
    from click.testing import CliRunner

    from crm.cli import main

    env = {"CRM_VAR_DIR": str(tmp_path), "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
           "CRM_SECRET_KEY": "match-cli-secret-0123456789abcdef", "CRM_MATCH_BACKFILL_DAYS": "30"}
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    result = runner.invoke(main, ["match"], env=env)
    assert result.exit_code == 0, result.output
    assert "back-filled over 30 days" in result.output
    result = runner.invoke(main, ["match", "--backfill-days", "7"], env=env)
    assert "back-filled over 7 days" in result.output and "0 withdrawn" in result.output
    assert runner.invoke(main, ["match", "--backfill-days", "-1"], env=env).exit_code == 2

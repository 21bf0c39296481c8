"""Sources, items, profiles and matches for the digest composition tests, made straight with the models."""

import itertools
from datetime import UTC, datetime, timedelta

from crm.interests.models import InterestProfile
from crm.matching.models import Match
from crm.sources.models import Item, ItemSource, Source

_serial = itertools.count(1)


async def make_source(factory, kind: str = "marc", name: str | None = None) -> Source:
    return await factory.add(Source(name=name or f"Nguồn {kind}", kind=kind))


async def make_item(factory, title: str, *, source: Source | None = None, seen_at: datetime | None = None,
                    **fields) -> Item:
    """An item (and its record in ``source``); ``fields`` are Item columns."""
    when = seen_at or datetime.now(UTC)
    values = {"authors": [], "subjects": [], "isbns": [], "issns": [], **fields}
    item = await factory.add(Item(title=title, first_seen_at=when, last_updated_at=when, search_key=title.lower(),
                                  **values))
    if source is not None:
        await factory.add(ItemSource(item_id=item.id, source_id=source.id, record_key=f"rec-{next(_serial)}",
                                     content_hash="0" * 64, seen_at=when, link=fields.get("link")))
    return item


async def make_profile(factory, name: str, *, contact=None, group=None, keywords=(), active: bool = True) -> InterestProfile:
    return await factory.add(InterestProfile(
        name=name, contact_id=contact.id if contact else None, group_id=group.id if group else None,
        keywords=list(keywords), subject_headings=[], class_ranges=[], languages=[], is_active=active,
        search_key=name.lower()))


def explanation(word: str, fields=("title",)) -> list[dict]:
    return [{"clause": word, "kind": "term", "fields": list(fields), "weight": 3.0}]


async def make_match(factory, item: Item, profile: InterestProfile, score: float = 1.0, *, why: str = "thu vien",
                     dismissed: bool = False, age: timedelta = timedelta(hours=1)) -> Match:
    return await factory.add(Match(item_id=item.id, profile_id=profile.id, score=score, explanation=explanation(why),
                                   matched_at=datetime.now(UTC) - age, dismissed=dismissed))

"""Stored matches as librarians review them: an owner's or a profile's matches with their items
and why each happened, and dismissing a bad match or restoring it.

A dismissed match is kept (``Match.dismissed``), not deleted: the unique (item, profile) row is
what stops the next run from matching the item again, and digests leave dismissed matches out.
Owners are read from the liaison models only to name them and to answer 404 (matching builds on
interests, which build on liaison; nothing there imports matching).
"""

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.interests.models import InterestProfile
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Group
from crm.matching import schemas
from crm.matching.models import Match
from crm.matching.reasons import Reason, profile_spellings, reasons, source_ids
from crm.sources.models import Item, Source

log = logging.getLogger("crm.matching")

#: The most matches one page or API call lists.
MAX_LIMIT = 200

_PROFILE = (InterestProfile.id, InterestProfile.name, InterestProfile.contact_id, InterestProfile.group_id,
            InterestProfile.keywords, InterestProfile.subject_headings, InterestProfile.query,
            InterestProfile.topics, InterestProfile.is_active, InterestProfile.exact)


@dataclass(frozen=True)
class ProfileRef:
    id: int
    name: str
    contact_id: int | None
    group_id: int | None
    is_active: bool
    exact: bool


@dataclass(frozen=True)
class StoredMatch:
    """A match with its item, its profile and the reasons in the current language."""

    match: Match
    item: Item
    profile: ProfileRef
    reasons: list[Reason]


@dataclass(frozen=True)
class StoredMatches:
    rows: list[StoredMatch]
    total: int


async def _list(session: AsyncSession, condition, include_dismissed: bool, limit: int, offset: int) -> StoredMatches:
    conditions = [condition] if include_dismissed else [condition, Match.dismissed.is_(False)]
    total = await session.scalar(
        select(func.count(Match.id)).join(InterestProfile, InterestProfile.id == Match.profile_id).where(*conditions))
    query = (select(Match, Item, *_PROFILE)
             .join(Item, Item.id == Match.item_id).join(InterestProfile, InterestProfile.id == Match.profile_id)
             .where(*conditions)
             .order_by(Match.matched_at.desc(), Match.score.desc(), Match.id.desc())
             .limit(min(max(limit, 1), MAX_LIMIT)).offset(max(offset, 0)))
    found = list(await session.execute(query))
    wanted = source_ids(row.Match.explanation or [] for row in found)
    names = {str(sid): name for sid, name in await session.execute(
        select(Source.id, Source.name).where(Source.id.in_(wanted)))} if wanted else {}
    spelled: dict[int, dict[str, str]] = {}
    rows = []
    for row in found:
        if row.id not in spelled:
            spelled[row.id] = profile_spellings(row)
        profile = ProfileRef(row.id, row.name, row.contact_id, row.group_id, row.is_active, bool(row.exact))
        rows.append(StoredMatch(row.Match, row.Item, profile,
                                reasons(row.Match.explanation or [], spelled[row.id], names)))
    return StoredMatches(rows, total or 0)


async def matches_for_contact(session: AsyncSession, contact_id: int, *, include_dismissed: bool = False,
                              limit: int = 50, offset: int = 0) -> StoredMatches:
    """The matches of a contact's own profiles, newest and best first."""
    return await _list(session, InterestProfile.contact_id == contact_id, include_dismissed, limit, offset)


async def matches_for_group(session: AsyncSession, group_id: int, *, include_dismissed: bool = False,
                            limit: int = 50, offset: int = 0) -> StoredMatches:
    """The matches of a group's profiles, newest and best first."""
    return await _list(session, InterestProfile.group_id == group_id, include_dismissed, limit, offset)


async def matches_for_profile(session: AsyncSession, profile_id: int, *, include_dismissed: bool = False,
                              limit: int = 50, offset: int = 0) -> StoredMatches:
    """One profile's matches, newest and best first."""
    return await _list(session, Match.profile_id == profile_id, include_dismissed, limit, offset)


async def get_contact(session: AsyncSession, contact_id: int) -> Contact | None:
    return await session.get(Contact, contact_id) if storable(contact_id) else None


async def get_group(session: AsyncSession, group_id: int) -> Group | None:
    return await session.get(Group, group_id) if storable(group_id) else None


async def get_profile(session: AsyncSession, profile_id: int) -> InterestProfile | None:
    return await session.get(InterestProfile, profile_id) if storable(profile_id) else None


async def get_match(session: AsyncSession, match_id: int) -> StoredMatch | None:
    """One match as listed (with item, profile and reasons), or None."""
    if not storable(match_id):
        return None
    found = await _list(session, Match.id == match_id, True, 1, 0)
    return found.rows[0] if found.rows else None


async def _set_dismissed(session: AsyncSession, match_id: int, dismissed: bool, user) -> Match | None:
    match = await session.get(Match, match_id) if storable(match_id) else None
    if match is None:
        return None
    if match.dismissed != dismissed:
        match.dismissed = dismissed
        await session.flush()
        log.info("match %s (item %s, profile %s) %s by user %s", match.id, match.item_id, match.profile_id,
                 "dismissed" if dismissed else "restored", getattr(user, "id", None))
    return match


async def dismiss_match(session: AsyncSession, match_id: int, user=None) -> Match | None:
    """Mark a match as bad: it stays stored (so it is never made again) and out of digests. None if unknown."""
    return await _set_dismissed(session, match_id, True, user)


async def restore_match(session: AsyncSession, match_id: int, user=None) -> Match | None:
    """Undo a dismissal. None if unknown."""
    return await _set_dismissed(session, match_id, False, user)


def to_schema(row: StoredMatch) -> schemas.StoredMatch:
    item, match, profile = row.item, row.match, row.profile
    return schemas.StoredMatch(
        id=match.id, score=match.score, matched_at=match.matched_at, dismissed=match.dismissed,
        item=schemas.MatchedItem(id=item.id, title=item.title, subtitle=item.subtitle,
                                 authors=[str(author) for author in item.authors or []], year=item.year,
                                 material_type=item.material_type, language=item.language),
        profile=schemas.MatchedProfile(id=profile.id, name=profile.name, contact_id=profile.contact_id,
                                       group_id=profile.group_id),
        reasons=[schemas.MatchReason(kind=r.kind, text=r.text, fields=list(r.fields), weight=r.weight)
                 for r in row.reasons],
        explanation=list(match.explanation or []),
    )

"""What a recipient can be sent: the matches of their digest's active profiles not sent to them
yet, each item once under its best profile, in the subscription's sections, best first; plus the
items, their sources and the liaison librarians, read in a few queries for many recipients at once.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from crm.acquisitions.services import arrivals_for_contacts
from crm.digests import content
from crm.digests.citations import ItemLink, item_link
from crm.digests.export import to_ris
from crm.digests.models import SECTIONS, DigestEntry, Subscription
from crm.interests.models import InterestProfile
from crm.liaison.models import Contact, Group, LiaisonAssignment, Unit
from crm.matching import reasons as match_reasons
from crm.matching.models import Match
from crm.security.models import User
from crm.settings import Settings
from crm.sources.models import Item, ItemSource, Source
from crm.text import fold

#: Matches older than this are not "new" any more: they are never sent.
STALE_AFTER = timedelta(days=180)
#: Ids per IN (…) list.
ID_CHUNK = 1000
#: Explanations worded per run before the cache starts over.
REASONS_CACHE_SIZE = 100_000


def section_of(item: Item, kinds: frozenset[str]) -> str:
    """repository (OAI-PMH), articles (an article, or a journal's feed item), else acquisitions."""
    if "oai" in kinds:
        return "repository"
    if item.material_type == "article" or ("feed" in kinds and item.material_type in (None, "serial")
                                             and (item.journal or item.issns or item.doi)):
        return "articles"
    return "acquisitions"


def chunks(values: Sequence, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass
class Profile:
    id: int
    name: str
    spellings: dict[str, str]

    def __post_init__(self) -> None:
        #: Profiles written alike explain their matches alike (see ItemStore.reasons).
        self.spelling_key = tuple(sorted(self.spellings.items()))


class Liaisons:
    """Current liaison assignments, resolved in memory: the group's, else the nearest unit's up the tree."""

    def __init__(self, by_unit: dict[int, LiaisonAssignment], by_group: dict[int, LiaisonAssignment],
                 parents: dict[int, int | None], group_units: dict[int, int | None]) -> None:
        self.by_unit, self.by_group, self.parents, self.group_units = by_unit, by_group, parents, group_units

    @classmethod
    async def load(cls, session: AsyncSession, today) -> "Liaisons":
        from crm.liaison.services.assignments import current_on

        query = (select(LiaisonAssignment).join(User, User.id == LiaisonAssignment.librarian_id)
                 .where(current_on(today), User.is_active.is_(True))
                 .order_by(LiaisonAssignment.role.desc(), LiaisonAssignment.start_date, LiaisonAssignment.id))
        by_unit: dict[int, LiaisonAssignment] = {}
        by_group: dict[int, LiaisonAssignment] = {}
        for assignment in (await session.scalars(query)).unique():  # primary before backup
            if assignment.unit_id is not None:
                by_unit.setdefault(assignment.unit_id, assignment)
            elif assignment.group_id is not None:
                by_group.setdefault(assignment.group_id, assignment)
        parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
        group_units = dict((await session.execute(select(Group.id, Group.unit_id))).all())
        return cls(by_unit, by_group, parents, group_units)

    def _up(self, unit_id: int | None) -> LiaisonAssignment | None:
        seen: set[int] = set()
        while unit_id is not None and unit_id not in seen:
            seen.add(unit_id)
            if unit_id in self.by_unit:
                return self.by_unit[unit_id]
            unit_id = self.parents.get(unit_id)
        return None

    def find(self, subscription: Subscription, contact: Contact) -> LiaisonAssignment | None:
        if subscription.group_id is not None:
            found = self.by_group.get(subscription.group_id) or self._up(self.group_units.get(subscription.group_id))
            if found is not None:
                return found
        return self._up(contact.unit_id)


class Candidates:
    """What a chunk of recipients could receive, read in a few queries."""

    def __init__(self) -> None:
        self.profiles: dict[tuple[str, int], list[Profile]] = defaultdict(list)
        #: profile → (item, score, explanation as stored: JSON text)
        self.matches: dict[int, list[tuple[int, float, str]]] = defaultdict(list)
        self.sent: dict[int, set[int]] = defaultdict(set)
        #: Items that arrived for a contact (their reading list, their suggestion): the digest marks them.
        self.arrivals: dict[int, list] = {}

    async def load(self, session: AsyncSession, pairs: Sequence[tuple[Subscription, Contact]], now: datetime) -> None:
        contact_owners = {s.contact_id for s, _ in pairs if s.contact_id is not None}
        group_owners = {s.group_id for s, _ in pairs if s.group_id is not None}
        rows = await session.execute(
            select(InterestProfile.id, InterestProfile.contact_id, InterestProfile.group_id, InterestProfile.name,
                   InterestProfile.keywords, InterestProfile.subject_headings, InterestProfile.query,
                   InterestProfile.topics)
            .where(InterestProfile.is_active.is_(True),
                   InterestProfile.contact_id.in_(contact_owners) | InterestProfile.group_id.in_(group_owners)))
        profile_ids = []
        for row in rows.all():
            owner = ("c", row.contact_id) if row.contact_id is not None else ("g", row.group_id)
            self.profiles[owner].append(Profile(row.id, row.name, match_reasons.profile_spellings(row)))
            profile_ids.append(row.id)
        for owned in self.profiles.values():
            owned.sort(key=lambda p: (fold(p.name), p.id))
        cutoff = now - STALE_AFTER
        contacts = list({c.id for _, c in pairs})
        for ids in chunks(profile_ids, ID_CHUNK):
            wanted = (Match.profile_id.in_(ids), Match.dismissed.is_(False), Match.matched_at >= cutoff)
            # The explanation as stored (JSON text): it is read only for the items a digest lists,
            # and explained once per wording (ItemStore.reasons).
            explained = cast(Match.explanation, Text)
            for item_id, profile_id, score, explanation in (await session.execute(
                    select(Match.item_id, Match.profile_id, Match.score, explained).where(*wanted))).all():
                self.matches[profile_id].append((item_id, score, explanation or "[]"))
            sent = await session.execute(
                select(DigestEntry.contact_id, DigestEntry.item_id)
                .where(DigestEntry.contact_id.in_(contacts), DigestEntry.item_id.in_(select(Match.item_id).where(*wanted))))
            for contact_id, item_id in sent.all():
                self.sent[contact_id].add(item_id)
        self.arrivals = await arrivals_for_contacts(session, contacts, cutoff)
        if arrived := {note.item_id for notes in self.arrivals.values() for note in notes}:
            for ids in chunks(sorted(arrived), ID_CHUNK):
                sent = await session.execute(select(DigestEntry.contact_id, DigestEntry.item_id)
                                             .where(DigestEntry.contact_id.in_(contacts), DigestEntry.item_id.in_(ids)))
                for contact_id, item_id in sent.all():
                    self.sent[contact_id].add(item_id)

    @property
    def item_ids(self) -> set[int]:
        """Every item some recipient of the chunk could get."""
        return ({item_id for matches in self.matches.values() for item_id, _s, _e in matches}
                | {note.item_id for notes in self.arrivals.values() for note in notes})

    def owner_profiles(self, subscription: Subscription) -> list[Profile]:
        if subscription.contact_id is not None:
            return self.profiles.get(("c", subscription.contact_id), [])
        return self.profiles.get(("g", subscription.group_id), [])


class ItemStore:
    """Items and the kinds of their sources, loaded once per run and shared by every recipient."""

    def __init__(self) -> None:
        self.items: dict[int, Item] = {}
        self.kinds: dict[int, frozenset[str]] = {}
        self.links: dict[int, str] = {}
        self._ris: dict[tuple, str] = {}
        self._placed: dict[int, tuple[str, ItemLink | None]] = {}
        self._reasons: dict[tuple[str, tuple, str], list[str]] = {}
        #: Entries rendered for the emails of this run (content.render_fragment).
        self.fragments: dict[tuple, object] = {}

    def placed(self, item_id: int, settings: Settings) -> tuple[str, ItemLink | None]:
        """The item's section and reader's link (the same for every recipient)."""
        if item_id not in self._placed:
            item, kinds = self.items[item_id], self.kinds.get(item_id, frozenset())
            section = section_of(item, kinds)
            self._placed[item_id] = (section, item_link(item, section, kinds, self.links.get(item_id), settings.digests))
        return self._placed[item_id]

    def reasons(self, profile: Profile, explanation: str, language: str) -> list[str]:
        """Why an item matched a profile, from the match's stored explanation (JSON text), in the
        current language. What hit is worded by the profile's own spellings only, so the reasons
        are worked out once per (explanation, spellings, language) in a run: the many items a
        profile matches for the same keyword, and everyone who follows that keyword, share them."""
        key = (explanation, profile.spelling_key, language)
        found = self._reasons.get(key)
        if found is None:
            try:
                hits = json.loads(explanation)
            except ValueError:
                hits = []
            if len(self._reasons) >= REASONS_CACHE_SIZE:
                self._reasons.clear()  # a very large run: start over rather than grow without end
            found = self._reasons[key] = reasons_for(hits if isinstance(hits, list) else [], profile)
        return found

    def ris(self, entries: list[content.DigestItem]) -> str:
        """The entries as one RIS file; each item's record is written once per run."""
        records = []
        for entry in entries:
            url = entry.link.url if entry.link else None
            key = (entry.item.id, entry.section, url)
            if key not in self._ris:
                self._ris[key] = to_ris([(entry.item, entry.section, url)])
            records.append(self._ris[key])
        return "\n".join(records)

    async def load(self, session: AsyncSession, item_ids: set[int]) -> None:
        missing = sorted(i for i in item_ids if i not in self.items)
        for ids in chunks(missing, ID_CHUNK):
            for item in await session.scalars(select(Item).options(defer(Item.search_key)).where(Item.id.in_(ids))):
                self.items[item.id] = item
            kinds: dict[int, set[str]] = defaultdict(set)
            rows = await session.execute(
                select(ItemSource.item_id, Source.kind, ItemSource.link).join(Source, Source.id == ItemSource.source_id)
                .where(ItemSource.item_id.in_(ids), ItemSource.deleted.is_(False)))
            for item_id, kind, link in rows.all():
                kinds[item_id].add(kind)
                if link and item_id not in self.links:
                    self.links[item_id] = link
            for item_id in ids:
                self.kinds[item_id] = frozenset(kinds.get(item_id, ()))


def choose(subscription: Subscription, profiles: list[Profile], candidates: Candidates, store: ItemStore,
           taken: set[int]) -> list[tuple[int, Profile, float, str]]:
    """(item, best profile, score, explanation) of the items to send, best first, at most max_items."""
    best: dict[int, tuple[float, int, Profile, str]] = {}
    for rank, profile in enumerate(profiles):
        for item_id, score, explanation in candidates.matches.get(profile.id, ()):
            if item_id in taken:
                continue
            current = best.get(item_id)
            if current is None or score > current[0] or (score == current[0] and rank < current[1]):
                best[item_id] = (score, rank, profile, explanation)
    wanted = set(subscription.sections or SECTIONS)
    chosen = [(item_id, value) for item_id, value in best.items()
              if item_id in store.items and section_of(store.items[item_id], store.kinds.get(item_id, frozenset())) in wanted]
    chosen.sort(key=lambda pair: (-pair[1][0], -store.items[pair[0]].first_seen_at.timestamp(), -pair[0]))
    return [(item_id, profile, score, explanation)
            for item_id, (score, _rank, profile, explanation) in chosen[:max(subscription.max_items or 0, 0)]]


def arrived(subscription: Subscription, contact: Contact, candidates: Candidates, store: ItemStore,
            taken: set[int]) -> list[tuple[int, str]]:
    """(item, reason) of the items that arrived for this recipient and were not sent to them yet.

    They come first in the digest, whatever its sections and size: the recipient asked for them.
    """
    return [(note.item_id, note.reason) for note in candidates.arrivals.get(contact.id, ())
            if note.item_id not in taken and note.item_id in store.items]


def reasons_for(explanation: list, profile: Profile) -> list[str]:
    """Why the item matched, in the current language: what hit, not the filters, strongest first."""
    found = match_reasons.reasons(explanation, profile.spellings)
    shown = [r for r in found if r.kind not in ("lang", "type", "year", "source")] or found
    return [r.text for r in shown[:content.MAX_REASONS]]

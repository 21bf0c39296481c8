"""Who should answer: the lecturer the student named, lecturers whose interest profile matches the
question's words, and lecturers of the course's unit, each with the reason shown to the librarian.

Profile matching reuses the matching engine's pure parts (crm.interests.compile and
crm.matching.evaluate/analysis/index): each lecturer's profile is compiled to its query (without
its language filter, which is about documents, not questions), put in a percolator index, and the
question — analyzed as an item whose title is the topic and whose text is the question — meets
only the profiles it could match, which are then evaluated with their explanation.
"""

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _, current_language
from crm.interests.compile import compile_profile
from crm.interests.models import InterestProfile
from crm.interests.query import QueryError
from crm.liaison.models import Contact, Unit
from crm.liaison.services.units import UnitService
from crm.matching.analysis import AnalyzedItem, analyze_item
from crm.matching.evaluate import Query, compile_query
from crm.matching.index import ProfileIndex
from crm.questions.models import Question
from crm.text import fold

log = logging.getLogger("crm.questions")

MAX_SUGGESTIONS = 5
#: Points for each kind of evidence; a profile match adds its matching score on top.
CHOSEN_BY_STUDENT = 100.0
PROFILE_MATCH = 20.0
SAME_UNIT = 5.0
#: Lecturers of one unit listed at most (a faculty may have a hundred).
MAX_UNIT_LECTURERS = 30
ANSWERING_KINDS = ("lecturer", "researcher")



@dataclass(frozen=True)
class ProfileEntry:
    contact_id: int
    name: str
    #: Folded keyword or heading → as the librarian wrote it (hit clauses are folded: ``"hoc may"``).
    written: dict[str, str]


@dataclass(frozen=True)
class IndexedProfiles:
    """The lecturers' profiles in a percolator, with what the reasons need; valid while ``signature`` is."""

    signature: frozenset
    index: ProfileIndex
    entries: dict[int, ProfileEntry]


#: Built once per process and rebuilt when a lecturer's profile is added, edited or removed (each
#: request checks the profiles' ids and update times, a cheap query, instead of parsing them all).
_INDEXED: IndexedProfiles | None = None


@dataclass
class Suggestion:
    contact: Contact
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)


def analyze_question(question: Question) -> AnalyzedItem:
    text = question.relayed_text or question.body
    return analyze_item({"title": question.topic, "subtitle": None, "abstract": text,
                         "subjects": [{"heading": question.topic}, {"heading": text}], "authors": []})


def _compile(profile: InterestProfile) -> Query | None:
    text = compile_profile(profile.name, profile.topics, profile.keywords or [], profile.subject_headings or [],
                           profile.class_ranges or [], [], getattr(profile, "query", None))
    if not text:
        return None
    try:
        return compile_query(text, bool(getattr(profile, "exact", False)))
    except QueryError as exc:
        log.info("profile %s is not used for suggestions: %s", profile.id, exc)
        return None


def _active_profiles():
    return (InterestProfile.is_active, Contact.is_active, Contact.kind.in_(ANSWERING_KINDS))


async def indexed_profiles(session: AsyncSession) -> IndexedProfiles:
    global _INDEXED
    signature = frozenset((await session.execute(
        select(InterestProfile.id, InterestProfile.updated_at)
        .join(Contact, InterestProfile.contact_id == Contact.id).where(*_active_profiles()))).all())
    if _INDEXED is not None and _INDEXED.signature == signature:
        return _INDEXED
    index, entries = ProfileIndex(), {}
    rows = await session.scalars(select(InterestProfile).join(Contact, InterestProfile.contact_id == Contact.id)
                                 .where(*_active_profiles()))
    for profile in rows.unique():
        query = _compile(profile)
        if query is not None:
            index.add(profile.id, query)
            written = {fold(v): v for v in [*(profile.keywords or []), *(profile.subject_headings or [])]}
            entries[profile.id] = ProfileEntry(profile.contact_id, profile.name, written)
    _INDEXED = IndexedProfiles(signature, index, entries)
    return _INDEXED


def _as_written(written: dict[str, str], clause: str) -> str:
    bare = clause.split(":", 1)[1] if clause.startswith(("subject:", "title:")) else clause
    bare = bare.strip('"')
    return written.get(bare, bare)


class Suggester:
    """Loads the lecturers' profiles once, then suggests for any number of questions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._profiles: IndexedProfiles | None = None
        self._unit_cache: dict[int, list[Contact]] = {}
        self._contact_cache: dict[int, Contact] = {}

    async def _load_profiles(self) -> IndexedProfiles:
        if self._profiles is None:
            self._profiles = await indexed_profiles(self.session)
        return self._profiles

    async def _contacts(self, ids: set[int]) -> dict[int, Contact]:
        """Contacts by id, each loaded once per Suggester (one query for the ones not seen yet)."""
        missing = [i for i in ids if i not in self._contact_cache]
        if missing:
            for contact in await self.session.scalars(select(Contact).where(Contact.id.in_(missing))):
                self._contact_cache[contact.id] = contact
        return {i: self._contact_cache[i] for i in ids if i in self._contact_cache}

    async def _unit_lecturers(self, unit_id: int) -> list[Contact]:
        if unit_id not in self._unit_cache:
            units = await UnitService(self.session).descendant_ids([unit_id])
            query = (select(Contact).where(Contact.unit_id.in_(units), Contact.is_active, Contact.kind == "lecturer")
                     .order_by(Contact.sort_key).limit(MAX_UNIT_LECTURERS))
            self._unit_cache[unit_id] = list(await self.session.scalars(query))
        return self._unit_cache[unit_id]

    async def suggest(self, question: Question, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
        found: dict[int, Suggestion] = {}

        def entry(contact: Contact) -> Suggestion:
            return found.setdefault(contact.id, Suggestion(contact))

        chosen = question.requested_lecturer
        if chosen is not None and chosen.is_active:
            s = entry(chosen)
            s.score += CHOSEN_BY_STUDENT
            s.reasons.append(_("Chosen by the student."))
        analyzed = analyze_question(question)
        profiles = await self._load_profiles()
        matches = profiles.index.match(analyzed)
        contacts = await self._contacts({profiles.entries[profile_id].contact_id for profile_id, _m in matches})
        for profile_id, match in matches:
            profile = profiles.entries[profile_id]
            contact = contacts.get(profile.contact_id)
            if contact is None:
                continue
            s = entry(contact)
            s.score += PROFILE_MATCH + match.score
            terms = ", ".join(dict.fromkeys(_as_written(profile.written, hit.clause) for hit in match.hits))
            s.reasons.append(_("Interest profile “%(name)s” matches: %(terms)s.", name=profile.name, terms=terms))
        unit: Unit | None = question.group.unit if question.group is not None and question.group.unit else None
        if unit is not None:
            for contact in await self._unit_lecturers(unit.id):
                s = entry(contact)
                s.score += SAME_UNIT
                s.reasons.append(_("Teaches in %(unit)s, the unit of %(course)s.",
                                   unit=unit.name(current_language()), course=question.group.name))
        ranked = sorted(found.values(), key=lambda s: (-s.score, s.contact.sort_key))
        return ranked[:limit]

"""Is it held? A citation or a suggestion resolved against the item store.

An ISBN-13 or a DOI decides exactly. Otherwise titles and first authors are compared fuzzily on
folded text (case and Vietnamese diacritics ignored, so "Hoc may" is "Học máy"), giving a
confidence from 0 to 100; the thresholds below turn it into held, uncertain (a librarian
confirms or rejects the candidate) or not held.
"""

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.sources.models import Item, ItemIdentifier, ItemSource
from crm.sources.normalize import family_name
from crm.text import fold

#: At or above: held without asking (an identifier gives 100).
HELD_CONFIDENCE = 90.0
#: At or above (and below HELD_CONFIDENCE): uncertain, a librarian confirms the candidate.
UNCERTAIN_CONFIDENCE = 70.0
EXACT_CONFIDENCE = 100.0
#: Share of the first author's family name in the confidence when both sides name authors.
AUTHOR_WEIGHT = 0.25
#: A title alone is weaker evidence than a title and an author.
TITLE_ONLY_FACTOR = 0.92
#: Matching only the part before a colon ("Deep learning" for "Deep learning: adaptive …").
MAIN_TITLE_PENALTY = 5.0
#: Publication years more than a year apart: another edition, perhaps.
YEAR_PENALTY = 5.0
#: Both sides carry ISBNs and none is shared: a different edition at best, never held without a librarian.
ISBN_MISMATCH_CAP = 85.0
#: Items compared per citation when searching by title words.
CANDIDATE_LIMIT = 100
#: Items read in the one scan for a title's rarest-looking word.
SCAN_LIMIT = 2000
#: Title words used to find candidates (the longest, which say the most).
CANDIDATE_WORDS = 6
#: Pre-selection of gaps for one new item before the full comparison (arrivals).
PRESELECT_CUTOFF = 50.0
PRESELECT_LIMIT = 20

_WORD = re.compile(r"\w+")
_MAIN = re.compile(r"\s*[:;=]\s*|\s+[-–—]\s+")


def title_key(title: str | None) -> str:
    """Folded words of a title, one space apart: what "the same title" means across sources."""
    return " ".join(_WORD.findall(fold(title)))[:400]


def family(author: str) -> str:
    """The folded family name; "Suber P" and "Nguyen VA" (Vancouver style: initials last) too."""
    if "," not in author:
        words = _WORD.findall(fold(author))
        if len(words) > 1 and all(len(w) <= 2 for w in words[1:]):
            return words[0]
    return family_name(author)


def families(authors: list[str] | tuple[str, ...]) -> list[str]:
    return [f for f in (family(a) for a in authors) if f]


@dataclass
class Wanted:
    """What a reading list or a reader asks for."""

    title: str = ""
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    isbn: str | None = None
    doi: str | None = None
    #: Items a librarian already said are not it.
    exclude: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return title_key(self.title)


@dataclass
class Resolution:
    status: str  # held | uncertain | not_held
    item_id: int | None = None
    confidence: float | None = None
    method: str | None = None  # isbn | doi | title


@dataclass
class Candidate:
    """The fields of an item the comparison needs."""

    id: int
    title: str
    subtitle: str | None
    authors: list[str]
    year: int | None
    isbns: list[str]
    doi: str | None = None


def status_for(confidence: float) -> str:
    if confidence >= HELD_CONFIDENCE:
        return "held"
    if confidence >= UNCERTAIN_CONFIDENCE:
        return "uncertain"
    return "not_held"


def _similarity(a: str, b: str) -> float:
    """Characters and whole words together: "hoc may" and "hoc sau" share letters, not a book."""
    if not a or not b:
        return 0.0
    wa, wb = a.split(), b.split()
    common = sum(min(wa.count(w), wb.count(w)) for w in set(wa))
    words = 200.0 * common / (len(wa) + len(wb))
    return 0.5 * fuzz.ratio(a, b) + 0.5 * words


def title_similarity(wanted: str, title: str, subtitle: str | None = None) -> float:
    """0–100 between a wanted title and an item's title (with and without its subtitle)."""
    wanted_key = title_key(wanted)
    if not wanted_key:
        return 0.0
    targets = [title_key(title)]
    if subtitle:
        targets.append(title_key(f"{title} {subtitle}"))
    best = max(_similarity(wanted_key, t) for t in targets)
    main = title_key(_MAIN.split(wanted, 1)[0])
    if main and main != wanted_key:
        best = max(best, max(_similarity(main, t) for t in targets) - MAIN_TITLE_PENALTY)
    return best


def confidence(wanted: Wanted, item: Candidate) -> float:
    """How sure we are that ``item`` is what is wanted, from titles, first authors and years."""
    score = title_similarity(wanted.title, item.title, item.subtitle)
    wanted_families, item_families = families(wanted.authors), families(item.authors)
    if wanted_families and item_families:
        author = max(fuzz.ratio(w, f) for w in wanted_families[:3] for f in item_families[:5])
        score = (1 - AUTHOR_WEIGHT) * score + AUTHOR_WEIGHT * author
    else:
        score *= TITLE_ONLY_FACTOR
    if wanted.year and item.year and abs(wanted.year - item.year) > 1:
        score -= YEAR_PENALTY
    if wanted.isbn and item.isbns and wanted.isbn not in item.isbns:
        score = min(score, ISBN_MISMATCH_CAP)
    return round(max(0.0, min(100.0, score)), 1)


def _candidate(item: Item) -> Candidate:
    return Candidate(id=item.id, title=item.title, subtitle=item.subtitle, authors=list(item.authors or []),
                     year=item.year, isbns=list(item.isbns or []), doi=item.doi)


def _held():
    """An item counts as held while one of its sources still lists it (not withdrawn)."""
    return select(ItemSource.id).where(ItemSource.item_id == Item.id, ItemSource.deleted.is_(False)).exists()


async def _by_identifier(session: AsyncSession, kind: str, value: str, exclude: tuple[int, ...]) -> int | None:
    query = (select(ItemIdentifier.item_id).join(Item, Item.id == ItemIdentifier.item_id)
             .where(ItemIdentifier.kind == kind, ItemIdentifier.value == value, _held()))
    if exclude:
        query = query.where(ItemIdentifier.item_id.not_in(exclude))
    return await session.scalar(query.limit(1))


def _search_words(key: str) -> list[str]:
    words = sorted(set(key.split()), key=lambda w: (-len(w), w))
    long_words = [w for w in words if len(w) >= 3]
    return (long_words or words)[:CANDIDATE_WORDS]


async def candidates(session: AsyncSession, wanted: Wanted) -> list[Candidate]:
    """Items with the same title and first author (an indexed key), else sharing the title's words:
    every word, else every word of the main title (before a colon), else the two longest."""
    key = wanted.key
    words = _search_words(key)
    if not words:
        return []
    for family in families(wanted.authors)[:1]:
        probe = (select(Item).join(ItemIdentifier, ItemIdentifier.item_id == Item.id)
                 .where(ItemIdentifier.kind == "title_author", ItemIdentifier.value == f"{key}|{family}"[:500], _held()))
        found = [_candidate(i) for i in await session.scalars(probe.limit(5)) if i.id not in wanted.exclude]
        if found and best_of(wanted, found).status == "held":
            return found
    main_words = _search_words(title_key(_MAIN.split(wanted.title, 1)[0])) or words
    # One scan for the main title's longest word (every item matching the title has it), then the
    # attempts in Python: every word, every word of the main title, its two longest, the title's two longest.
    columns = (Item.id, Item.title, Item.subtitle, Item.authors, Item.year, Item.isbns, Item.doi, Item.search_key)
    query = select(*columns).where(_held(), Item.search_key.contains(main_words[0], autoescape=True))
    if wanted.exclude:
        query = query.where(Item.id.not_in(wanted.exclude))
    rows = (await session.execute(query.order_by(Item.id.desc()).limit(SCAN_LIMIT))).all()
    attempts: list[list[str]] = []
    for chosen in (words, main_words, main_words[:2], words[:2]):
        if chosen and chosen not in attempts:
            attempts.append(chosen)
    for chosen in attempts:
        found = [row for row in rows if all(w in row.search_key for w in chosen)][:CANDIDATE_LIMIT]
        if found:
            return [Candidate(id=r.id, title=r.title, subtitle=r.subtitle, authors=list(r.authors or []), year=r.year,
                              isbns=list(r.isbns or []), doi=r.doi) for r in found]
    return []


def best_of(wanted: Wanted, found: list[Candidate]) -> Resolution:
    best: tuple[float, int] | None = None
    for item in found:
        if item.id in wanted.exclude:
            continue
        score = confidence(wanted, item)
        if best is None or score > best[0]:
            best = (score, item.id)
    if best is None or best[0] < UNCERTAIN_CONFIDENCE:
        return Resolution("not_held", confidence=best[0] if best else None)
    return Resolution(status_for(best[0]), item_id=best[1], confidence=best[0], method="title")


async def resolve(session: AsyncSession, wanted: Wanted) -> Resolution:
    """Held (by identifier or with a high confidence), uncertain with a candidate, or not held."""
    if wanted.isbn and (item_id := await _by_identifier(session, "isbn", wanted.isbn, wanted.exclude)):
        return Resolution("held", item_id, EXACT_CONFIDENCE, "isbn")
    if wanted.doi and (item_id := await _by_identifier(session, "doi", wanted.doi, wanted.exclude)):
        return Resolution("held", item_id, EXACT_CONFIDENCE, "doi")
    if not wanted.key:
        return Resolution("not_held")
    return best_of(wanted, await candidates(session, wanted))


def exact_match(wanted: Wanted, item: Candidate) -> str | None:
    """"isbn" or "doi" when an identifier of the item is the wanted one."""
    if wanted.isbn and wanted.isbn in item.isbns:
        return "isbn"
    if wanted.doi and item.doi and wanted.doi == item.doi:
        return "doi"
    return None


def match_new_item(item: Candidate, gaps: list[tuple[Wanted, object]]) -> list[tuple[object, Resolution]]:
    """The gaps a newly arrived item fills: by identifier, or held-confidence on title and author.

    ``gaps`` pairs each Wanted with what it stands for (a citation, a suggestion); only gaps the
    item resolves as *held* are returned, so an arrival never tells anyone about a maybe.
    """
    out: list[tuple[object, Resolution]] = []
    keys = [w.key for w, _ in gaps]
    preselected: set[int] = set()
    item_keys = [k for k in {title_key(item.title), title_key(f"{item.title} {item.subtitle or ''}")} if k]
    for key in item_keys:
        for _choice, _score, index in process.extract(key, keys, scorer=fuzz.ratio, limit=PRESELECT_LIMIT,
                                                      score_cutoff=PRESELECT_CUTOFF):
            preselected.add(index)
    for index, (wanted, target) in enumerate(gaps):
        if item.id in wanted.exclude:
            continue
        method = exact_match(wanted, item)
        if method:
            out.append((target, Resolution("held", item.id, EXACT_CONFIDENCE, method)))
        elif index in preselected:
            score = confidence(wanted, item)
            if score >= HELD_CONFIDENCE:
                out.append((target, Resolution("held", item.id, score, "title")))
    return out


async def load_candidates(session: AsyncSession, ids: list[int]) -> dict[int, Candidate]:
    if not ids:
        return {}
    return {i.id: _candidate(i) for i in await session.scalars(select(Item).where(Item.id.in_(ids)))}

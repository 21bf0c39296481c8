"""A course's reading list: citations added by form, pasted, or imported (all or nothing), each resolved
against the item store; a librarian confirms or rejects the uncertain ones."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import schemas
from crm.acquisitions.models import Citation, Course
from crm.acquisitions.services import arrivals
from crm.acquisitions.services.courses import item_ref
from crm.acquisitions.services.parsing import CitationInput, Parsed, Problem, finish, parse_file
from crm.acquisitions.services.resolution import Resolution, Wanted, resolve, title_key
from crm.errors import FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.liaison.ids import storable
from crm.settings import Settings
from crm.sources import identifiers
from crm.sources.models import Item
from crm.text import nfc

#: Statuses a librarian has settled: re-resolving leaves them alone.
SETTLED = ("confirmed",)


class ImportProblems(Exception):
    """The import was refused: nothing saved; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems[:3]))
        self.problems = problems


def to_schema(citation: Citation) -> schemas.Citation:
    return schemas.Citation(
        id=citation.id, course_id=citation.course_id, position=citation.position, title=citation.title,
        authors=list(citation.authors or []), year=citation.year, isbn=citation.isbn, doi=citation.doi,
        publisher=citation.publisher, requirement=citation.requirement, status=citation.status,
        item=item_ref(citation.item), confidence=citation.confidence, method=citation.method, raw=citation.raw,
        confirmed_by=citation.confirmed_by.full_name if citation.confirmed_by else None, arrived_at=citation.arrived_at,
    )


def wanted(citation: Citation) -> Wanted:
    return Wanted(title=citation.title, authors=list(citation.authors or []), year=citation.year, isbn=citation.isbn,
                  doi=citation.doi, exclude=tuple(citation.rejected_item_ids or []))


class CitationService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def get(self, citation_id: int) -> Citation | None:
        return await self.session.get(Citation, citation_id) if storable(citation_id) else None

    async def reading_list(self, course_id: int, status: str | None = None) -> list[Citation]:
        query = select(Citation).where(Citation.course_id == course_id)
        if status:
            query = query.where(Citation.status == status)
        return list(await self.session.scalars(query.order_by(Citation.requirement.desc(), Citation.position,
                                                              Citation.id)))

    async def to_confirm(self, limit: int = 100) -> list[Citation]:
        """Uncertain citations of every course, oldest first: the librarian's review queue."""
        return list(await self.session.scalars(select(Citation).where(Citation.status == "uncertain")
                                               .order_by(Citation.created_at, Citation.id).limit(limit)))

    async def _apply(self, citation: Citation, resolution: Resolution) -> None:
        citation.status = resolution.status
        citation.item_id = resolution.item_id
        citation.confidence = resolution.confidence
        citation.method = resolution.method
        citation.resolved_at = datetime.now(UTC)
        if resolution.item_id and (not citation.title or not citation.authors):
            # An ISBN-only line: the catalogue knows the rest.
            item = await self.session.get(Item, resolution.item_id)
            if item is not None:
                citation.title = citation.title or item.title
                citation.authors = citation.authors or list(item.authors or [])[:5]
                citation.year = citation.year or item.year
                citation.publisher = citation.publisher or item.publisher
        citation.title_key = title_key(citation.title)

    async def add(self, course: Course, inputs: list[CitationInput]) -> list[Citation]:
        """Resolve and store parsed citations at the end of the course's list."""
        position = await self.session.scalar(select(func.max(Citation.position)).where(
            Citation.course_id == course.id)) or 0
        created: list[Citation] = []
        for entry in inputs:
            position += 1
            citation = Citation(course_id=course.id, position=position, raw=nfc(entry.raw), title=entry.title,
                                authors=list(entry.authors), year=entry.year, isbn=entry.isbn, doi=entry.doi,
                                publisher=entry.publisher, requirement=entry.requirement, rejected_item_ids=[])
            await self._apply(citation, await resolve(self.session, wanted(citation)))
            if not citation.title:
                citation.title = entry.isbn or entry.doi or ""
                citation.title_key = title_key(citation.title)
            self.session.add(citation)
            created.append(citation)
        await self.session.flush()
        # Reload with their items and courses (joined), in order, for pages and the API.
        ids = [c.id for c in created]
        loaded = {c.id: c for c in await self.session.scalars(
            select(Citation).where(Citation.id.in_(ids)).execution_options(populate_existing=True))} if ids else {}
        return [loaded[i] for i in ids]

    async def create_citation(self, course: Course, data: schemas.CitationCreate) -> Citation:
        errors: dict[str, str] = {}
        isbn = doi = None
        if data.isbn and data.isbn.strip():
            isbn = identifiers.isbn13(data.isbn)
            if isbn is None:
                errors["isbn"] = _("Not a valid ISBN: %(value)s", value=data.isbn.strip()[:30])
        if data.doi and data.doi.strip():
            doi = identifiers.doi(data.doi)
            if doi is None:
                errors["doi"] = _("Not a valid DOI: %(value)s", value=data.doi.strip()[:60])
        if errors:
            raise FieldErrors(errors)
        try:
            entry = finish(CitationInput(title=data.title, authors=list(data.authors), year=data.year, isbn=isbn,
                                         doi=doi, publisher=data.publisher, requirement=data.requirement))
        except ValueError as exc:
            raise FieldErrors({"title": str(exc)}) from None
        return (await self.add(course, [entry]))[0]

    def parse(self, data: bytes, filename: str | None, fmt: str, requirement: str) -> Parsed:
        return parse_file(data, filename, fmt, requirement)

    async def import_citations(self, course: Course, data: bytes, filename: str | None = None, fmt: str = "auto",
                               requirement: str = "required") -> list[Citation]:
        """All or nothing: every line or record is checked first; ImportProblems lists what is wrong."""
        parsed = parse_file(data, filename, fmt, requirement)
        if parsed.problems:
            raise ImportProblems(parsed.problems)
        return await self.add(course, parsed.citations)

    async def update_citation(self, citation: Citation, data: schemas.CitationUpdate) -> Citation:
        values = cleaned(data)
        for field, check in (("isbn", identifiers.isbn13), ("doi", identifiers.doi)):
            if values.get(field):
                normalized = check(values[field])
                if normalized is None:
                    raise FieldErrors({field: _("Not a valid ISBN: %(value)s", value=values[field][:30]) if field == "isbn"
                                       else _("Not a valid DOI: %(value)s", value=values[field][:60])})
                values[field] = normalized
        if "title" in values and not values["title"] and not (values.get("isbn") or citation.isbn):
            raise FieldErrors({"title": _("No title, ISBN or DOI found.")})
        identity = {k for k in values if k in ("title", "authors", "year", "isbn", "doi")}
        for key, value in values.items():
            setattr(citation, key, value)
        if identity and citation.status not in SETTLED:
            await self._apply(citation, await resolve(self.session, wanted(citation)))
        citation.title_key = title_key(citation.title)
        await self.session.flush()
        await self.session.refresh(citation)
        return citation

    async def confirm(self, citation: Citation, acting, item_id: int | None = None) -> Citation:
        """The librarian says it is held: the proposed item, or another one they name."""
        target = item_id or citation.item_id
        if target is None or not storable(target) or await self.session.get(Item, target) is None:
            raise FieldErrors({"item_id": _("Name the held item (its number in the item browser).")})
        citation.method = "manual" if target != citation.item_id else citation.method
        citation.item_id = target
        citation.status = "confirmed"
        citation.confidence = 100.0 if citation.method == "manual" else citation.confidence
        citation.confirmed_by_id = acting.id if acting is not None else None
        citation.confirmed_at = datetime.now(UTC)
        await self.session.flush()
        await self.session.refresh(citation)
        return citation

    async def reject(self, citation: Citation, acting) -> Citation:
        """Not this item: it is never proposed again for this citation, and the next best is looked for."""
        if citation.item_id is None:
            raise FieldErrors({"item_id": _("There is no proposed item to reject.")})
        citation.rejected_item_ids = [*citation.rejected_item_ids, citation.item_id]
        citation.confirmed_by_id = None
        citation.confirmed_at = None
        await self._apply(citation, await resolve(self.session, wanted(citation)))
        await self.session.flush()
        await self.session.refresh(citation)
        return citation

    async def reopen(self, citation: Citation) -> Citation:
        """Undo a confirmation: resolve again as if new."""
        citation.confirmed_by_id = None
        citation.confirmed_at = None
        await self._apply(citation, await resolve(self.session, wanted(citation)))
        await self.session.flush()
        await self.session.refresh(citation)
        return citation

    async def delete_citation(self, citation: Citation) -> None:
        await self.session.delete(citation)
        await self.session.flush()

    async def reresolve(self, citations: list[Citation]) -> dict[str, int]:
        """Check unsettled citations again; a gap filled by an item that came after it was recorded
        is an arrival (the lecturers are told, once). Returns counts by new status."""
        counts: dict[str, int] = {}
        filled: list[tuple[Citation, Item]] = []
        for citation in citations:
            if citation.status in SETTLED:
                continue
            before = citation.status
            await self._apply(citation, await resolve(self.session, wanted(citation)))
            counts[citation.status] = counts.get(citation.status, 0) + 1
            if before in ("not_held", "uncertain") and citation.status == "held" and citation.item_id:
                item = await self.session.get(Item, citation.item_id)
                if item is not None and item.first_seen_at > citation.created_at:
                    citation.arrived_at = datetime.now(UTC)
                    filled.append((citation, item))
        await self.session.flush()
        if filled:
            await arrivals.announce_citations(self.session, self.settings, filled)
        return counts

    async def reresolve_all(self) -> dict[str, int]:
        """Every unsettled citation of every course (``crm acquisitions resolve``)."""
        pending = list(await self.session.scalars(select(Citation).where(Citation.status.in_(
            ("not_held", "uncertain", "held")))))
        return await self.reresolve(pending)

"""Purchase suggestions: from lecturers (their signed page, or a librarian on their behalf) and students.

Each suggestion is checked against holdings (already held → the suggester is told so) and against
the other open suggestions (the same title again counts as one more vote for the first). Every
status change queues one email to the suggester, keyed by suggestion and status.
"""

from datetime import UTC, date, datetime

from rapidfuzz import fuzz
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import labels, schemas
from crm.acquisitions.models import OPEN_SUGGESTION_STATUSES, Course, Suggestion
from crm.acquisitions.services import notify
from crm.acquisitions.services.resolution import Resolution, Wanted, resolve, title_key
from crm.errors import FieldErrors
from crm.forms import normalize_email
from crm.i18n import _, language
from crm.liaison.ids import storable
from crm.liaison.models import Contact
from crm.pagination import Page, paginate
from crm.security.tokens import make_token
from crm.settings import Settings
from crm.sources import identifiers
from crm.sources.models import Item
from crm.text import fold, given_name, nfc

#: Title similarity (0–100) at which another open suggestion is the same title.
DUPLICATE_SIMILARITY = 90.0
#: Which status may follow which: a librarian can reopen a rejection, not undo a receipt.
TRANSITIONS = {
    "new": {"accepted", "ordered", "rejected", "received"},
    "accepted": {"new", "ordered", "rejected", "received"},
    "ordered": {"accepted", "received", "rejected"},
    "rejected": {"new", "accepted"},
    "received": set(),
}
SUGGEST_PURPOSE = "suggestion"


def suggestion_link(settings: Settings, contact_id: int) -> str:
    """A lecturer's personal suggestion page (no login; expires, see crm/security/tokens.py)."""
    return f"{settings.base_url}/suggest/{make_token(settings, SUGGEST_PURPOSE, {'c': contact_id})}"


def search_key(s: Suggestion) -> str:
    return fold(" ".join(p for p in (s.title, s.authors, s.isbn, s.suggester_name, s.suggester_email, s.reason) if p))[:800]


def clean_isbn(value: str | None, field: str = "isbn") -> str | None:
    if not (value or "").strip():
        return None
    isbn = identifiers.isbn13(value)
    if isbn is None:
        raise FieldErrors({field: _("Not a valid ISBN: %(value)s", value=value.strip()[:30])})
    return isbn


def wanted_of(title: str, authors: str | None, isbn: str | None, year: int | None = None) -> Wanted:
    from crm.acquisitions.services.parsing import split_authors

    return Wanted(title=title, authors=split_authors(authors), isbn=isbn, year=year)


def status_message(suggestion: Suggestion, already_held: bool) -> str:
    """What happened, in one sentence (plain text: the HTML part escapes it, the text part prints it)."""
    title = suggestion.title
    if suggestion.status == "new" and already_held:
        return _("The library already holds «%(title)s»: you can borrow it now. We have still recorded your "
                 "suggestion, in case you need another edition or more copies.", title=title)
    messages = {
        "new": lambda: _("Thank you for suggesting «%(title)s». The library will consider it and write to you when it "
                         "decides.", title=title),
        "accepted": lambda: _("The library has accepted your suggestion «%(title)s» and will order it.", title=title),
        "ordered": lambda: _("«%(title)s» has been ordered. We will write to you when it arrives.", title=title),
        "received": lambda: _("«%(title)s», which you suggested, has arrived at the library.", title=title),
        "rejected": lambda: _("The library will not buy «%(title)s».", title=title),
    }
    return messages[suggestion.status]()


def greeting_name(suggestion: Suggestion) -> str:
    """"TS. Nguyễn Văn An" for a lecturer (formal, with the title), the given name for a student."""
    contact = suggestion.contact
    if suggestion.suggester_kind == "lecturer" and contact is not None:
        return f"{contact.academic_title} {contact.full_name}" if contact.academic_title else contact.full_name
    if suggestion.suggester_kind == "lecturer":
        return suggestion.suggester_name
    return given_name(suggestion.suggester_name) or suggestion.suggester_name


class SuggestionService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def get(self, suggestion_id: int) -> Suggestion | None:
        return await self.session.get(Suggestion, suggestion_id) if storable(suggestion_id) else None

    async def list_suggestions(self, status: str | None = None, kind: str | None = None, q: str | None = None,
                               course_id: int | None = None, contact_id: int | None = None, page: int | None = 1,
                               per_page: int | None = None) -> Page[Suggestion]:
        query = select(Suggestion).order_by(Suggestion.created_at.desc(), Suggestion.id.desc())
        if status == "open":
            query = query.where(Suggestion.status.in_(OPEN_SUGGESTION_STATUSES))
        elif status:
            query = query.where(Suggestion.status == status)
        if kind:
            query = query.where(Suggestion.suggester_kind == kind)
        if course_id is not None:
            query = query.where(Suggestion.course_id == course_id)
        if contact_id is not None:
            query = query.where(Suggestion.contact_id == contact_id)
        for term in fold(q).split():
            query = query.where(Suggestion.search_key.contains(term, autoescape=True))
        return await paginate(self.session, query, page, per_page)

    async def status_counts(self) -> dict[str, int]:
        rows = await self.session.execute(select(Suggestion.status, func.count()).group_by(Suggestion.status))
        return dict(rows.all())

    async def votes(self, suggestion: Suggestion) -> list[Suggestion]:
        """The later suggestions of the same title (each one more vote)."""
        return list(await self.session.scalars(select(Suggestion).where(Suggestion.duplicate_of_id == suggestion.id)
                                               .order_by(Suggestion.id)))

    # --- duplicates -----------------------------------------------------------------------

    async def held(self, wanted: Wanted) -> tuple[Item | None, Resolution]:
        """The held item this title is (only a sure match counts: a maybe is not "already held")."""
        resolution = await resolve(self.session, wanted)
        if resolution.status != "held" or resolution.item_id is None:
            return None, resolution
        return await self.session.get(Item, resolution.item_id), resolution

    async def duplicate_of(self, title: str, isbn: str | None, exclude: int | None = None) -> Suggestion | None:
        """The first open suggestion of the same book: same ISBN, or nearly the same title."""
        key = title_key(title)
        words = sorted(set(key.split()), key=len, reverse=True)[:3]
        conditions = [Suggestion.title_key.contains(w, autoescape=True) for w in words]
        query = select(Suggestion).where(Suggestion.status.in_(OPEN_SUGGESTION_STATUSES),
                                         Suggestion.duplicate_of_id.is_(None), Suggestion.item_id.is_(None))
        if exclude is not None:
            query = query.where(Suggestion.id != exclude)
        matches = [Suggestion.isbn == isbn] if isbn else []
        if conditions:
            matches.append(and_(*conditions))
        if not matches:
            return None
        for other in await self.session.scalars(query.where(or_(*matches)).order_by(Suggestion.id).limit(50)):
            if isbn and other.isbn == isbn:
                return other
            if isbn and other.isbn and other.isbn != isbn:
                continue
            if key and other.title_key and fuzz.ratio(key, other.title_key) >= DUPLICATE_SIMILARITY:
                return other
        return None

    # --- creating -------------------------------------------------------------------------

    async def create(self, *, title: str, authors: str | None, isbn: str | None, publisher: str | None = None,
                     year: int | None = None, reason: str | None = None, course: Course | None = None,
                     kind: str, contact: Contact | None = None, name: str | None = None, email: str | None = None,
                     language: str | None = None, students: int = 1, entered_by=None) -> Suggestion:
        """Store a suggestion (checked against holdings and open suggestions) and acknowledge it by email."""
        title = nfc(" ".join(title.split())) or ""
        if not title:
            raise FieldErrors({"title": _("This field is required.")})
        if contact is not None:
            name, email, language = contact.full_name, contact.email, language or contact.language
        name = nfc(name)
        if not name:
            raise FieldErrors({"suggester_name": _("Say who suggests it: a lecturer, or a name and an email.")})
        if email:
            email = normalize_email(email, "suggester_email")
        now = datetime.now(UTC)
        wanted = wanted_of(title, authors, isbn, year)
        item, _resolution = await self.held(wanted)
        duplicate = None if item else await self.duplicate_of(title, isbn)
        suggestion = Suggestion(
            title=title, authors=nfc(authors), isbn=isbn, publisher=nfc(publisher), year=year, reason=nfc(reason),
            course=course, suggester_kind=kind, contact=contact, suggester_name=name, suggester_email=email,
            language=language or self.settings.default_language, students=max(1, students), entered_by=entered_by,
            status="new", status_changed_at=now, item_id=item.id if item else None,
            duplicate_of_id=duplicate.id if duplicate else None, title_key=title_key(title),
        )
        suggestion.search_key = search_key(suggestion)
        self.session.add(suggestion)
        await self.session.flush()
        await self.session.refresh(suggestion)
        await self._tell(suggestion, entered_by, item=item)
        return suggestion

    async def create_for(self, data: schemas.SuggestionCreate, acting) -> Suggestion:
        """A librarian records a suggestion: for a lecturer (contact), or for a reader by name and email."""
        errors: dict[str, str] = {}
        contact = course = None
        if data.contact_id is not None:
            contact = await self.session.get(Contact, data.contact_id) if storable(data.contact_id) else None
            if contact is None:
                errors["contact_id"] = _("Unknown contact.")
        elif not data.suggester_name:
            errors["suggester_name"] = _("Say who suggests it: a lecturer, or a name and an email.")
        if data.course_id is not None:
            course = await self.session.get(Course, data.course_id) if storable(data.course_id) else None
            if course is None:
                errors["course_id"] = _("Unknown course.")
        try:
            isbn = clean_isbn(data.isbn)
        except FieldErrors as exc:
            errors.update(exc.errors)
            isbn = None
        if errors:
            raise FieldErrors(errors)
        kind = "lecturer" if contact is not None and contact.kind in ("lecturer", "researcher", "staff") else (
            "student" if contact is not None else "librarian")
        return await self.create(title=data.title, authors=data.authors, isbn=isbn, publisher=data.publisher,
                                 year=data.year, reason=data.reason, course=course, kind=kind, contact=contact,
                                 name=data.suggester_name, email=data.suggester_email, students=data.students,
                                 entered_by=acting)

    # --- status ---------------------------------------------------------------------------

    async def change_status(self, suggestion: Suggestion, status: str, reason: str | None = None, acting=None,
                            item_id: int | None = None) -> Suggestion:
        """Move to ``status`` (a rejection needs a reason) and queue the email to the suggester."""
        reason = nfc(reason)
        if status == suggestion.status:
            raise FieldErrors({"status": _("The suggestion already has this status.")})
        if status not in TRANSITIONS.get(suggestion.status, set()):
            raise FieldErrors({"status": _("A suggestion that is %(current)s cannot become %(new)s.",
                                           current=labels.label(labels.SUGGESTION_STATUSES, suggestion.status),
                                           new=labels.label(labels.SUGGESTION_STATUSES, status))})
        if status == "rejected" and not reason:
            raise FieldErrors({"reason": _("Give the reason for the rejection: the suggester will read it.")})
        suggestion.status = status
        suggestion.status_reason = reason
        suggestion.status_changed_at = datetime.now(UTC)
        if item_id is not None:
            suggestion.item_id = item_id
        elif status == "received" and suggestion.item_id is None:
            item, _resolution = await self.held(wanted_of(suggestion.title, suggestion.authors, suggestion.isbn,
                                                          suggestion.year))
            suggestion.item_id = item.id if item else None
        await self.session.flush()
        await self.session.refresh(suggestion)
        await self._tell(suggestion, acting)
        return suggestion

    async def _tell(self, suggestion: Suggestion, acting=None, item: Item | None = None) -> None:
        if not suggestion.suggester_email:
            return
        if item is None and suggestion.item_id is not None:
            item = await self.session.get(Item, suggestion.item_id)
        already_held = item is not None and suggestion.status == "new"
        with language(suggestion.language):
            message = status_message(suggestion, already_held)
        await notify.send(
            self.session, self.settings, key=f"acq-suggestion:{suggestion.id}:{suggestion.status}",
            template="acquisitions_suggestion", name=suggestion.suggester_name, email=suggestion.suggester_email,
            language=suggestion.language, reply_to=acting.email if acting is not None else None,
            context={"suggestion": suggestion, "item": notify.item_view(self.settings, item),
                     "lecturer": suggestion.suggester_kind == "lecturer",
                     "greeting_name": greeting_name(suggestion),
                     "status_label": labels.label(labels.SUGGESTION_STATUSES, suggestion.status),
                     "signature": notify.signature(acting), "already_held": already_held, "message": message,
                     "duplicate": suggestion.duplicate_of_id is not None,
                     "link": suggestion_link(self.settings, suggestion.contact_id) if suggestion.contact_id
                     and suggestion.suggester_kind == "lecturer" else None},
        )

    # --- inviting lecturers ---------------------------------------------------------------

    async def invite(self, contact: Contact, course: Course | None = None, acting=None) -> str:
        """Email a lecturer their personal suggestion link (once a day per course); returns the link."""
        link = suggestion_link(self.settings, contact.id)
        await notify.send(
            self.session, self.settings, key=f"acq-invite:{contact.id}:{course.id if course else 0}:{date.today()}",
            template="acquisitions_invite", name=contact.full_name, email=contact.email, language=contact.language,
            reply_to=acting.email if acting is not None else None,
            context={"contact": contact, "course": course, "link": link, "signature": notify.signature(acting),
                     "greeting_name": f"{contact.academic_title} {contact.full_name}" if contact.academic_title
                     else contact.full_name},
        )
        return link

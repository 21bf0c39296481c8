"""Interest profiles: stored structured so the matching engine can compile them later.

Lists (keywords, subject headings, class ranges, languages) are kept NFC, trimmed and without
repeats; class ranges and language codes in one canonical spelling, so that matching never has
to guess what a librarian meant.

A profile is saved only if the query it stands for (:func:`profile_query`) parses: a written
query is checked where it was typed (its error carries the position of the fault), and a
structured value that cannot compile (a keyword with no word in it) is named in its own field.
"""

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.interests import schemas
from crm.interests.classification import ClassRangeError, normalize_class_range
from crm.interests.compile import class_clause, compile_profile, quote
from crm.interests.languages import normalize_language
from crm.interests.models import InterestProfile
from crm.interests.query import QueryError, parse_query
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Group
from crm.liaison.search import profile_key
from crm.pagination import Page, paginate
from crm.text import fold, nfc

MAX_VALUES = 200
MAX_VALUE_LENGTH = 200
LIST_FIELDS = ("keywords", "subject_headings", "class_ranges", "languages")
MAX_QUERY_LENGTH = schemas.MAX_QUERY_LENGTH
_SEPARATORS = re.compile(r"[\n\r;]+")


def fault_text(fault: schemas.QueryFault) -> str:
    """A fault as one message: a position is counted from 1, as people count characters."""
    if fault.position is None:
        return fault.message
    message = fault.message.removesuffix(".")
    ending = "." if message != fault.message else ""
    return _("%(fault)s (position %(position)s)", fault=message, position=fault.position + 1) + ending


def split_values(text: str | None) -> list[str]:
    """A textarea's values: one a line, or separated by semicolons."""
    return [part for part in (nfc(p) for p in _SEPARATORS.split(text or "")) if part]


def unique(values: Iterable[str]) -> list[str]:
    """NFC, trimmed, blanks dropped, repeats (ignoring case) dropped; the first spelling wins."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = nfc(value) if isinstance(value, str) else None
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:39] + "…"


def clean_lists(values: dict, errors: dict[str, str]) -> None:
    """Normalize the list fields present in ``values`` in place, collecting an error per field."""
    for name in LIST_FIELDS:
        if name not in values:
            continue
        items = unique(values[name] or [])
        if len(items) > MAX_VALUES:
            errors[name] = _("At most %(n)s values.", n=MAX_VALUES)
            continue
        too_long = [v for v in items if len(v) > MAX_VALUE_LENGTH]
        if too_long:
            errors[name] = _("Each value may have at most %(n)s characters: %(value)s", n=MAX_VALUE_LENGTH, value=_short(too_long[0]))
            continue
        if name == "class_ranges":
            items, problems = _class_ranges(items)
        elif name == "languages":
            items, problems = _languages(items)
        else:
            problems = []
        if problems:
            errors[name] = " ".join(problems)
        values[name] = unique(items)


def _class_ranges(items: list[str]) -> tuple[list[str], list[str]]:
    out, problems = [], []
    for value in items:
        try:
            out.append(normalize_class_range(value))
        except ClassRangeError as exc:
            if exc.reason == "reversed":
                problems.append(_("The range %(value)s ends before it starts.", value=_short(value)))
            elif exc.reason == "mixed":
                problems.append(_("The range %(value)s mixes DDC and LCC numbers.", value=_short(value)))
            else:
                problems.append(_("Not a DDC or LCC class or range: %(value)s (e.g. 004-006.99, QA76-QA76.99, 025.04).",
                                  value=_short(value)))
    return out, problems


def _languages(items: list[str]) -> tuple[list[str], list[str]]:
    out, problems = [], []
    for value in items:
        code = normalize_language(value)
        if code is None:
            problems.append(_("Not an ISO 639 language code: %(value)s (e.g. vie, eng).", value=_short(value)))
        else:
            out.append(code)
    return out, problems


_STRUCTURED = (
    ("keywords", quote),
    ("subject_headings", lambda heading: f"subject:{quote(heading)}"),
    ("class_ranges", class_clause),
)


def fault_marks(text: str | None, fault: schemas.QueryFault | None) -> dict[str, str] | None:
    """The typed query cut at its fault, for pages to mark it (crm/static/js/profile-query.js cuts the same way)."""
    if fault is None or fault.position is None or fault.field != "query":
        return None
    text = unicodedata.normalize("NFC", text or "")
    position = max(0, min(fault.position, len(text)))
    return {"before": text[:position], "at": text[position:position + 1], "after": text[position + 1:],
            "text": fault_text(fault)}


def compile_values(values: dict) -> str:
    """The query of a profile given as cleaned values (a form being edited, or stored fields)."""
    return compile_profile(values.get("name") or "", values.get("topics"), values.get("keywords") or [],
                           values.get("subject_headings") or [], values.get("class_ranges") or [],
                           values.get("languages") or [], query=values.get("query"))


def profile_query(profile: InterestProfile) -> str:
    """The query the matching engine runs for a profile ("" when it has nothing to look for).

    Every consumer (the match job, previews, the pages) goes through here, so they agree.
    Run it with ``profile.exact``: ``compile_query(profile_query(p), p.exact)``.
    """
    return compile_values({name: getattr(profile, name) for name in ("name", "topics", *LIST_FIELDS, "query")})


def written_query_fault(query: str | None, exact: bool) -> schemas.QueryFault | None:
    """What is wrong with a librarian-written query (NFC, trimmed), with the position of the fault."""
    if not query:
        return None
    if len(query) > MAX_QUERY_LENGTH:
        return schemas.QueryFault("query", _("At most %(n)s characters.", n=MAX_QUERY_LENGTH), None)
    try:
        parse_query(query, exact)
    except QueryError as exc:
        return schemas.QueryFault("query", exc.message, exc.position)
    return None


def query_fault(values: dict) -> schemas.QueryFault | None:
    """The first reason a profile's query would not run, or None; ``values`` are cleaned as stored.

    A written query is checked on its own (so the position is in the text the librarian typed);
    otherwise each structured value is checked as the clause it compiles to, so the message
    names the field and the value. Last, the whole compiled query (it adds the languages).
    """
    exact = bool(values.get("exact"))
    query = values.get("query")
    fault = written_query_fault(query, exact)
    if fault is not None:
        return fault
    if not query:
        for field, clause in _STRUCTURED:
            for value in values.get(field) or []:
                try:
                    parse_query(clause(value), exact)
                except QueryError as exc:
                    return schemas.QueryFault(field, exc.message)
    compiled = compile_values(values)
    if compiled:
        try:
            parse_query(compiled, exact)
        except QueryError as exc:
            structured = any(values.get(field) for field, _clause in _STRUCTURED)
            return schemas.QueryFault("query" if query else ("_" if structured else "topics"), exc.message)
    return None


def draft_values(query: str | None, exact: bool | str | None, topics: str | None, keywords: str | None,
                 subject_headings: str | None, class_ranges: str | None, languages: str | None) -> dict:
    """A profile being edited, from its form fields (list textareas as typed), for checks and previews."""
    texts = {"keywords": keywords, "subject_headings": subject_headings, "class_ranges": class_ranges,
             "languages": languages}
    if isinstance(exact, str):
        exact = exact.strip().lower() in {"1", "true", "on", "yes"}
    return {"query": query, "exact": bool(exact), "topics": topics,
            **{name: split_values(text) for name, text in texts.items()}}


def check_query(values: dict) -> schemas.QueryCheck:
    """Check-as-you-type: ``values`` as a form has them (lists as lists, the query as typed).

    The fault's position counts from the start of what was typed (leading blanks included),
    in NFC characters.
    """
    raw = unicodedata.normalize("NFC", values.get("query") or "")
    lead = len(raw) - len(raw.lstrip())
    values = {**values, "query": raw.strip() or None, "topics": nfc(values.get("topics")),
              "exact": bool(values.get("exact"))}
    errors: dict[str, str] = {}
    clean_lists(values, errors)
    fault = written_query_fault(values["query"], values["exact"])
    if fault is None and errors:
        field = next(iter(errors))
        fault = schemas.QueryFault(field, errors[field])
    if fault is None:
        fault = query_fault(values)
    if fault is not None and fault.position is not None:
        fault.position += lead
    return schemas.QueryCheck(valid=fault is None, compiled=compile_values(values), error=fault)


class ProfileService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_for_owner(self, contact_id: int | None = None, group_id: int | None = None) -> list[InterestProfile]:
        query = select(InterestProfile).order_by(InterestProfile.name)
        if contact_id is not None:
            query = query.where(InterestProfile.contact_id == contact_id)
        if group_id is not None:
            query = query.where(InterestProfile.group_id == group_id)
        return list(await self.session.scalars(query))

    async def get(self, profile_id: int) -> InterestProfile | None:
        return await self.session.get(InterestProfile, profile_id) if storable(profile_id) else None

    async def list_profiles(self, contact_id: int | None = None, group_id: int | None = None, q: str | None = None,
                            active: bool | None = None, page: int | None = 1, per_page: int | None = None) -> Page[InterestProfile]:
        query = select(InterestProfile).order_by(InterestProfile.name, InterestProfile.id)
        if contact_id is not None:
            query = query.where(InterestProfile.contact_id == contact_id)
        if group_id is not None:
            query = query.where(InterestProfile.group_id == group_id)
        if active is not None:
            query = query.where(InterestProfile.is_active.is_(active))
        for term in fold(q).split():
            query = query.where(InterestProfile.search_key.contains(term, autoescape=True))
        return await paginate(self.session, query, page, per_page)

    async def _check(self, values: dict, profile: InterestProfile | None = None) -> dict:
        """Validate merged values, normalizing lists in place; returns the owner objects to set."""
        errors: dict[str, str] = {}
        related: dict = {}
        contact_id = values.get("contact_id", profile.contact_id if profile else None)
        group_id = values.get("group_id", profile.group_id if profile else None)
        if (contact_id is None) == (group_id is None):
            errors["contact_id"] = _("A profile belongs to one contact or one group: choose exactly one.")
        if "contact_id" in values:
            related["contact"] = await self.session.get(Contact, contact_id) if storable(contact_id) else None
            if contact_id is not None and related["contact"] is None:
                errors["contact_id"] = _("Unknown contact.")
        if "group_id" in values:
            related["group"] = await self.session.get(Group, group_id) if storable(group_id) else None
            if group_id is not None and related["group"] is None:
                errors["group_id"] = _("Unknown group.")
        if "name" in values and not values["name"]:
            errors["name"] = _("This field is required.")
        clean_lists(values, errors)
        merged = {name: values[name] if name in values else getattr(profile, name, None)
                  for name in ("name", "topics", *LIST_FIELDS, "query", "exact")}
        fault = written_query_fault(merged["query"], bool(merged["exact"])) if errors else query_fault(merged)
        if fault is not None:
            errors.setdefault(fault.field, fault_text(fault))
        if errors:
            raise FieldErrors(errors)
        return related

    def _apply(self, profile: InterestProfile, values: dict, related: dict) -> None:
        for key, value in values.items():
            if key not in ("contact_id", "group_id"):
                setattr(profile, key, value)
        for key, value in related.items():
            setattr(profile, key, value)
        words = [*(profile.keywords or []), *([profile.query] if profile.query else [])]
        profile.search_key = profile_key(profile.name, profile.topics, words)

    async def create_profile(self, data: schemas.ProfileCreate) -> InterestProfile:
        values = cleaned(data)
        for name in LIST_FIELDS:
            values.setdefault(name, [])
        related = await self._check(values)
        profile = InterestProfile()
        self._apply(profile, values, related)
        self.session.add(profile)
        await self.session.flush()
        return profile

    async def update_profile(self, profile: InterestProfile, data: schemas.ProfileUpdate) -> InterestProfile:
        values = cleaned(data)
        related = await self._check(values, profile)
        self._apply(profile, values, related)
        await self.session.flush()
        return profile

    async def delete_profile(self, profile: InterestProfile) -> None:
        await self.session.delete(profile)
        await self.session.flush()


def owner_of(profile: InterestProfile) -> schemas.OwnerRef | None:
    if profile.contact is not None:
        return schemas.OwnerRef(kind="contact", id=profile.contact.id, name=profile.contact.full_name)
    if profile.group is not None:
        return schemas.OwnerRef(kind="group", id=profile.group.id, name=profile.group.name)
    return None


def to_schema(profile: InterestProfile) -> schemas.Profile:
    return schemas.Profile(
        id=profile.id, contact_id=profile.contact_id, group_id=profile.group_id, owner=owner_of(profile),
        name=profile.name, topics=profile.topics, keywords=list(profile.keywords or []),
        subject_headings=list(profile.subject_headings or []), class_ranges=list(profile.class_ranges or []),
        languages=list(profile.languages or []), query=profile.query, exact=bool(profile.exact),
        compiled_query=profile_query(profile), is_active=profile.is_active,
    )

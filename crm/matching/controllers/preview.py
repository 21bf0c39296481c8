"""Preview of a profile's matches over the recent items: pages under /profiles, JSON under /api/profiles.

A saved profile is previewed by id; a profile being edited by its form fields (the form's
"Preview" button submits them with GET to a new tab). A query that does not parse answers 400
with the field's message and the position of the fault.
"""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import _
from crm.interests import schemas as interest_schemas
from crm.interests import services as interest_services
from crm.interests.models import InterestProfile
from crm.interests.query import QueryError
from crm.liaison.params import IdParam, parse_int
from crm.matching.highlight import highlight, snippet
from crm.matching.preview import MAX_PREVIEW_DAYS, PREVIEW_LIMIT, Preview, PreviewMatch, check_window, preview_profile
from crm.security.guards import librarian_required

#: ``query`` is a name Litestar keeps for the whole query string: the parameter takes another name in Python.
QueryText = Annotated[str | None, QueryParameter(name="query", description="A query in the profile query language.")]
#: Matches listed on the preview page.
PAGE_LIMIT = 100
DAY_CHOICES = (7, 30, 90, 180, 365)
DRAFT_FIELDS = ("name", "topics", "keywords", "subject_headings", "class_ranges", "languages", "query", "exact",
                "profile_id", "contact_id", "group_id")


class PreviewHit(msgspec.Struct):
    clause: str
    kind: str
    fields: list[str]
    weight: float


class PreviewItem(msgspec.Struct):
    id: int
    title: str
    subtitle: str | None
    authors: list[str]
    year: int | None
    first_seen_at: datetime
    score: float
    hits: list[PreviewHit]
    #: The title and an abstract snippet as HTML: escaped, the matched words in <mark>.
    title_html: str
    abstract_html: str | None
    url: str


class PreviewResult(msgspec.Struct):
    query: str
    exact: bool
    days: int
    since: datetime
    scanned: int
    matched: int
    items: list[PreviewItem]


def _view(found: PreviewMatch, exact: bool) -> dict[str, Any]:
    """One previewed item with its texts highlighted where its hits were found."""
    item, hits = found.item, found.match.hits
    authors = [str(author) for author in item.authors or () if author]
    headings = [str(s.get("heading") if isinstance(s, dict) else s) for s in item.subjects or ()]
    return {
        "item": item, "score": found.match.score, "hits": hits, "sources": found.sources,
        "title_html": highlight(item.title, hits, exact=exact, fields=("title",)),
        "subtitle_html": highlight(item.subtitle, hits, exact=exact, fields=("subtitle",)),
        "authors_html": [highlight(author, hits, exact=exact, fields=("authors",)) for author in authors],
        "subjects_html": [highlight(heading, hits, exact=exact, fields=("subjects",)) for heading in headings if heading],
        "abstract_html": snippet(item.abstract, hits, exact=exact, fields=("abstract",)) if item.abstract else None,
        "class_hit": any(hit.kind == "class" for hit in hits),
    }


def _result(preview: Preview) -> PreviewResult:
    items = []
    for found in preview.items:
        view, item = _view(found, preview.exact), found.item
        items.append(PreviewItem(
            id=item.id, title=item.title, subtitle=item.subtitle, authors=[str(a) for a in item.authors or () if a],
            year=item.year, first_seen_at=item.first_seen_at, score=found.match.score,
            hits=[PreviewHit(hit.clause, hit.kind, list(hit.fields), hit.weight) for hit in found.match.hits],
            title_html=str(view["title_html"]), abstract_html=str(view["abstract_html"]) if view["abstract_html"] else None,
            url=f"/items/{item.id}",
        ))
    return PreviewResult(query=preview.query, exact=preview.exact, days=preview.days, since=preview.since,
                         scanned=preview.scanned, matched=preview.matched, items=items)


def _fault(field: str, message: str, position: int | None = None) -> interest_schemas.QueryFault:
    return interest_schemas.QueryFault(field, message, position)


def _fault_response(fault: interest_schemas.QueryFault) -> Response:
    """400 like any field error, plus the 0-based ``position`` of the fault in the query."""
    content: dict[str, Any] = {"status_code": 400, "detail": _("Some fields need attention."),
                               "errors": {fault.field: interest_services.fault_text(fault)}}
    if fault.position is not None:
        content["position"] = fault.position
    return Response(content=content, status_code=400, media_type=MediaType.JSON)


def _default_days(request: Request) -> int:
    return max(1, min(request.app.state.settings.match_backfill_days, MAX_PREVIEW_DAYS))


async def _profile(db: AsyncSession, profile_id: int) -> InterestProfile:
    profile = await interest_services.ProfileService(db).get(profile_id)
    if profile is None:
        raise NotFoundException()
    return profile


def _draft(params: Any) -> tuple[dict, interest_schemas.QueryCheck]:
    values = interest_services.draft_values(*(params.get(name) for name in (
        "query", "exact", "topics", "keywords", "subject_headings", "class_ranges", "languages")))
    return values, interest_services.check_query(values)


async def _run(db: AsyncSession, compiled: str, exact: bool, days: int, limit: int) -> Preview | interest_schemas.QueryFault:
    try:
        return await preview_profile(db, compiled, exact, days, limit)
    except QueryError as exc:  # a stored profile that no longer compiles
        return _fault("query", exc.message)


class PreviewApiController(Controller):
    path = "/api/profiles"
    tags = ["interest profiles"]
    guards = [librarian_required]

    @get("/{profile_id:int}/preview")
    async def preview_saved(self, request: Request, db_session: AsyncSession, profile_id: IdParam,
                            days: int | None = None, limit: int = PREVIEW_LIMIT) -> PreviewResult:
        """What a saved profile would have matched among the items first seen in the last ``days`` days
        (1–365; default: the back-fill window of new profiles), best first."""
        profile = await _profile(db_session, profile_id)
        days = _default_days(request) if days is None else days
        check_window(days, limit)
        compiled = interest_services.profile_query(profile)
        if not compiled:
            return _fault_response(_fault("query", _("This profile has nothing to look for yet.")))
        found = await _run(db_session, compiled, bool(profile.exact), days, limit)
        return _fault_response(found) if isinstance(found, interest_schemas.QueryFault) else _result(found)

    @get("/preview")
    async def preview_draft(self, request: Request, db_session: AsyncSession, days: int | None = None,
                            limit: int = PREVIEW_LIMIT, query_text: QueryText = None, exact: bool = False,
                            topics: str | None = None, keywords: str | None = None,
                            subject_headings: str | None = None, class_ranges: str | None = None,
                            languages: str | None = None) -> PreviewResult:
        """The same for a profile being edited, given by its fields as the form has them (list fields one
        value a line or separated by semicolons). A bad query answers 400 with ``errors.query`` and the
        0-based ``position`` of the fault."""
        days = _default_days(request) if days is None else days
        check_window(days, limit)
        values, check = _draft({"query": query_text, "exact": exact, "topics": topics, "keywords": keywords,
                                "subject_headings": subject_headings, "class_ranges": class_ranges,
                                "languages": languages})
        if check.error is not None:
            return _fault_response(check.error)
        if not check.compiled:
            return _fault_response(_fault("query", _("This profile has nothing to look for yet.")))
        found = await _run(db_session, check.compiled, values["exact"], days, limit)
        return _fault_response(found) if isinstance(found, interest_schemas.QueryFault) else _result(found)


def _page_days(request: Request, text: str | None) -> tuple[int, dict[str, str]]:
    """The window asked for on a page: blank → the default; anything else must be 1–365."""
    default = _default_days(request)
    text = (text or "").strip()
    if not text:
        return default, {}
    days = parse_int(text)
    if days is None or not 1 <= days <= MAX_PREVIEW_DAYS:
        return default, {"days": _("Choose between 1 and %(n)s days.", n=MAX_PREVIEW_DAYS)}
    return days, {}


class PreviewPageController(Controller):
    path = "/profiles"
    guards = [librarian_required]
    include_in_schema = False

    async def _page(self, db: AsyncSession, context: dict, compiled: str, exact: bool, days: int,
                    errors: dict[str, str], fault: interest_schemas.QueryFault | None) -> Template:
        preview = None
        if fault is None and not errors and compiled:
            found = await _run(db, compiled, exact, days, PAGE_LIMIT)
            if isinstance(found, interest_schemas.QueryFault):
                fault = found
            else:
                preview = found
        if fault is not None:
            errors = {**errors, fault.field: interest_services.fault_text(fault)}
        views = [_view(found, exact) for found in preview.items] if preview else []
        return Template("matching/preview.html", status_code=400 if errors else 200, context={
            **context, "compiled": compiled, "exact": exact, "days": days, "day_choices": DAY_CHOICES,
            "max_days": MAX_PREVIEW_DAYS, "errors": errors, "preview": preview, "views": views,
            "fault_field": fault.field if fault else None,
        })

    @get("/{profile_id:int}/preview")
    async def saved(self, request: Request, db_session: AsyncSession, profile_id: IdParam,
                    days: str | None = None) -> Template:
        profile = await _profile(db_session, profile_id)
        window, errors = _page_days(request, days)
        context = {"profile": profile, "draft": None, "days_text": days or "", "hidden": []}
        return await self._page(db_session, context, interest_services.profile_query(profile), bool(profile.exact),
                                window, errors, None)

    @get("/preview")
    async def draft(self, request: Request, db_session: AsyncSession) -> Template | Redirect:
        params = request.query_params
        if "_csrf_token" in params:
            # The profile form's GET button sends its CSRF field too: keep it out of the address bar and history.
            kept = [(k, v) for k, v in params.multi_items() if k != "_csrf_token"]
            return Redirect(path=f"/profiles/preview?{urlencode(kept)}", status_code=303)
        window, errors = _page_days(request, params.get("days"))
        values, check = _draft(params)
        if check.error is not None and check.error.field not in ("query", "_"):
            errors[check.error.field] = check.error.message
        profile_id = parse_int(params.get("profile_id"))
        hidden = [(name, params.get(name)) for name in DRAFT_FIELDS if params.get(name)]
        context = {
            "profile": None, "days_text": params.get("days") or "", "hidden": hidden,
            "draft": {"name": params.get("name") or "", "profile_id": profile_id, "query": values["query"],
                      "fault": interest_services.fault_marks(params.get("query"), check.error)},
        }
        fault = check.error if check.error is not None and check.error.field in ("query", "_") else None
        return await self._page(db_session, context, check.compiled, values["exact"], window, errors, fault)


ROUTES = [PreviewApiController, PreviewPageController]

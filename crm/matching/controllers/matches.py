"""Stored matches of a contact, a group or a profile: JSON API under /api, librarian pages, and the
fragment the contact and group pages load (``?fragment=1``), with dismiss and restore."""

from dataclasses import dataclass

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.liaison.params import IdParam, PageParam, PerPageParam, parse_page, query_string, safe_next
from crm.matching import review, schemas
from crm.matching.highlight import highlight
from crm.pagination import Page, clamp
from crm.security.guards import librarian_required
from crm.sources import labels

#: Matches per page on the full pages, and on the contact and group pages (the fragment).
PAGE_SIZE = 25
FRAGMENT_SIZE = 8


@dataclass(frozen=True)
class Owner:
    kind: str  # "contact" or "group"
    id: int
    name: str

    @property
    def path(self) -> str:
        return f"/{self.kind}s/{self.id}"


async def _owner(db: AsyncSession, kind: str, owner_id: int) -> Owner:
    if kind == "contact":
        contact = await review.get_contact(db, owner_id)
        if contact is not None:
            return Owner(kind, contact.id, contact.full_name)
    else:
        group = await review.get_group(db, owner_id)
        if group is not None:
            return Owner(kind, group.id, group.name)
    raise NotFoundException()


async def _list(db: AsyncSession, owner: Owner, include_dismissed: bool, limit: int, offset: int) -> review.StoredMatches:
    find = review.matches_for_contact if owner.kind == "contact" else review.matches_for_group
    return await find(db, owner.id, include_dismissed=include_dismissed, limit=limit, offset=offset)


def _page(found: review.StoredMatches, page: int, per_page: int) -> schemas.MatchPage:
    return schemas.MatchPage(items=[review.to_schema(row) for row in found.rows], total=found.total, page=page,
                             per_page=per_page)


class MatchApiController(Controller):
    path = "/api"
    tags = ["matches"]
    guards = [librarian_required]

    async def _owner_page(self, db: AsyncSession, kind: str, owner_id: int, dismissed: bool, page: int,
                          per_page: int) -> schemas.MatchPage:
        owner = await _owner(db, kind, owner_id)
        page, per_page = clamp(page, per_page)
        return _page(await _list(db, owner, dismissed, per_page, (page - 1) * per_page), page, per_page)

    @get("/contacts/{contact_id:int}/matches")
    async def contact_matches(self, db_session: AsyncSession, contact_id: IdParam, dismissed: bool = False,
                              page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.MatchPage:
        """The matches of the contact's interest profiles, newest first; ``dismissed=true`` includes dismissed ones."""
        return await self._owner_page(db_session, "contact", contact_id, dismissed, page, per_page)

    @get("/groups/{group_id:int}/matches")
    async def group_matches(self, db_session: AsyncSession, group_id: IdParam, dismissed: bool = False,
                            page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.MatchPage:
        """The matches of the group's interest profiles, newest first; ``dismissed=true`` includes dismissed ones."""
        return await self._owner_page(db_session, "group", group_id, dismissed, page, per_page)

    @get("/profiles/{profile_id:int}/matches")
    async def profile_matches(self, db_session: AsyncSession, profile_id: IdParam, dismissed: bool = False,
                              page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.MatchPage:
        """One profile's matches, newest first; ``dismissed=true`` includes dismissed ones."""
        if await review.get_profile(db_session, profile_id) is None:
            raise NotFoundException()
        page, per_page = clamp(page, per_page)
        found = await review.matches_for_profile(db_session, profile_id, include_dismissed=dismissed,
                                                 limit=per_page, offset=(page - 1) * per_page)
        return _page(found, page, per_page)

    @post("/matches/{match_id:int}/dismiss", status_code=200)
    async def dismiss(self, request: Request, db_session: AsyncSession, match_id: IdParam) -> schemas.StoredMatch:
        """A bad match: kept (so it is never matched again) but left out of digests and lists."""
        return await self._set(request, db_session, match_id, review.dismiss_match)

    @post("/matches/{match_id:int}/restore", status_code=200)
    async def restore(self, request: Request, db_session: AsyncSession, match_id: IdParam) -> schemas.StoredMatch:
        """Undo a dismissal."""
        return await self._set(request, db_session, match_id, review.restore_match)

    async def _set(self, request: Request, db: AsyncSession, match_id: int, action) -> schemas.StoredMatch:
        if await action(db, match_id, request.user) is None:
            raise NotFoundException()
        return review.to_schema(await review.get_match(db, match_id))


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class MatchPageController(Controller):
    path = "/"
    guards = [librarian_required]
    include_in_schema = False

    async def _show(self, request: Request, db: AsyncSession, kind: str, owner_id: int, fragment: str | None,
                    dismissed: str | None, page: str | None) -> Template:
        owner = await _owner(db, kind, owner_id)
        here = f"{owner.path}/matches"
        if _flag(fragment):
            found = await _list(db, owner, False, FRAGMENT_SIZE, 0)
            return Template("matching/_matches.html", context={
                "rows": found.rows, "total": found.total, "owner": owner, "fragment": True,
                "back": f"{here}?fragment=1", "highlight": highlight, "L": labels,
            })
        include = _flag(dismissed)
        number = parse_page(page)
        found = await _list(db, owner, include, PAGE_SIZE, (number - 1) * PAGE_SIZE)
        hidden = 0 if include else (await _list(db, owner, True, 1, 0)).total - found.total
        values = {"dismissed": "1" if include else ""}
        back = here + (f"?{query_string({**values, 'page': number})}")
        return Template("matching/matches.html", context={
            "rows": found.rows, "total": found.total, "owner": owner, "fragment": False, "back": back,
            "page": Page(items=found.rows, total=found.total, number=number, per_page=PAGE_SIZE),
            "path": here, "query": query_string(values), "include_dismissed": include, "hidden": hidden,
            "highlight": highlight, "L": labels,
        })

    @get("/contacts/{contact_id:int}/matches")
    async def contact_matches(self, request: Request, db_session: AsyncSession, contact_id: int,
                              fragment: str | None = None, dismissed: str | None = None,
                              page: str | None = None) -> Template:
        return await self._show(request, db_session, "contact", contact_id, fragment, dismissed, page)

    @get("/groups/{group_id:int}/matches")
    async def group_matches(self, request: Request, db_session: AsyncSession, group_id: int,
                            fragment: str | None = None, dismissed: str | None = None,
                            page: str | None = None) -> Template:
        return await self._show(request, db_session, "group", group_id, fragment, dismissed, page)

    @post("/matches/{match_id:int}/dismiss")
    async def dismiss(self, request: Request, db_session: AsyncSession, match_id: int) -> Redirect:
        return await self._set(request, db_session, match_id, review.dismiss_match)

    @post("/matches/{match_id:int}/restore")
    async def restore(self, request: Request, db_session: AsyncSession, match_id: int) -> Redirect:
        return await self._set(request, db_session, match_id, review.restore_match)

    async def _set(self, request: Request, db: AsyncSession, match_id: int, action) -> Redirect:
        match = await action(db, match_id, request.user)
        if match is None:
            raise NotFoundException()
        form = await request.form()
        profile = await review.get_profile(db, match.profile_id)
        default = (f"/contacts/{profile.contact_id}/matches" if profile.contact_id
                   else f"/groups/{profile.group_id}/matches")
        return Redirect(path=safe_next(form.get("next"), default), status_code=303)


ROUTES = [MatchApiController, MatchPageController]

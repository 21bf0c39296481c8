"""My portfolio: /portfolio and /api/portfolio; units without a liaison: /api/units/unassigned (admins)."""

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.i18n import current_language
from crm.liaison import labels
from crm.liaison.params import OptionalId, PageParam, PerPageParam, parse_int, parse_page
from crm.liaison.schemas import assignments as schemas
from crm.liaison.services.interactions import group_label
from crm.liaison.services.portfolio import Portfolio, PortfolioService
from crm.security.guards import admin_required, librarian_required
from crm.security.models import User
from crm.security.services import UserService


async def whose(request: Request, db: AsyncSession, librarian_id: int | None) -> User:
    """The librarian whose portfolio is shown: oneself, or anyone for an administrator."""
    if librarian_id is None or librarian_id == request.user.id:
        return request.user
    if request.user.role != "admin":
        raise PermissionDeniedException()
    librarian = await UserService(db).get(librarian_id)
    if librarian is None:
        raise NotFoundException()
    return librarian


def portfolio_schema(librarian: User, portfolio: Portfolio) -> schemas.Portfolio:
    lang = current_language()
    targets = [
        schemas.PortfolioTarget(kind="unit", id=row.unit.id, name=row.unit.name(lang), role=row.role,  # type: ignore[arg-type]
                                via_unit_id=row.via.id if row.via else None, contacts=row.contacts, groups=row.groups)
        for row in portfolio.units
    ] + [
        schemas.PortfolioTarget(kind="group", id=row.group.id, name=group_label(row.group), role=row.role,  # type: ignore[arg-type]
                                via_unit_id=None if row.role else row.group.unit_id, contacts=row.members, groups=0)
        for row in portfolio.groups
    ]
    people = [
        schemas.PortfolioPerson(id=c.id, full_name=c.full_name, email=c.email, kind=c.kind, unit_id=c.unit_id,
                                unit_name=c.unit.name(lang) if c.unit else None)
        for c in portfolio.people.items
    ]
    return schemas.Portfolio(librarian_id=librarian.id, librarian_name=librarian.full_name, targets=targets,
                             people=people, people_total=portfolio.people.total, page=portfolio.people.number,
                             per_page=portfolio.people.per_page)


class PortfolioApiController(Controller):
    path = "/api"
    tags = ["assignments"]
    guards = [librarian_required]

    @get("/portfolio")
    async def portfolio(self, request: Request, db_session: AsyncSession, librarian_id: OptionalId = None,
                        page: PageParam = 1, per_page: PerPageParam = 50) -> schemas.Portfolio:
        librarian = await whose(request, db_session, librarian_id)
        return portfolio_schema(librarian, await PortfolioService(db_session).portfolio(librarian.id, page, per_page))

    @get("/units/unassigned", guards=[admin_required])
    async def unassigned_units(self, db_session: AsyncSession) -> list[schemas.UnassignedUnit]:
        lang = current_language()
        return [
            schemas.UnassignedUnit(id=row.unit.id, code=row.unit.code, name=row.unit.name(lang),
                                   covered_by_unit_id=row.covered_by.id if row.covered_by else None,
                                   covered_by_unit_name=row.covered_by.name(lang) if row.covered_by else None)
            for row in await PortfolioService(db_session).unassigned_units()
        ]


class PortfolioPageController(Controller):
    path = "/portfolio"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def portfolio(self, request: Request, db_session: AsyncSession, librarian_id: str | None = None,
                        page: str | None = None) -> Template:
        librarian = await whose(request, db_session, parse_int(librarian_id))
        service = PortfolioService(db_session)
        context = {
            "librarian": librarian, "portfolio": await service.portfolio(librarian.id, parse_page(page)),
            "L": labels, "is_admin": request.user.role == "admin",
            "query": f"librarian_id={librarian.id}",
        }
        if request.user.role == "admin":
            context["unassigned"] = await service.unassigned_units()
            context["librarians"] = [(u.id, u.full_name) for u in await UserService(db_session).list_librarians()]
        return Template("liaison/portfolio.html", context=context)


ROUTES = [PortfolioApiController, PortfolioPageController]

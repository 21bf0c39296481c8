"""The librarian's home page: follow-ups due and recent activity in their portfolio."""

from datetime import date

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.liaison.services.interactions import InteractionService
from crm.liaison.services.portfolio import PortfolioService
from crm.security.guards import librarian_required

#: How many interactions "Recent activity" shows.
RECENT_ACTIVITY = 15


class HomeController(Controller):
    path = "/"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def home(self, request: Request, db_session: AsyncSession) -> Template:
        today = date.today()
        follow_ups = await InteractionService(db_session).follow_ups(request.user.id, today)
        portfolio = PortfolioService(db_session)
        scope = await portfolio.scope(request.user.id, today)
        return Template("home.html", context={
            "overdue": [i for i in follow_ups if i.follow_up_on < today],
            "due_today": [i for i in follow_ups if i.follow_up_on == today],
            "upcoming": [i for i in follow_ups if i.follow_up_on > today],
            "recent": await portfolio.recent_activity(scope, RECENT_ACTIVITY),
            "has_portfolio": not scope.is_empty,
        })


ROUTES = [HomeController]

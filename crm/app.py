"""create_app(settings) → Litestar: plugins, one list of routers, templates, static files."""

import hashlib
import logging
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin

import crm
import crm.models  # noqa: F401  (complete metadata)
from crm import db
from crm.errors import exception_handlers
from crm.settings import Settings, load_settings
from crm.templating import environment

from crm.security import controllers as security
from crm.liaison import controllers as liaison
from crm.interests import controllers as interests
from crm.mail import controllers as mail
from crm.sources import controllers as sources
from crm.matching import controllers as matching
from crm.digests import controllers as digests
from crm.questions import controllers as questions
from crm.acquisitions import controllers as acquisitions

log = logging.getLogger("crm")
STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_MAX_AGE = 14 * 24 * 3600

ROUTERS = [
    *security.ROUTES, *liaison.ROUTES, *interests.ROUTES, *mail.ROUTES, *sources.ROUTES, *matching.ROUTES,
    *digests.ROUTES, *questions.ROUTES, *acquisitions.ROUTES,
]


class UnmigratedDatabase(RuntimeError):
    pass


def create_app(settings: Settings | None = None, *, background: bool = True) -> Litestar:
    """The web application. ``background`` starts the scheduler and the mail sink when settings ask."""
    settings = settings or load_settings()
    engine = db.create_engine(settings)
    alchemy = db.alchemy_config(engine)
    key = hashlib.sha256(settings.secret_key.encode()).digest()

    session = CookieBackendConfig(
        secret=key,
        key="crm_session",
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        exclude=["^/static"],
    )
    csrf = CSRFConfig(
        secret=settings.secret_key,
        cookie_name="crm_csrf",
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
        # One-click unsubscribe (RFC 8058) is POSTed by mail clients without a form: its signed token protects it.
        exclude=["^/api", "^/schema", "^/static", "^/unsubscribe/"],
    )
    auth = DefineMiddleware(security.AuthMiddleware, exclude=["^/static"])

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if await db.pending_migrations(engine, settings):
            raise UnmigratedDatabase(
                "The database is not migrated to the current version. Run `crm migrate` and start again."
            )
        services = []
        if background:
            from crm.runtime import start_background

            services = await start_background(app, settings)
        try:
            yield
        finally:
            for stop in reversed(services):
                await stop()
            await engine.dispose()

    app = Litestar(
        route_handlers=[*ROUTERS, create_static_files_router(path="/static", directories=[STATIC_DIR])],
        plugins=[SQLAlchemyPlugin(config=alchemy)],
        middleware=[db.WriteIntentMiddleware, session.middleware, auth],
        csrf_config=csrf,
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment())),
        openapi_config=OpenAPIConfig(
            title="liaison-crm",
            version=crm.__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        exception_handlers=exception_handlers(),
        lifespan=[lifespan],
        debug=settings.debug,
        request_max_body_size=settings.max_upload_bytes,
    )
    app.state.settings = settings
    app.state.alchemy = alchemy
    app.state.engine = engine
    app.state.session_maker = db.session_maker(engine)
    return app

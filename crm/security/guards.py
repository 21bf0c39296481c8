"""Route guards: every librarian page and API route uses one of these."""

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from crm.security.models import ROLES


def librarian_required(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Logged in as a librarian or an administrator."""
    user = connection.scope.get("user")
    if user is None:
        raise NotAuthorizedException()
    if user.role not in ROLES:
        raise PermissionDeniedException()


def admin_required(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    librarian_required(connection, handler)
    if connection.scope["user"].role != "admin":
        raise PermissionDeniedException()

"""Who is asking: a personal API token (``Authorization: Bearer``) or a login session.

Anonymous requests pass through with ``request.user = None``; the guards decide. Cookie
sessions are for pages: a write to ``/api`` must carry a token, which keeps the JSON API out
of reach of cross-site requests without a CSRF token of its own.
"""

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from crm import i18n
from crm.security.services import UserService

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def session_fingerprint(password_hash: str) -> str:
    """Changes when the password does, so changing it logs out every other session."""
    return password_hash[-12:]


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        app_state = connection.app.state
        settings = app_state.settings
        db = app_state.alchemy.provide_session(app_state, connection.scope)
        users = UserService(db)
        user = None
        via = None
        header = connection.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = await users.user_for_token(header[7:].strip())
            if user is None:
                raise NotAuthorizedException("invalid or revoked API token")
            via = "token"
        elif "session" in connection.scope:
            data = connection.scope.get("session") or {}
            uid = data.get("uid") if isinstance(data, dict) else None
            if uid is not None:
                candidate = await users.get(int(uid))
                if (
                    candidate is not None
                    and candidate.is_active
                    and data.get("fp") == session_fingerprint(candidate.password_hash)
                ):
                    user = candidate
                    via = "session"
            if (
                user is not None
                and connection.scope["path"].startswith("/api")
                and connection.scope.get("method", "GET") not in SAFE_METHODS
            ):
                user, via = None, None
        language = (
            user.language
            if user is not None
            else connection.cookies.get("lang")
            or i18n.negotiate(connection.headers.get("accept-language"))
            or settings.default_language
        )
        i18n.set_language(language)
        return AuthenticationResult(user=user, auth=via)

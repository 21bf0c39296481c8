"""Signed, expiring tokens for links sent by email (preference page, unsubscribe, reply, tracking).

A token is scoped to one purpose and one object: the purpose is the itsdangerous salt, so a
token made for one page is refused by every other, and the payload names the object. Tokens
carry no secret data (the payload is readable, only signed); they work without a login and
reveal nothing but the object they name.
"""

from datetime import timedelta
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm.settings import Settings

#: Default lifetimes by purpose; a purpose not listed here must pass ``max_age`` explicitly.
LIFETIMES = {
    "digest-preferences": timedelta(days=180),
    "digest-unsubscribe": timedelta(days=365),
    "digest-export": timedelta(days=180),
    "question-reply": timedelta(days=30),
    "question-track": timedelta(days=365),
    "suggestion": timedelta(days=90),
}


class TokenError(Exception):
    """A token that is malformed, tampered with, made for another purpose, or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "invalid" or "expired"


@lru_cache(maxsize=64)
def _serializer_for(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    # Building one derives its signing key: a digest run signs three links per email, so keep them.
    return URLSafeTimedSerializer(secret_key, salt=f"crm-link:{purpose}")


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return _serializer_for(settings.secret_key, purpose)


def make_token(settings: Settings, purpose: str, payload: Any) -> str:
    """A URL-safe token for ``payload`` (ids, small JSON values) usable only for ``purpose``."""
    return _serializer(settings, purpose).dumps(payload)


def read_token(settings: Settings, purpose: str, token: str, max_age: timedelta | None = None) -> Any:
    """The payload of a valid token; raises :class:`TokenError` when invalid or expired."""
    lifetime = max_age or LIFETIMES.get(purpose)
    if lifetime is None:
        raise ValueError(f"no lifetime for token purpose {purpose!r}")
    try:
        return _serializer(settings, purpose).loads(token, max_age=int(lifetime.total_seconds()))
    except SignatureExpired:
        raise TokenError("expired") from None
    except (BadSignature, ValueError, TypeError, UnicodeError):
        raise TokenError("invalid") from None

"""Signed links a digest carries: the lecturer's preference page and one-click unsubscribe.

Each token names one subscription and one recipient (a group's digest reaches several members,
and each manages only their own place in it), so a forwarded email cannot touch anyone else.
"""

from typing import NamedTuple

from crm.security.tokens import TokenError, make_token, read_token
from crm.settings import Settings

PREFERENCES = "digest-preferences"
UNSUBSCRIBE = "digest-unsubscribe"
PURPOSES = (PREFERENCES, UNSUBSCRIBE)


class DigestLink(NamedTuple):
    subscription_id: int
    contact_id: int


def _token(settings: Settings, purpose: str, subscription_id: int, contact_id: int) -> str:
    return make_token(settings, purpose, {"s": int(subscription_id), "c": int(contact_id)})


def preferences_token(settings: Settings, subscription_id: int, contact_id: int) -> str:
    return _token(settings, PREFERENCES, subscription_id, contact_id)


def unsubscribe_token(settings: Settings, subscription_id: int, contact_id: int) -> str:
    return _token(settings, UNSUBSCRIBE, subscription_id, contact_id)


def preferences_url(settings: Settings, subscription_id: int, contact_id: int) -> str:
    """Absolute link to the recipient's preference page (no login)."""
    return f"{settings.base_url}/preferences/{preferences_token(settings, subscription_id, contact_id)}"


def unsubscribe_url(settings: Settings, subscription_id: int, contact_id: int) -> str:
    """Absolute one-click unsubscribe link (RFC 8058 POST target, and a page on GET)."""
    return f"{settings.base_url}/unsubscribe/{unsubscribe_token(settings, subscription_id, contact_id)}"


def read_link(settings: Settings, purpose: str, token: str) -> DigestLink:
    """The (subscription, contact) a token names; raises TokenError ("invalid"/"expired")."""
    if purpose not in PURPOSES:
        raise ValueError(f"not a digest link purpose: {purpose!r}")
    payload = read_token(settings, purpose, token)
    try:
        subscription_id, contact_id = int(payload["s"]), int(payload["c"])
    except (TypeError, KeyError, ValueError):
        raise TokenError("invalid") from None
    if subscription_id <= 0 or contact_id <= 0:
        raise TokenError("invalid")
    return DigestLink(subscription_id, contact_id)

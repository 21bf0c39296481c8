"""VERP return paths: each message's envelope sender names its outbox row, signed.

A message queued as outbox row 123 is sent with the envelope sender
``bounces+o123-1a2b3c4d@lib.edu.vn`` (the configured return path with a tag after ``+``). Bounces
come back to that address, so the row they are about is known without parsing anything else.
The tag carries a short HMAC of the id made with the secret key: a forged bounce naming another
row (to get someone's address suppressed) is refused.
"""

import hashlib
import hmac
import re

from crm.settings import Settings

#: Hex digits of HMAC-SHA256 kept in the tag: 32 bits, enough against guessing by mail.
TAG_DIGITS = 8
_TAG = re.compile(r"^o(\d{1,18})-([0-9a-f]{%d})$" % TAG_DIGITS)


def _signature(settings: Settings, outbox_id: int) -> str:
    mac = hmac.new(settings.secret_key.encode("utf-8"), f"verp:{outbox_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:TAG_DIGITS]


def _return_path(settings: Settings) -> tuple[str, str]:
    local, _, domain = settings.mail.return_path.strip().rpartition("@")
    return local, domain


def verp_address(settings: Settings, outbox_id: int) -> str:
    """The envelope sender for outbox row ``outbox_id``."""
    local, domain = _return_path(settings)
    return f"{local}+o{outbox_id}-{_signature(settings, outbox_id)}@{domain}"


def is_return_path(settings: Settings, address: str) -> bool:
    """Whether ``address`` is the return path itself or one of its VERP variants."""
    local, domain = _return_path(settings)
    their_local, _, their_domain = address.strip().strip("<>").rpartition("@")
    if their_domain.lower() != domain.lower():
        return False
    base = their_local.split("+", 1)[0]
    return base.lower() == local.lower()


def outbox_id_from_verp(settings: Settings, address: str) -> int | None:
    """The outbox id named by a VERP address, or None if it is not one or its signature is wrong."""
    if not is_return_path(settings, address):
        return None
    their_local = address.strip().strip("<>").rpartition("@")[0]
    _base, plus, tag = their_local.partition("+")
    match = _TAG.match(tag.lower()) if plus else None
    if match is None:
        return None
    outbox_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _signature(settings, outbox_id)):
        return None
    return outbox_id

"""The emails of the acquisitions loop, queued in the caller's transaction (the outbox job sends them).

Templates live in templates/email/acquisitions_*/; this module only builds their context. Keys:

- ``acq-suggestion:<id>:<status>``: the suggester hears of each status once (creation is "new");
- ``acq-invite:<contact>:<course or 0>:<date>``: one invitation a day per lecturer and course;
- ``acq-arrival:<contact>:<hash of the arrivals>``: a lecturer hears once of the titles that arrived.
"""

from email.utils import parseaddr
from urllib.parse import quote

from crm.i18n import _
from crm.mail.outbox import enqueue, format_address
from crm.settings import Settings
from crm.templating import render_email

KIND = "acquisitions"


def library_name(settings: Settings) -> str:
    """The sender's display name ("Thư viện" in ``Thư viện <thu-vien@…>``)."""
    name, _address = parseaddr(settings.mail.sender)
    return name or _("Library")


def opac_link(settings: Settings, item) -> str | None:
    """The item's record in the library's OPAC, when one is configured (CRM_OPAC_RECORD_URL)."""
    template = settings.digests.opac_record_url
    if not template or item is None:
        return None
    isbn = (item.isbns or [None])[0]
    control = (item.control_number or "").split(":")[-1] or None
    if ("{isbn}" in template and not isbn) or ("{control_number}" in template and not control):
        return None
    url = template.replace("{isbn}", quote(isbn or "")).replace("{control_number}", quote(control or ""))
    return url if url.lower().startswith(("http://", "https://")) else None


def item_view(settings: Settings, item) -> dict | None:
    """What an email says of a held item: title, authors, year, call number, OPAC link."""
    if item is None:
        return None
    return {"title": item.title, "authors": "; ".join((item.authors or [])[:3]), "year": item.year,
            "call_number": item.ddc or item.lcc, "url": opac_link(settings, item)}


def signature(user) -> dict | None:
    """The acting librarian signs the email (and receives the replies)."""
    if user is None:
        return None
    return {"name": user.full_name, "title": user.title, "email": user.email, "phone": user.phone}


async def send(session, settings: Settings, *, key: str, template: str, name: str, email: str, language: str | None,
               context: dict, reply_to: str | None = None) -> None:
    """Render ``templates/email/<template>/`` in the recipient's language and queue it under ``key``."""
    full = {"library_name": library_name(settings), "base_url": settings.base_url, **context}
    subject, text, html = render_email(template, full, language or settings.default_language)
    await enqueue(session, key=key, kind=KIND, sender=settings.mail.sender, to=format_address(name, email),
                  subject=subject, text=text, html=html, reply_to=reply_to)

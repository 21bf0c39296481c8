"""The mailbox of the local SMTP sink: pages under /mailbox and JSON under /api/mailbox (librarians)."""

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from crm.mail import schemas
from crm.mail.models import SinkMessage
from crm.mail.services import HTML_PREVIEW_CSP, MailboxService, ParsedMessage, parse_message, recipients
from crm.mail.sink import SINK_RETENTION
from crm.security.guards import librarian_required


async def _get_message(db: AsyncSession, message_id: int) -> SinkMessage:
    row = await MailboxService(db).get(message_id)
    if row is None:
        raise NotFoundException()
    return row


def _summary(row: SinkMessage, size: int) -> schemas.MailboxMessage:
    return schemas.MailboxMessage(
        id=row.id, received_at=row.received_at, mail_from=row.mail_from, recipients=recipients(row),
        subject=row.subject, message_id=row.message_id, size=size,
    )


def _detail(row: SinkMessage, parsed: ParsedMessage) -> schemas.MailboxMessageDetail:
    return schemas.MailboxMessageDetail(
        id=row.id, received_at=row.received_at, mail_from=row.mail_from, recipients=recipients(row),
        subject=row.subject, message_id=row.message_id, size=len(row.raw), headers=parsed.headers,
        text=parsed.text, html=parsed.html,
        attachments=[schemas.MailboxAttachment(a.filename, a.content_type, a.size) for a in parsed.attachments],
    )


def html_preview(html: str) -> str:
    """The HTML part as the sandboxed iframe gets it: scripts and remote content blocked twice over."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{HTML_PREVIEW_CSP}">'
    return meta + html


class MailboxApiController(Controller):
    path = "/api/mailbox"
    tags = ["mailbox"]
    guards = [librarian_required]

    @get("/")
    async def list_messages(
        self, db_session: AsyncSession, q: str | None = None, page: int | None = None, per_page: int | None = None
    ) -> schemas.MailboxPage:
        mailbox = MailboxService(db_session)
        result = await mailbox.list_messages(q, page, per_page)
        sizes = await mailbox.sizes([row.id for row in result.items])
        return schemas.MailboxPage(
            items=[_summary(row, sizes.get(row.id, 0)) for row in result.items],
            total=result.total, page=result.number, per_page=result.per_page, pages=result.pages,
        )

    @get("/{message_id:int}")
    async def get_message(self, db_session: AsyncSession, message_id: int) -> schemas.MailboxMessageDetail:
        row = await _get_message(db_session, message_id)
        return _detail(row, parse_message(row.raw))


class MailboxPageController(Controller):
    path = "/mailbox"
    guards = [librarian_required]
    include_in_schema = False

    @get("/")
    async def index(
        self, request: Request, db_session: AsyncSession, q: str | None = None, page: int | None = None
    ) -> Template:
        mailbox = MailboxService(db_session)
        result = await mailbox.list_messages(q, page)
        mail = request.app.state.settings.mail
        return Template(
            "mail/index.html",
            context={"q": q or "", "page": result, "sizes": await mailbox.sizes([r.id for r in result.items]),
                     "recipients": recipients, "retention_days": SINK_RETENTION.days,
                     "sink_on": mail.embedded_sink, "smtp_server": f"{mail.host}:{mail.port}"},
        )

    @get("/{message_id:int}")
    async def detail(self, db_session: AsyncSession, message_id: int) -> Template:
        row = await _get_message(db_session, message_id)
        parsed = parse_message(row.raw)
        return Template(
            "mail/detail.html",
            context={"message": row, "parsed": parsed, "recipients": recipients(row), "size": len(row.raw),
                     "preview": html_preview(parsed.html) if parsed.html is not None else None},
        )

    @get("/{message_id:int}/raw")
    async def raw(self, db_session: AsyncSession, message_id: int) -> Response[bytes]:
        row = await _get_message(db_session, message_id)
        return Response(
            content=row.raw,
            media_type="message/rfc822",
            headers={
                "Content-Disposition": f'attachment; filename="message-{row.id}.eml"',
                "X-Content-Type-Options": "nosniff",
            },
        )

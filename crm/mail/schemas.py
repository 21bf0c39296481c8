from datetime import datetime

import msgspec


class MailboxMessage(msgspec.Struct):
    id: int
    received_at: datetime
    mail_from: str
    recipients: list[str]
    subject: str
    message_id: str | None
    size: int


class MailboxPage(msgspec.Struct):
    items: list[MailboxMessage]
    total: int
    page: int
    per_page: int
    pages: int


class MailboxAttachment(msgspec.Struct):
    filename: str
    content_type: str
    size: int


class MailboxMessageDetail(msgspec.Struct):
    id: int
    received_at: datetime
    mail_from: str
    recipients: list[str]
    subject: str
    message_id: str | None
    size: int
    #: Every header as received, decoded, in order: ``[name, value]`` pairs.
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[MailboxAttachment]

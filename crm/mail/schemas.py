from datetime import datetime
from typing import Literal

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


OutboxStatus = Literal["queued", "sending", "sent", "failed", "cancelled"]


class OutboxMessage(msgspec.Struct):
    id: int
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    message_id: str
    idempotency_key: str


class OutboxPage(msgspec.Struct):
    items: list[OutboxMessage]
    total: int
    page: int
    per_page: int
    pages: int
    #: Messages per status over the whole outbox (not only this page).
    counts: dict[str, int]


class AddressStatus(msgspec.Struct):
    address: str
    deliverable: bool
    hard_bounces: int
    soft_bounces: int
    last_bounce_at: datetime | None
    last_bounce_reason: str | None
    undeliverable_since: datetime | None


class InboundSummary(msgspec.Struct):
    id: int
    kind: str
    received_at: datetime
    sender: str
    subject: str
    bounce_recipient: str | None
    bounce_status: str | None
    bounce_reason: str | None


class OutboxMessageDetail(msgspec.Struct):
    id: int
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    max_attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    message_id: str
    idempotency_key: str
    size: int
    #: Every header of the message as queued, decoded: ``[name, value]`` pairs.
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[MailboxAttachment]
    #: Bounces and replies received about this message.
    inbound: list[InboundSummary]
    address: AddressStatus | None

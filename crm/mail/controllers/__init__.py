"""Mail pages and API: the mailbox of the local sink, and the outbox."""

from crm.mail.controllers.mailbox import MailboxApiController, MailboxPageController
from crm.mail.controllers.outbox import OutboxApiController, OutboxPageController

ROUTES = [MailboxApiController, MailboxPageController, OutboxApiController, OutboxPageController]

"""A real aiosmtpd server on 127.0.0.1 whose answers each test scripts.

Runs in the test's event loop. ``ScriptedHandler`` records what it accepts and can answer DATA
with scripted replies (451 then 250, 550 …), refuse recipients, cut the connection in the middle
of DATA, or take its time; ``sessions`` counts SMTP connections (to check reuse).
"""

import asyncio
import logging
from dataclasses import dataclass, field
from email import message_from_bytes

from aiosmtpd.smtp import SMTP, Envelope, Session

logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message_id(self) -> str | None:
        return message_from_bytes(self.raw).get("Message-ID")


@dataclass
class ScriptedHandler:
    received: list[Received] = field(default_factory=list)
    #: Replies to DATA, used in order before the server starts accepting (e.g. ["451 4.3.0 Try later"]).
    data_replies: list[str] = field(default_factory=list)
    #: Lower-cased recipient → reply to its RCPT TO (e.g. "550 5.1.1 User unknown").
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    #: How many DATA commands to cut off after the first line of the message.
    disconnect_in_data: int = 0
    #: Seconds to think before answering DATA.
    delay: float = 0.0
    sessions: int = 0
    data_commands: int = 0
    transports: list = field(default_factory=list, repr=False)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.data_replies:
            return self.data_replies.pop(0)
        raw = envelope.original_content or b""
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), raw))
        return "250 2.0.0 Ok: queued"

    def message_ids(self) -> list[str | None]:
        return [r.message_id for r in self.received]


class ScriptedSMTP(SMTP):
    def connection_made(self, transport) -> None:
        self.event_handler.sessions += 1
        self.event_handler.transports.append(transport)
        super().connection_made(transport)

    async def smtp_DATA(self, arg: str) -> None:
        handler: ScriptedHandler = self.event_handler
        if handler.disconnect_in_data > 0 and self.envelope is not None and self.envelope.rcpt_tos:
            handler.disconnect_in_data -= 1
            handler.data_commands += 1
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # the first line of the message, then hang up
            self.transport.close()
            return
        await super().smtp_DATA(arg)


@dataclass
class RunningServer:
    handler: ScriptedHandler
    server: asyncio.Server
    port: int

    async def stop(self) -> None:
        self.server.close()
        for transport in self.handler.transports:
            transport.close()
        try:
            await asyncio.wait_for(self.server.wait_closed(), timeout=5)
        except TimeoutError:
            pass


async def start_server(handler: ScriptedHandler | None = None, port: int = 0) -> RunningServer:
    handler = handler or ScriptedHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ScriptedSMTP(handler, hostname="test-mx", enable_SMTPUTF8=True, loop=loop),
        host="127.0.0.1", port=port,
    )
    return RunningServer(handler, server, server.sockets[0].getsockname()[1])

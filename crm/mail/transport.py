"""Handing finished messages to an SMTP server: a small interface, and aiosmtplib behind it.

The sender (crm.mail.sender) only sees :class:`MailTransport` and two outcomes besides success:
:class:`TemporaryFailure` (try again later: connection trouble, timeouts, 4xx replies) and
:class:`PermanentFailure` (a 5xx reply to this message: do not retry). :class:`SmtpTransport`
keeps up to ``connections`` SMTP sessions open and reuses them for message after message, because
opening a session (TCP, EHLO, maybe TLS and AUTH) costs more than sending a digest over it.
"""

import asyncio
import logging
import ssl
from typing import Protocol

import aiosmtplib

from crm.settings import MailSettings

log = logging.getLogger("crm.mail.transport")

#: Seconds to wait for the server to answer a command (and for DATA to be accepted).
SMTP_TIMEOUT = 60.0
#: Seconds to wait for a connection (TCP + greeting + TLS + AUTH).
CONNECT_TIMEOUT = 20.0
TLS_MODES = ("none", "starttls", "ssl")


class TemporaryFailure(Exception):
    """Try again later. ``server_unavailable``: no session could be opened at all (server down,
    refused, TLS or AUTH failing), so more messages would fail the same way right now."""

    def __init__(self, message: str, *, server_unavailable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.server_unavailable = server_unavailable


class PermanentFailure(Exception):
    """The server refused this message for good (5xx), with its code and text.

    ``stage`` says which command was refused: ``rcpt`` (the recipient: a bounce at send time) or
    ``data`` (the content), or ``local`` when the message cannot be sent at all (an address SMTP
    cannot carry).
    """

    def __init__(self, message: str, *, code: int | None = None, stage: str = "data") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.stage = stage


class MailTransport(Protocol):
    async def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> None:
        """Deliver ``raw`` to the server; raises TemporaryFailure or PermanentFailure."""

    async def close(self) -> None:
        """Close every open session (politely, with QUIT)."""


def _reply_text(code: int, message: str) -> str:
    return f"{code} {' '.join(str(message).split())}".strip()


def _classify(exc: aiosmtplib.SMTPResponseException, stage: str) -> Exception:
    """4xx: try again later. 5xx to RCPT or DATA: this message is refused for good. 5xx to MAIL FROM
    (our return path, or "530 STARTTLS/AUTH required"): the same for every message, so it is a
    configuration problem to fix, not a reason to fail the messages: they wait and are retried."""
    text = _reply_text(exc.code, exc.message)
    if 400 <= exc.code < 500:
        return TemporaryFailure(text)
    if stage == "mail":
        return TemporaryFailure(f"The SMTP server refuses our envelope sender: {text}", server_unavailable=True)
    return PermanentFailure(text, code=exc.code, stage=stage)


class SmtpTransport:
    """aiosmtplib with a pool of reused sessions; safe for concurrent ``send`` calls.

    At most ``connections`` sessions are open; a caller waits for a free one. A session that
    fails (disconnect, timeout) is dropped and a new one opened for the next message. A pooled
    session the server closed while idle is detected at MAIL FROM, before anything of the
    message was sent, and replaced transparently.
    """

    def __init__(self, mail: MailSettings, *, connections: int | None = None,
                 timeout: float = SMTP_TIMEOUT, tls_context: ssl.SSLContext | None = None) -> None:
        if mail.tls not in TLS_MODES:
            raise ValueError(f"CRM_SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {mail.tls!r}")
        self.mail = mail
        self.timeout = timeout
        self.tls_context = tls_context
        self.max_connections = max(1, connections or mail.connections)
        self._slots = asyncio.Semaphore(self.max_connections)
        self._idle: list[aiosmtplib.SMTP] = []
        self._open: set[aiosmtplib.SMTP] = set()
        #: Sessions opened so far (the tests check that sessions are reused).
        self.sessions_opened = 0
        _local, _, domain = mail.return_path.rpartition("@")
        self.local_hostname = domain or "localhost"

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.mail.host, port=self.mail.port, timeout=self.timeout,
            local_hostname=self.local_hostname,
            use_tls=self.mail.tls == "ssl", start_tls=True if self.mail.tls == "starttls" else False,
            username=self.mail.user or None, password=self.mail.password if self.mail.user else None,
            tls_context=self.tls_context,
        )
        where = f"{self.mail.host}:{self.mail.port}"
        try:
            await client.connect(timeout=CONNECT_TIMEOUT)
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise TemporaryFailure(f"SMTP login refused by {where}: {_reply_text(exc.code, exc.message)}",
                                   server_unavailable=True) from None
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise TemporaryFailure(f"SMTP server {where} refused the session: {_reply_text(exc.code, exc.message)}",
                                   server_unavailable=True) from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TemporaryFailure(f"Cannot connect to SMTP server {where}: {reason}", server_unavailable=True) from None
        self.sessions_opened += 1
        self._open.add(client)
        log.debug("SMTP session %s opened to %s", self.sessions_opened, where)
        return client

    def _drop(self, client: aiosmtplib.SMTP) -> None:
        self._open.discard(client)
        client.close()

    async def send(self, envelope_from: str, recipients: list[str], raw: bytes) -> None:
        async with self._slots:
            client = self._take_idle()
            reused = client is not None
            if client is None:
                client = await self._connect()
            try:
                await self._transaction(client, envelope_from, recipients, raw)
            except _StaleSession:
                self._drop(client)
                if not reused:
                    raise TemporaryFailure("The SMTP server closed the session before MAIL FROM") from None
                client = await self._connect()
                try:
                    await self._transaction(client, envelope_from, recipients, raw)
                except _StaleSession:
                    self._drop(client)
                    raise TemporaryFailure("The SMTP server closed the session before MAIL FROM") from None
                except (TemporaryFailure, PermanentFailure) as exc:
                    self._after_failure(client, exc)
                    raise
            except (TemporaryFailure, PermanentFailure) as exc:
                self._after_failure(client, exc)
                raise
            self._idle.append(client)

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            self._drop(client)
        return None

    def _after_failure(self, client: aiosmtplib.SMTP, exc: Exception) -> None:
        """A refusal (4xx/5xx reply) leaves the session usable; a broken connection does not."""
        if getattr(exc, "session_ok", False) and client.is_connected:
            self._idle.append(client)
        else:
            self._drop(client)

    async def _transaction(self, client: aiosmtplib.SMTP, envelope_from: str, recipients: list[str], raw: bytes) -> None:
        """MAIL, RCPT, DATA step by step, so each refusal is known by its stage."""
        utf8 = not (envelope_from.isascii() and all(r.isascii() for r in recipients))
        options: list[str] = []
        if utf8:
            if not client.supports_extension("smtputf8"):
                raise _refused(PermanentFailure("The SMTP server cannot carry non-ASCII addresses (no SMTPUTF8)",
                                                stage="local"))
            options.append("SMTPUTF8")
        if not raw.isascii() and client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if client.supports_extension("size"):
            # RFC 1870: the size as transmitted, with CRLF line ends.
            size = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")
            options.append(f"SIZE={size}")
        encoding = "utf-8" if utf8 else "ascii"
        stage = "mail"
        try:
            try:
                await client.mail(envelope_from, options=options, encoding=encoding)
            except aiosmtplib.SMTPServerDisconnected:
                raise _StaleSession() from None
            stage = "rcpt"
            refusal: aiosmtplib.SMTPResponseException | None = None
            accepted = 0
            for recipient in recipients:
                try:
                    await client.rcpt(recipient, encoding=encoding)
                    accepted += 1
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refusal = exc
            if refusal is not None and not accepted:
                raise refusal
            stage = "data"
            await client.data(raw)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(client)
            raise _refused(_classify(exc, stage)) from None
        except _StaleSession:
            raise
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise TemporaryFailure(f"The SMTP connection failed during {stage.upper()}: {reason}") from None
        except ValueError as exc:  # an address aiosmtplib will not put on the wire
            await self._reset(client)
            raise _refused(PermanentFailure(f"Invalid address: {exc}", stage="local")) from None

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            pass

    async def close(self) -> None:
        clients, self._idle = list(self._open), []
        self._open.clear()
        for client in clients:
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), timeout=5)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
            finally:
                client.close()


def _refused(failure: Exception) -> Exception:
    """Mark a failure that came from a reply: the session itself is still good."""
    failure.session_ok = True  # type: ignore[attr-defined]
    return failure


class _StaleSession(Exception):
    """The session was closed by the server before this message started: safe to resend at once."""

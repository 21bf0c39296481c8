"""``crm send`` and ``crm outbox``: send the outbox now (or keep sending), and look at it.

Registered on the ``crm`` group in crm/cli.py; heavy imports wait until a command runs.
"""

import sys

import click

LANGUAGE = click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True,
                        help="Language of the messages.")


def _report_line(report) -> str:
    from crm.i18n import _

    line = _("Sent %(sent)s, retried later %(retried)s, failed %(failed)s, skipped (undeliverable address) "
             "%(skipped)s in %(seconds)s s.", sent=report.sent, retried=report.retried, failed=report.failed,
             skipped=report.skipped, seconds=f"{report.seconds:.1f}")
    if report.stopped:
        line += " " + _("Stopped early: %(reason)s", reason=report.stopped)
    return line


@click.command()
@click.option("--loop", is_flag=True, help="Keep sending until stopped (Ctrl+C or SIGTERM), polling when idle.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=5.0, show_default=True,
              help="Seconds between polls when nothing is due (with --loop).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Send at most this many messages per pass.")
@click.option("--connections", type=click.IntRange(1, 100), default=None,
              help="SMTP sessions to use at once (default: CRM_SMTP_CONNECTIONS).")
@click.option("--lease", type=click.FloatRange(1, 86400), default=None,
              help="Seconds a claimed message stays reserved for this sender (default 300); a crashed "
                   "sender's messages are taken over after it.")
@click.option("--worker-id", default=None, help="A name for this sender in the logs (default host:pid).")
@LANGUAGE
def send(loop: bool, interval: float, limit: int | None, connections: int | None, lease: float | None,
         worker_id: str | None, language: str) -> None:
    """Send the messages of the outbox that are due now, and print what happened.

    Any number of senders may run at once against PostgreSQL; each message is sent by one of
    them. Exits with 1 when a message failed for good (without --loop).
    """
    import asyncio
    import dataclasses
    import logging
    import signal
    from datetime import timedelta

    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.cli import _settings, _with_session_maker, run, settle
    from crm.mail.sender import CLAIM_LEASE, SendReport, default_worker_id, send_queued
    from crm.mail.transport import SmtpTransport

    settings = _settings()
    if connections:
        settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, connections=connections))
    claim_lease = timedelta(seconds=lease) if lease else CLAIM_LEASE
    name = worker_id or default_worker_id()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settle()

    async def once(session_maker) -> SendReport:
        return await send_queued(session_maker, settings, limit=limit, worker_id=name, lease=claim_lease)

    async def forever(session_maker) -> None:
        stop = asyncio.Event()
        event_loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            event_loop.add_signal_handler(sig, stop.set)
        transport = SmtpTransport(settings.mail)
        try:
            while not stop.is_set():
                report = await send_queued(session_maker, settings, transport=transport, limit=limit,
                                           worker_id=name, lease=claim_lease, stop=stop)
                if report.total:
                    click.echo(_report_line(report))
                if not report.total or report.stopped:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=interval)
                    except TimeoutError:
                        pass
        finally:
            await transport.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                event_loop.remove_signal_handler(sig)

    with i18n.language(language):
        if loop:
            click.echo(i18n._("Sending the outbox until stopped (Ctrl+C)…"))
            run(_with_session_maker(settings, forever))
            return
        report = run(_with_session_maker(settings, once))
        click.echo(_report_line(report))
    if report.failed:
        sys.exit(1)


@click.command()
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "failed", "cancelled"]), default=None,
              help="Only messages with this status.")
@click.option("--kind", default=None, help="Only messages of this kind (digest, question, …).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="Messages listed.")
@LANGUAGE
def outbox(status: str | None, kind: str | None, limit: int, language: str) -> None:
    """Count the outbox by status and list its newest messages (with why they failed)."""
    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.cli import _settings, _with_session, run
    from crm.mail.services import OutboxFilter, OutboxService

    async def go(session):
        service = OutboxService(session)
        return await service.counts(), await service.list_messages(OutboxFilter(status, kind), 1, limit)

    counts, page = run(_with_session(_settings(), go))
    with i18n.language(language):
        click.echo("  ".join(f"{name}: {count}" for name, count in counts.items()))
        for row in page.items:
            when = row.sent_at or row.next_attempt_at
            line = (f"#{row.id:<7} {row.status:<9} {row.attempts:>2}× {when:%Y-%m-%d %H:%M} "
                    f"{row.kind:<10} {row.recipient}  {row.subject[:60]}")
            click.echo(line)
            if row.last_error and row.status != "sent":
                click.echo(f"          {row.last_error[:200]}")
        if page.total > len(page.items):
            click.echo(i18n._("… and %(n)s more (use --limit or the /outbox page).", n=page.total - len(page.items)))

"""``crm digests``: dispatch the due digests now, and list subscriptions.

Registered on the ``crm`` group in crm/cli.py; heavy imports wait until a command runs.
"""

import sys

import click


@click.group()
def digests() -> None:
    """Current-awareness digests: dispatch and subscriptions."""


@digests.command("dispatch")
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the messages.")
def dispatch(language: str) -> None:
    """Queue every digest that is due now (what the scheduled job does each minute), then attach replies.

    Exits with 1 when a subscription or a recipient failed (the others are still done).
    """
    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.cli import _settings, _with_session_maker, run
    from crm.digests.dispatch import dispatch_due_digests
    from crm.digests.replies import consume_digest_replies

    settings = _settings()

    async def go(session_maker):
        return (await dispatch_due_digests(session_maker, settings),
                await consume_digest_replies(session_maker, settings))

    report, replies = run(_with_session_maker(settings, go))
    with i18n.language(language):
        click.echo(i18n._("%(subscriptions)s subscription(s) due, %(digests)s digest(s) queued, %(empty)s recipient(s) "
                          "with nothing new, %(failed)s failure(s).", subscriptions=report.subscriptions,
                          digests=report.digests, empty=report.empty, failed=report.failed))
        if replies.consumed:
            click.echo(i18n._("%(n)s reply(ies) to digests added to the contacts' timelines.", n=replies.interactions))
        for error in report.errors:
            click.echo(f"  ! {error}", err=True)
    if report.failed:
        sys.exit(1)


@digests.command("list")
@click.option("--frequency", type=click.Choice(["daily", "weekly", "monthly", "paused"]), default=None,
              help="Only subscriptions with this frequency.")
@click.option("--due", "due_hours", type=click.IntRange(0, 24 * 366), default=None,
              help="Only those due within this many hours (0: due now).")
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the output.")
def list_subscriptions(frequency: str | None, due_hours: int | None, language: str) -> None:
    """List digest subscriptions, soonest due first: id, owner, schedule, next time (library time zone)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    import crm.models  # noqa: F401
    from crm import i18n
    from crm.cli import _settings, _with_session, run
    from crm.digests.services import SubscriptionFilter, SubscriptionService, owner_name
    from crm.pagination import MAX_PER_PAGE

    settings = _settings()
    tz = ZoneInfo(settings.digests.timezone)
    filters = SubscriptionFilter(frequency=frequency,
                                 due_within=timedelta(hours=due_hours) if due_hours is not None else None)

    async def go(session):
        service, rows, page = SubscriptionService(session, settings.digests.timezone), [], 1
        while True:
            found = await service.list_subscriptions(filters, page, MAX_PER_PAGE)
            for sub in found.items:
                rows.append((sub.id, "group" if sub.group_id else "contact", owner_name(sub), sub.frequency,
                             sub.weekday, sub.month_day, sub.hour, sub.paused_until, sub.language, sub.max_items,
                             sub.next_due_at))
            if page >= found.pages:
                return rows
            page += 1

    rows = run(_with_session(settings, go))
    weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    with i18n.language(language):
        if not rows:
            click.echo(i18n._("No digest subscriptions."))
            return
        for sid, kind, name, freq, weekday, month_day, hour, paused_until, lang, max_items, next_due_at in rows:
            when = {"daily": f"{hour:02d}:00", "weekly": f"{weekdays[weekday]} {hour:02d}:00",
                    "monthly": f"day {month_day} {hour:02d}:00"}.get(freq, "-")
            due = next_due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if next_due_at else "-"
            holiday = f" (paused until {paused_until.isoformat()})" if paused_until else ""
            click.echo(f"{sid:>6}  {kind:<7} {name[:40]:<40}  {freq:<8} {when:<14} {lang}  {max_items:>3}  "
                       f"next: {due}{holiday}")

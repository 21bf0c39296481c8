"""``crm harvest`` and ``crm source``: harvest sources and keep the registry from the command line.

Registered on the ``crm`` group in crm/cli.py, whose helpers (settings, the event loop, sessions)
they use; heavy imports wait until a command runs, so ``crm --help`` stays quick.
"""

import sys
import time

import click

#: How often the counter of records read is redrawn.
REDRAW_SECONDS = 0.2


class _Counter:
    """A spinner and the number of records read so far, on standard error when it is a terminal."""

    FRAMES = "|/-\\"

    def __init__(self) -> None:
        self._shown_at = 0.0
        self._active = sys.stderr.isatty()
        self._frame = 0

    def __call__(self, count: int) -> None:
        if not self._active or time.monotonic() - self._shown_at < REDRAW_SECONDS:
            return
        self._shown_at = time.monotonic()
        self._frame = (self._frame + 1) % len(self.FRAMES)
        click.echo(f"\r{self.FRAMES[self._frame]} {count:,} records read", nl=False, err=True)

    def clear(self) -> None:
        if self._active and self._shown_at:
            click.echo("\r" + " " * 40 + "\r", nl=False, err=True)
            self._shown_at = 0.0


@click.command()
@click.argument("source_id", type=int, required=False)
@click.option("--due", is_flag=True, help="Harvest every enabled source that is due (what the scheduled job does).")
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the messages.")
def harvest(source_id: int | None, due: bool, language: str) -> None:
    """Harvest source SOURCE_ID now, or with --due every source that is due, and print each run's report.

    Exits with 1 when a run failed or the source does not exist.
    """
    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.cli import _settings, _with_session_maker, run
    from crm.sources.harvest import UnknownSource, run_due, run_source
    from crm.sources.reports import report_lines

    if (source_id is None) == (not due):
        raise click.UsageError("Give a SOURCE_ID or --due (one of them).")
    settings = _settings()
    counter = _Counter()
    with i18n.language(language):
        async def go(session_maker):
            if due:
                return await run_due(session_maker, settings, progress=counter)
            return [await run_source(session_maker, source_id, settings=settings, progress=counter)]

        try:
            runs = run(_with_session_maker(settings, go))
        except UnknownSource:
            raise click.ClickException(i18n._("There is no source with id %(id)s (see `crm source list`).",
                                              id=source_id)) from None
        finally:
            counter.clear()
        if due and not runs:
            click.echo(i18n._("No source is due."))
        for number, finished in enumerate(runs):
            if number:
                click.echo("")
            click.echo("\n".join(report_lines(finished)))
    if any(r.status == "failed" for r in runs):
        sys.exit(1)


@click.group()
def source() -> None:
    """The source registry: MARC files, RSS/Atom feeds and OAI-PMH endpoints."""


@source.command("list")
def source_list() -> None:
    """Every source: id, type, schedule, last run, and its address or file."""
    import crm.models  # noqa: F401
    from crm.cli import _settings, _with_session, run
    from crm.sources.services.sources import SourceService

    settings = _settings()

    async def rows(session):
        page = await SourceService(session, settings).list_sources(1, 10_000)
        return [(s.id, s.kind, s.name, s.interval_minutes, s.enabled, s.last_status, s.last_run_at, s.url or s.path)
                for s in page.items]

    found = run(_with_session(settings, rows))
    if not found:
        click.echo("No sources yet. Add one with `crm source add`.")
    for sid, kind, name, interval, enabled, status, last_run, where in found:
        schedule = f"every {interval} min" if interval else "by hand"
        last = f"{status} {last_run:%Y-%m-%d %H:%M}" if last_run else "never run"
        flag = "" if enabled else " (disabled)"
        click.echo(f"{sid:>5}  {kind:<4}  {name}{flag}\n       {schedule}; last run: {last}; {where or '-'}")


@source.command("add")
@click.option("--kind", type=click.Choice(["marc", "feed", "oai"]), required=True)
@click.option("--name", required=True)
@click.option("--url", default=None, help="Feed URL or OAI-PMH base URL (http or https).")
@click.option("--path", default=None, help="MARC: the absolute path of a file on this server.")
@click.option("--interval", "interval_minutes", type=int, default=None,
              help="Minutes between harvests (at least 15); without it, by hand only.")
@click.option("--set", "oai_set", default=None, help="OAI-PMH: harvest only this set.")
@click.option("--prefix", "oai_metadata_prefix", default=None, help="OAI-PMH metadata format (default oai_dc).")
@click.option("--owner", "owner_email", default=None, help="Email of the librarian who owns the source.")
@click.option("--disabled", is_flag=True, help="Create it disabled (not harvested on schedule).")
@click.option("--notes", default=None)
def source_add(kind: str, name: str, url: str | None, path: str | None, interval_minutes: int | None,
               oai_set: str | None, oai_metadata_prefix: str | None, owner_email: str | None, disabled: bool,
               notes: str | None) -> None:
    """Add a source and print its id (harvest it with `crm harvest ID`)."""
    import crm.models  # noqa: F401
    from crm.cli import _settings, _with_session, run
    from crm.errors import FieldErrors
    from crm.forms import validate
    from crm.security.services import UserService
    from crm.sources import schemas
    from crm.sources.services.sources import SourceService

    settings = _settings()

    async def create(session):
        owner_id = None
        if owner_email:
            owner = await UserService(session).get_by_email(owner_email)
            if owner is None:
                raise click.ClickException(f"No account with email {owner_email}.")
            owner_id = owner.id
        data = validate({"kind": kind, "name": name, "url": url, "path": path, "interval_minutes": interval_minutes,
                         "oai_set": oai_set, "oai_metadata_prefix": oai_metadata_prefix, "owner_id": owner_id,
                         "enabled": not disabled, "notes": notes}, schemas.SourceCreate)
        return await SourceService(session, settings).create_source(data, None)

    try:
        created = run(_with_session(settings, create))
    except FieldErrors as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    click.echo(f"Created source {created.id} ({created.kind}) «{created.name}».")

"""The ``crm`` command: serve, worker, migrate, demo, user, token."""

import asyncio
import gc
import sys
from pathlib import Path

import click

from crm.settings import Settings, load_settings


def _checked(settings: Settings) -> Settings:
    """Refuse to start a long-running process with settings that would only fail later."""
    from crm.digests.citations import style_problem

    if problem := style_problem(settings.digests.citation_style):
        raise click.ClickException(problem)
    return settings


def _settings() -> Settings:
    return load_settings()


def settle() -> None:
    """For a long-running process (serve, worker, send), once everything is imported and set up:
    collect what start-up left behind and freeze the rest (modules, ORM mappers, templates,
    compiled styles), so that the garbage collector no longer walks it at every full collection.
    A digest run creates a few hundred thousand objects, and so many collections: 5 % of its time."""
    gc.collect()
    gc.freeze()


def run(coro):
    """Run a command's coroutine; commands write, so SQLite transactions take the write lock up front."""
    from crm import db

    with db.writing():
        return asyncio.run(coro)


async def _with_session(settings: Settings, fn):
    """Run ``fn(session)`` in one transaction and dispose of the engine afterwards."""
    from crm import db

    engine = db.create_engine(settings)
    try:
        if await db.pending_migrations(engine, settings):
            raise click.ClickException("The database is not migrated. Run `crm migrate` first.")
        async with db.session_maker(engine)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """liaison-crm: CRM and current-awareness mailer for liaison librarians.

    Settings come from CRM_* environment variables (see README).
    """


@main.command()
@click.option("--revision", default="head", show_default=True, help="Upgrade to this revision.")
@click.option("--down", "down_to", default=None, help="Downgrade to this revision instead (e.g. base, or -1).")
def migrate(revision: str, down_to: str | None) -> None:
    """Upgrade the database schema to the newest version (or downgrade with --down)."""
    from alembic.util.exc import CommandError

    from crm import db

    settings = _settings()
    try:
        if down_to:
            db.downgrade(settings, down_to)
        else:
            db.migrate(settings, revision)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Database migrated to {down_to or revision} ({_redact(settings.database.url)}).")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler in this process (use `crm worker`).")
@click.option("--no-demo", is_flag=True, help="Do not load demo data into an empty embedded database.")
def serve(host: str, port: int, no_scheduler: bool, no_demo: bool) -> None:
    """Start the web service (and, by default, the scheduler and the local mail sink).

    On the embedded SQLite default the database is migrated automatically and demo data is
    loaded into an empty database.
    """
    import os

    import uvicorn

    from crm import db

    if no_scheduler:
        os.environ["CRM_RUN_SCHEDULER"] = "0"
    if "CRM_BASE_URL" not in os.environ:
        os.environ["CRM_BASE_URL"] = f"http://{host}:{port}"
    settings = _checked(_settings())
    if settings.database.is_sqlite:
        db.migrate(settings)
        if not no_demo:
            from crm.demo import DEMO_PASSWORD, load_demo_if_empty

            created = run(load_demo_if_empty(settings))
            if created:
                click.echo("Demo data loaded (a Vietnamese university, its lecturers, groups and librarians).")
    from crm.app import create_app

    app = create_app(settings)
    click.echo(f"liaison-crm is running at {settings.base_url}/")
    if settings.database.is_sqlite and not no_demo:
        from crm.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD

        click.echo(f"Log in as {DEMO_ADMIN_EMAIL} with password {DEMO_PASSWORD}")
    if settings.mail.embedded_sink:
        click.echo(f"Mail is caught by the local sink (smtp://{settings.mail.host}:{settings.mail.port}); read it at {settings.base_url}/mailbox")
    settle()
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, forwarded_allow_ips="127.0.0.1")


@main.command()
def worker() -> None:
    """Run the scheduled jobs without the web service (production: one or more per site)."""
    from jobs.scheduler import run_worker

    settings = _checked(_settings())
    settle()
    run(run_worker(settings))


@main.command()
def demo() -> None:
    """Load the demo data (a Vietnamese university) into the database, if it is empty."""
    import crm.models  # noqa: F401  (every mapper, so relationships between domains resolve)
    from crm.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, load_demo_if_empty

    settings = _settings()
    if run(load_demo_if_empty(settings)):
        click.echo(f"Demo data loaded. Log in as {DEMO_ADMIN_EMAIL} / {DEMO_PASSWORD}")
    else:
        click.echo("The database already has accounts; demo data was not loaded.")


@main.group()
def user() -> None:
    """Manage librarian accounts."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice(["admin", "librarian"]), default="librarian", show_default=True)
@click.option("--name", "full_name", default=None, help="Full name (defaults to the part of the email before @).")
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
def user_create(email: str, password: str, role: str, full_name: str | None, language: str) -> None:
    """Create a librarian or administrator account."""
    from crm.errors import FieldErrors
    from crm.forms import validate
    from crm.security import schemas
    from crm.security.services import UserService

    async def create(session):
        data = validate(
            {"email": email, "password": password, "role": role, "language": language,
             "full_name": full_name or email.split("@")[0]},
            schemas.UserCreate,
        )
        return await UserService(session).create_user(data)

    try:
        created = run(_with_session(_settings(), create))
    except FieldErrors as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    click.echo(f"Created {created.role} {created.email} (id {created.id}).")


@main.group()
def token() -> None:
    """Personal API tokens."""


@token.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
def token_create(email: str, name: str) -> None:
    """Print a new personal API token for the account EMAIL (use it as `Authorization: Bearer TOKEN`)."""
    from crm.security.services import UserService

    async def create(session):
        users = UserService(session)
        account = await users.get_by_email(email)
        if account is None:
            raise click.ClickException(f"No account with email {email}.")
        return (await users.create_token(account, name))[1]

    click.echo(run(_with_session(_settings(), create)))


@main.group("import")
def import_group() -> None:
    """Import units or contacts from a CSV file: every row is checked, and nothing is saved unless all are valid."""


def _import_csv(what: str, source, language: str) -> None:
    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.liaison.services import csv_io

    importer = csv_io.import_units if what == "units" else csv_io.import_contacts
    data = source.read(csv_io.MAX_IMPORT_BYTES + 1)
    with i18n.language(language):
        if len(data) > csv_io.MAX_IMPORT_BYTES:
            raise click.ClickException(i18n._("The file is larger than %(mb)s MB. Split it into smaller files.",
                                              mb=csv_io.MAX_IMPORT_BYTES // (1024 * 1024)))
        result = run(_with_session(_settings(), lambda session: importer(session, data)))
        if not result.ok:
            for error in result.errors:
                where = i18n._("row %(row)s", row=error.row) if error.row is not None else i18n._("file")
                column = f" [{error.column}]" if error.column else ""
                click.echo(f"{where}{column}: {error.message}", err=True)
            click.echo(i18n._("Nothing was imported: correct these rows and try again."), err=True)
            sys.exit(1)
        click.echo(i18n._("Import finished: %(created)s created, %(updated)s updated.",
                          created=result.created, updated=result.updated))


@import_group.command("units")
@click.argument("source", type=click.File("rb"))
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the messages.")
def import_units(source, language: str) -> None:
    """Create or update units by code from SOURCE (a CSV file, or - for standard input)."""
    _import_csv("units", source, language)


@import_group.command("contacts")
@click.argument("source", type=click.File("rb"))
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the messages.")
def import_contacts(source, language: str) -> None:
    """Create or update contacts by email from SOURCE (a CSV file, or - for standard input)."""
    _import_csv("contacts", source, language)


# --- sources: harvest and the source registry ----------------------------------------------


async def _with_session_maker(settings: Settings, fn):
    """Run ``fn(session_maker)`` (for work that commits batch by batch) and dispose of the engine."""
    from crm import db

    engine = db.create_engine(settings)
    try:
        if await db.pending_migrations(engine, settings):
            raise click.ClickException("The database is not migrated. Run `crm migrate` first.")
        return await fn(db.session_maker(engine))
    finally:
        await engine.dispose()


def _add_source_commands() -> None:
    """`crm harvest` and `crm source …` live with their domain (crm/sources/commands.py)."""
    from crm.sources.commands import harvest, source

    main.add_command(harvest)
    main.add_command(source)
    # Each domain's commands live in crm/<domain>/commands.py; add yours here, one line each.
    main.add_command(__import__("crm.acquisitions.commands", fromlist=["acquisitions"]).acquisitions)
    main.add_command(__import__("crm.mail.commands", fromlist=["send"]).send)
    main.add_command(__import__("crm.mail.commands", fromlist=["outbox"]).outbox)
    main.add_command(__import__("crm.digests.commands", fromlist=["digests"]).digests)
    main.add_command(__import__("crm.questions.commands", fromlist=["questions"]).questions)


_add_source_commands()


# --- sources: ingest a MARC file -----------------------------------------------------------


@main.command("ingest")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", "source_id", type=int, default=None,
              help="Import into this MARC source (default: the source of this file's path, created if needed).")
@click.option("--batch-size", type=click.IntRange(1, 50_000), default=1000, show_default=True,
              help="Records per transaction.")
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the report.")
def ingest_file(file: Path, source_id: int | None, batch_size: int, language: str) -> None:
    """Import FILE, MARC21 (ISO 2709, MARC-8 or UTF-8) or MARCXML, detected from its content.

    Deduplicates into the item store and prints the report. Exits with 1 when the file cannot be
    read (missing, not MARC, unsafe XML) or nothing in it could be stored.
    """
    import gc
    import os

    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.sources.ingest import ingest, marc_source_for_path
    from crm.sources.models import Source
    from crm.sources.readers.marc import MarcError, iter_marc
    from crm.sources.reports import report_lines

    settings = _settings()
    try:
        stream = open(file, "rb")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}") from None
    with stream, i18n.language(language):
        try:
            records = iter_marc(stream)
        except MarcError as exc:
            raise click.ClickException(f"{file}: {exc}") from None
        except OSError as exc:
            raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}") from None
        size = os.fstat(stream.fileno()).st_size

        def tracked(bar):
            done = 0
            for count, record in enumerate(records, 1):
                yield record
                if count % 500 == 0:
                    position = stream.tell()
                    bar.update(position - done)
                    done = position
            bar.update(size - done)

        async def go(session_maker):
            target = source_id
            if target is None:
                target = await marc_source_for_path(session_maker, file)
            else:
                async with session_maker() as session:
                    found = await session.get(Source, target)
                if found is None:
                    raise click.ClickException(f"There is no source with id {target} (see `crm source list`).")
                if found.kind != "marc":
                    raise click.ClickException(f"Source {target} is a {found.kind} source, not a MARC file source.")
            with click.progressbar(length=max(size, 1), label=file.name, file=sys.stderr,
                                   hidden=not sys.stderr.isatty()) as bar:
                return await ingest(session_maker, target, tracked(bar), origin=str(file.resolve()), batch_size=batch_size)

        # Everything loaded so far lives as long as the command: keep it out of the garbage
        # collector's full passes, which would otherwise rescan it every few hundred records.
        gc.freeze()
        try:
            finished = run(_with_session_maker(settings, go))
        finally:
            gc.unfreeze()
        click.echo("\n".join(report_lines(finished)))
    if finished.status == "failed":
        sys.exit(1)


@main.command("match")
@click.option("--backfill-days", type=click.IntRange(min=0), default=None,
              help="Back-fill new or edited profiles over this many days of items (default: CRM_MATCH_BACKFILL_DAYS, 90).")
def match_items(backfill_days: int | None) -> None:
    """Match the items that arrived since the last run against every active interest profile,
    and back-fill profiles created or edited since (withdrawing matches an edit no longer meets)."""
    from functools import partial

    from crm.matching.services import match_new_items

    settings = _settings()
    days = settings.match_backfill_days if backfill_days is None else backfill_days
    result = run(_with_session_maker(settings, partial(match_new_items, backfill_days=days)))
    click.echo(f"Matched {result.items} new item(s) against {result.profiles} profile(s): "
               f"{result.matches} new match(es), {result.backfilled} of them back-filled over {days} days; "
               f"{result.refreshed} refreshed, {result.withdrawn} withdrawn.")


if __name__ == "__main__":
    sys.exit(main())

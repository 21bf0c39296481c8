"""``crm acquisitions …``: reading lists, slips, the purchase plan and arrivals from the command line.

Registered on the ``crm`` group in crm/cli.py, whose helpers (settings, the event loop, sessions)
these use; heavy imports wait until a command runs.
"""

import sys
from pathlib import Path

import click

LANGUAGE = click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True,
                        help="Language of the messages and exports.")


def _problem_line(problem) -> str:
    from crm import i18n

    where = []
    if problem.record is not None:
        where.append(i18n._("record %(n)s", n=problem.record))
    if problem.line is not None:
        where.append(i18n._("line %(n)s", n=problem.line))
    if problem.column:
        where.append(f"[{problem.column}]")
    return f"{' '.join(where) or i18n._('file')}: {problem.message}"


@click.group()
def acquisitions() -> None:
    """Reading lists, request slips, the purchase plan and arrivals (bổ sung tài liệu)."""


@acquisitions.command("import-citations")
@click.argument("course_code")
@click.argument("source", type=click.File("rb"))
@click.option("--format", "fmt", type=click.Choice(["auto", "text", "ris", "bibtex", "csv"]), default="auto",
              show_default=True, help="Format of SOURCE (auto: from the file name, then the content).")
@click.option("--requirement", type=click.Choice(["required", "recommended"]), default="required", show_default=True,
              help="For citations that do not say.")
@LANGUAGE
def import_citations(course_code: str, source, fmt: str, requirement: str, language: str) -> None:
    """Add the citations of SOURCE (RIS, BibTeX, CSV or one a line; - for standard input) to the
    reading list of the course COURSE_CODE, checking each against the catalogue.

    All or nothing: exits with 1 and lists every problem by line or record when any is found.
    """
    import crm.models  # noqa: F401  (every mapper)
    from crm import i18n
    from crm.acquisitions.services.citations import CitationService, ImportProblems
    from crm.acquisitions.services.courses import CourseService
    from crm.acquisitions.services.parsing import MAX_IMPORT_BYTES
    from crm.cli import _settings, _with_session, run

    settings = _settings()
    data = source.read(MAX_IMPORT_BYTES + 1)
    name = getattr(source, "name", None)

    async def go(session):
        course = await CourseService(session).by_code(course_code)
        if course is None:
            raise click.ClickException(i18n._("No course has this code.") + f" ({course_code})")
        return await CitationService(session, settings).import_citations(
            course, data, None if name in (None, "<stdin>") else name, fmt, requirement)

    with i18n.language(language):
        try:
            created = run(_with_session(settings, go))
        except ImportProblems as exc:
            for problem in exc.problems:
                click.echo(_problem_line(problem), err=True)
            click.echo(i18n._("Nothing was imported: correct these lines and try again."), err=True)
            sys.exit(1)
        counts = {s: sum(1 for c in created if c.status == s) for s in ("held", "uncertain", "not_held")}
        click.echo(i18n._("%(n)s citations added: %(held)s held, %(uncertain)s to confirm, %(missing)s not held.",
                          n=len(created), held=counts["held"], uncertain=counts["uncertain"], missing=counts["not_held"]))


@acquisitions.command("import-slips")
@click.argument("source", type=click.File("rb"))
@LANGUAGE
def import_slips(source, language: str) -> None:
    """Import request and unavailable slips from SOURCE (a CSV file, or - for standard input).

    All or nothing: exits with 1 and lists every problem by row when any is found.
    """
    import crm.models  # noqa: F401
    from crm import i18n
    from crm.acquisitions.services.slips import MAX_IMPORT_BYTES, SlipService
    from crm.cli import _settings, _with_session, run

    settings = _settings()
    data = source.read(MAX_IMPORT_BYTES + 1)
    with i18n.language(language):
        if len(data) > MAX_IMPORT_BYTES:
            raise click.ClickException(i18n._("The file is larger than %(mb)s MB. Split it into smaller files.",
                                              mb=MAX_IMPORT_BYTES // (1024 * 1024)))
        result = run(_with_session(settings, lambda session: SlipService(session).import_csv(data)))
        if not result.ok:
            for error in result.errors:
                where = i18n._("row %(row)s", row=error.row) if error.row is not None else i18n._("file")
                column = f" [{error.column}]" if error.column else ""
                click.echo(f"{where}{column}: {error.message}", err=True)
            click.echo(i18n._("Nothing was imported: correct these rows and try again."), err=True)
            sys.exit(1)
        click.echo(i18n.ngettext("%(num)s slip imported.", "%(num)s slips imported.", result.created))


@acquisitions.command("plan")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="xlsx", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (- for standard output, CSV only).")
@click.option("--decision", type=click.Choice(["proposed", "approved", "ordered", "deferred", "rejected"]), default=None,
              help="Only the candidates with this decision.")
@LANGUAGE
def plan(fmt: str, output: Path, decision: str | None, language: str) -> None:
    """Write the ranked purchase plan, with prices, budget lines and decisions, for the acquisitions department."""
    import crm.models  # noqa: F401
    from crm import i18n
    from crm.acquisitions.services import exports
    from crm.acquisitions.services.plan import build_plan
    from crm.cli import _settings, _with_session, run

    settings = _settings()
    with i18n.language(language):
        built = run(_with_session(settings, lambda session: build_plan(session, decision=decision)))
        if fmt == "xlsx":
            if str(output) == "-":
                raise click.UsageError("XLSX cannot go to standard output: give a file name.")
            output.write_bytes(exports.plan_xlsx(built))
        else:
            async def text() -> str:
                return "".join([chunk async for chunk in exports.plan_csv(built)])

            content = run(text())
            if str(output) == "-":
                click.echo(content, nl=False)
            else:
                output.write_text(content, encoding="utf-8")
        if str(output) != "-":
            click.echo(i18n.ngettext("%(num)s candidate written to %(file)s.", "%(num)s candidates written to %(file)s.",
                                     len(built.candidates), file=str(output)))


@acquisitions.command("resolve")
@LANGUAGE
def resolve(language: str) -> None:
    """Check every unconfirmed citation against the catalogue again, then look at the items that
    arrived since the last pass (what the scheduled job does): lecturers and suggesters are told once."""
    import crm.models  # noqa: F401
    from crm import i18n
    from crm.acquisitions.services import resolve_arrivals
    from crm.acquisitions.services.citations import CitationService
    from crm.cli import _settings, _with_session, _with_session_maker, run

    settings = _settings()
    with i18n.language(language):
        counts = run(_with_session(settings, lambda session: CitationService(session, settings).reresolve_all()))
        arrived = run(_with_session_maker(settings, lambda maker: resolve_arrivals(maker, settings)))
        click.echo(i18n._("Citations checked: %(held)s held, %(uncertain)s to confirm, %(missing)s not held.",
                          held=counts.get("held", 0), uncertain=counts.get("uncertain", 0),
                          missing=counts.get("not_held", 0)))
        click.echo(i18n._("New items looked at: %(items)s; gaps and suggestions they filled: %(filled)s.",
                          items=arrived.items, filled=arrived.resolved))

"""``crm questions``: the question queue and the reminder run from the command line.

Registered on the ``crm`` group in crm/cli.py; heavy imports wait until a command runs.
"""

import click

STATUS_CHOICES = ["open", "new", "relayed", "answered", "closed", "declined", "duplicate", "all"]


@click.group()
def questions() -> None:
    """Students' questions relayed to lecturers."""


@questions.command("list")
@click.option("--status", type=click.Choice(STATUS_CHOICES), default="open", show_default=True,
              help="Which questions: open means new or relayed.")
@click.option("--search", "q", default=None, help="Words of the reference, student, topic or text (diacritics ignored).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the statuses.")
def list_questions(status: str, q: str | None, limit: int, language: str) -> None:
    """Print the queue: reference, date asked, status, lecturer and topic, oldest open question first."""
    import crm.models  # noqa: F401  (every mapper, for the relationships between domains)
    from crm import i18n
    from crm.cli import _settings, _with_session, run
    from crm.questions.services.common import status_label
    from crm.questions.services.triage import QuestionFilter, QuestionService

    settings = _settings()

    async def go(session):
        service = QuestionService(session, settings)
        page = await service.list_questions(QuestionFilter(status=None if status == "all" else status, q=q), 1, limit)
        return page.total, [(x.reference, x.created_at, x.status, x.lecturer.full_name if x.lecturer else "—", x.topic)
                            for x in page.items]

    total, rows = run(_with_session(settings, go))
    with i18n.language(language):
        for reference, created, state, lecturer, topic in rows:
            click.echo(f"{reference}  {i18n.fmt_date(created.date())}  {status_label(state):<28}  {lecturer:<28}  {topic}")
        click.echo(i18n.ngettext("%(num)s question", "%(num)s questions", total))


@questions.command("remind")
def remind() -> None:
    """Run the questions job now: remind lecturers, escalate to liaison librarians, queue last month's
    course summaries. Each email is queued once, however often this runs; `crm send` delivers them."""
    import crm.models  # noqa: F401
    from crm.cli import _settings, _with_session_maker, run
    from jobs import JobContext
    from jobs.questions import run as run_job

    settings = _settings()

    async def go(session_maker):
        return await run_job(JobContext(settings=settings, session_maker=session_maker))

    result = run(_with_session_maker(settings, go))
    click.echo(f"reminders: {result.reminded}, escalations: {result.escalated}, course summaries: {result.summaries}")

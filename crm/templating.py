"""The one Jinja2 environment, used by pages (through Litestar) and by emails alike."""

from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, select_autoescape

from crm import i18n

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment(strict: bool = False) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined if strict else Undefined,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = i18n.fmt_date
    env.filters["number"] = i18n.fmt_number
    env.globals["current_language"] = i18n.current_language
    # Pages compare dates with today (overdue follow-ups, current assignments) in any partial.
    env.globals["today"] = date.today
    return env


def render(template: str, **context: object) -> str:
    """Render outside a request (emails, CLI); the caller sets the language with ``i18n.language``."""
    return environment().get_template(template).render(**context)

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


@cache
def _css_inliner():
    import css_inline

    # @media rules cannot live in style="" attributes: they stay in a <style> block for the clients that read it.
    return css_inline.CSSInliner(keep_at_rules=True, minify_css=True, load_remote_stylesheets=False)


def _tidy_text(text: str) -> str:
    # "-- " (with its space) is the signature separator mail clients recognise.
    lines = [line.rstrip() if line.rstrip() != "--" else "-- " for line in text.strip("\n").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):  # at most one blank line in a row
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def render_email(name: str, context: dict, language: str | None) -> tuple[str, str, str]:
    """(subject, text, HTML with inlined CSS) of the email folder templates/email/<name>/, in ``language``."""
    env = environment()
    with i18n.language(language):
        subject = " ".join(env.get_template(f"email/{name}/subject.txt").render(context).split())
        text = _tidy_text(env.get_template(f"email/{name}/body.txt").render(context))
        html = _css_inliner().inline(env.get_template(f"email/{name}/body.html").render(context))
    return subject, text, html

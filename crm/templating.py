"""The one Jinja2 environment, used by pages (through Litestar) and by emails alike."""

import re
from datetime import date
from functools import cache
from itertools import chain
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, select_autoescape
from markupsafe import Markup

from crm import i18n
from crm.settings import env_flag

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment(strict: bool = False) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        # Templates change with a release, which restarts the service; checking every template's
        # file on every use (a stat per email part) only pays off while developing.
        auto_reload=env_flag("DEBUG", False),
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


#: Where a piece (see :func:`render_email`) stands while the rest of an email is inlined.
_PIECE = "<!--crm:piece-->"


@cache
def stylesheet(name: str) -> str:
    """The CSS of the email templates/email/<name>/: the text of its <style> blocks."""
    with i18n.language(None):
        html = environment().get_template(f"email/{name}/body.html").render({"piece": str})
    return "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.S))


def inline_piece(name: str, html: str) -> str:
    """A piece of the HTML of email <name> (a digest's entry, say) with the email's CSS inlined into
    it on its own, to be put in place by ``piece(…)`` in the email's template.

    The same as inlining the whole email, provided the email's styles do not reach the piece's
    elements through elements around it (``td p``): tests compare the two for the digest.
    A part repeated in many emails is then inlined once, not in every email that shows it.
    """
    return _css_inliner().inline_fragment(html, stylesheet(name))


def render_email(name: str, context: dict, language: str | None) -> tuple[str, str, str]:
    """(subject, text, HTML with inlined CSS) of the email folder templates/email/<name>/, in ``language``.

    In the HTML template, ``{{ piece(html) }}`` puts in HTML already inlined (:func:`inline_piece`):
    the CSS inliner then reads only the rest of the email, a few kilobytes instead of a digest's forty.
    """
    env = environment()
    pieces: list[str] = []

    def piece(html: str) -> Markup:
        pieces.append(html)
        return Markup(_PIECE)

    with i18n.language(language):
        subject = " ".join(env.get_template(f"email/{name}/subject.txt").render(context).split())
        text = _tidy_text(env.get_template(f"email/{name}/body.txt").render(context))
        html = _css_inliner().inline(env.get_template(f"email/{name}/body.html").render({**context, "piece": piece}))
    if pieces:
        parts = html.split(_PIECE)
        if len(parts) != len(pieces) + 1:
            raise RuntimeError(f"email {name}: {len(pieces)} pieces but {len(parts) - 1} places for them")
        html = "".join(chain.from_iterable(zip(parts, pieces))) + parts[-1]
    return subject, text, html

"""Babel catalogs and the current language.

The current language lives in a context variable set per request (from the user's preference,
the ``lang`` cookie or the Accept-Language header) and around each email rendering, so pages,
form errors and emails all translate through the same ``gettext``.

Catalogs are Babel ``.po`` files under ``crm/locale/<lang>/LC_MESSAGES/``; every ``.po`` file
there is read (one per area of the product), so areas can be translated independently.
"""

import contextlib
import contextvars
from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from crm.settings import LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "vi"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("crm_language", default=DEFAULT_LANGUAGE)


@cache
def catalog(language: str) -> dict[str, str | tuple[str, ...]]:
    """msgid → msgstr (a tuple for plural forms), merged from every .po file of a language."""
    merged: dict[str, str | tuple[str, ...]] = {}
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh, locale=language):
                if not message.id or message.fuzzy:
                    continue
                key = message.id[0] if isinstance(message.id, tuple | list) else message.id
                if isinstance(message.string, tuple | list):
                    if all(message.string):
                        merged[key] = tuple(message.string)
                elif message.string:
                    merged[key] = message.string
    return merged


def current_language() -> str:
    return _current.get()


def set_language(language: str | None) -> contextvars.Token:
    return _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[None]:
    """Render something (an email, a CLI message) in a given language."""
    token = set_language(lang)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str, **variables: object) -> str:
    translated = catalog(_current.get()).get(message, message)
    if isinstance(translated, tuple):
        translated = translated[0]
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    translated = catalog(_current.get()).get(singular)
    if isinstance(translated, tuple):
        # Vietnamese has one plural form; English two.
        text = translated[0] if len(translated) == 1 or n == 1 else translated[1]
    else:
        text = singular if n == 1 else plural
    variables.setdefault("num", n)
    return text % variables


_ = gettext


def lazy(message: str) -> str:
    """Marks a string for extraction where it is defined; translate it where it is shown."""
    return message


def negotiate(accept_language: str | None) -> str | None:
    """The first supported language in an Accept-Language header."""
    if not accept_language:
        return None
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag[:2] in LANGUAGES:
            return tag[:2]
    return None


def fmt_date(value: date | datetime | None, fmt: str = "short") -> str:
    """Dates as librarians write them: dd/mm/yyyy in Vietnamese, the locale's short form in English."""
    if value is None:
        return ""
    lang = _current.get()
    if isinstance(value, datetime):
        if lang == "vi":
            return value.strftime("%d/%m/%Y %H:%M")
        return format_datetime(value, "medium", locale=Locale.parse(lang))
    if lang == "vi" and fmt == "short":
        return value.strftime("%d/%m/%Y")
    # English short dates (11/4/25) are ambiguous; "Nov 4, 2025" is not.
    return format_date(value, "medium" if fmt == "short" else fmt, locale=Locale.parse(lang))


def fmt_number(value: float | int) -> str:
    return format_decimal(value, locale=Locale.parse(_current.get()))

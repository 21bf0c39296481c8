"""Which translatable strings lack a translation (used by `crm i18n check` and the tests)."""

from pathlib import Path

from babel.messages.extract import extract_from_dir

from crm.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy": None}
METHOD_MAP = [
    ("crm/**.py", "python"),
    ("jobs/**.py", "python"),
    ("templates/**.html", "jinja2"),
    ("templates/**.txt", "jinja2"),
]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n,jinja2.ext.do"},
           "templates/**.txt": {"extensions": "jinja2.ext.i18n,jinja2.ext.do"}}


def _wanted(dirpath: str) -> bool:
    name = Path(dirpath).name
    return not name.startswith(".") and name not in {"__pycache__", "node_modules"} and ".venv" not in dirpath


def extracted() -> dict[str, list[str]]:
    """msgid → the places it is used."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, OPTIONS, keywords=KEYWORDS, directory_filter=_wanted
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def missing(language: str = "vi") -> dict[str, list[str]]:
    translations = catalog(language)
    return {msgid: places for msgid, places in extracted().items() if msgid not in translations}

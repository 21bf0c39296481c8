"""Display labels of the sources domain's vocabularies, translated where shown."""

from urllib.parse import quote

from babel import Locale

from crm.i18n import _, current_language, lazy

SOURCE_KINDS = {
    "marc": lazy("MARC file"),
    "feed": lazy("RSS/Atom feed"),
    "oai": lazy("OAI-PMH endpoint"),
}
RUN_STATUSES = {
    "running": lazy("Running"),
    "ok": lazy("Succeeded"),
    "partial": lazy("Partly succeeded"),
    "failed": lazy("Failed"),
    "not_modified": lazy("No changes"),
}
#: The badge style of each status (see app.css).
STATUS_BADGES = {"ok": "ok", "not_modified": "ok", "partial": "warn", "failed": "danger", "running": ""}
MATERIAL_TYPES = {
    "book": lazy("Book"),
    "ebook": lazy("E-book"),
    "article": lazy("Article"),
    "serial": lazy("Journal or serial"),
    "thesis": lazy("Thesis or dissertation"),
    "map": lazy("Map"),
    "music": lazy("Music score"),
    "video": lazy("Video"),
    "audio": lazy("Audio recording"),
    "other": lazy("Other"),
}
SUBJECT_SCHEMES = {
    "lcsh": lazy("LCSH"),
    "local": lazy("Local heading"),
    "keyword": lazy("Keyword"),
    "other": lazy("Other"),
}
#: MARC language codes (ISO 639-2/B) of the languages Vietnamese libraries meet most, → ISO 639-1,
#: whose names Babel knows in every interface language.
_B_TO_TWO = {
    "vie": "vi", "eng": "en", "fre": "fr", "ger": "de", "chi": "zh", "jpn": "ja", "kor": "ko", "rus": "ru",
    "spa": "es", "ita": "it", "por": "pt", "tha": "th", "lao": "lo", "khm": "km", "ind": "id", "may": "ms",
    "dut": "nl", "swe": "sv", "lat": "la", "ara": "ar", "hin": "hi", "pol": "pl", "cze": "cs", "bul": "bg",
}


def options(vocabulary: dict[str, str]) -> list[tuple[str, str]]:
    return [(key, _(text)) for key, text in vocabulary.items()]


def label(vocabulary: dict[str, str], key: str | None) -> str:
    return _(vocabulary[key]) if key in vocabulary else (key or "")


def language_name(code: str | None) -> str:
    """A MARC language code as a name in the interface language ("vie" → "Tiếng Việt")."""
    if not code:
        return ""
    two = _B_TO_TWO.get(code.lower())
    if two is None:
        return code
    name = Locale.parse(current_language()).languages.get(two)
    return f"{name[:1].upper()}{name[1:]}" if name else code


def language_options(codes: list[str]) -> list[tuple[str, str]]:
    return sorted(((c, f"{language_name(c)} ({c})" if language_name(c) != c else c) for c in codes), key=lambda o: o[1])


def safe_link(url: str | None) -> str | None:
    """A link from harvested data, only when it is http(s): never ``javascript:`` or ``data:`` into a page."""
    text = (url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else None


def doi_link(doi: str | None) -> str | None:
    return f"https://doi.org/{quote(doi.strip(), safe='/:;()._-')}" if doi and doi.strip() else None

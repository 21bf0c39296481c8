"""OAI-PMH harvesting against a real HTTP server on 127.0.0.1: resumption tokens, incremental
``from``, errors, 503 + Retry-After, unsafe XML; and the real responses in ../shared/data/oai."""

import json
import unicodedata
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import i18n
from crm.sources.readers.feeds import FetchError
from crm.sources.readers.oai import OaiHarvest, read_page, retry_delay
from crm.sources.records import ItemRecord, Rejected
from crm.sources.xmlsafe import UnsafeXml
from tests.conftest import SHARED_DATA
from tests.sources.httpserver import Reply, Request, http_date, http_server  # noqa: F401 - the fixture

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OAI = SHARED_DATA / "oai"
needs_shared = pytest.mark.skipif(not OAI.is_dir(), reason="../shared/data/oai is not present")
DSPACE_VN = (FIXTURES / "oai-dspace-vn.xml").read_bytes()


@pytest.fixture(autouse=True)
def english():
    with i18n.language("en"):
        yield


def page(records: str = "", token: str | None = None, *, error: str = "") -> bytes:
    resumption = "" if token is None else f'<resumptionToken cursor="0">{token}</resumptionToken>'
    body = error or f"<ListRecords>{records}{resumption}</ListRecords>"
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            f"<responseDate>2025-11-04T00:00:00Z</responseDate><request>http://x</request>{body}</OAI-PMH>").encode()


def dc_record(n: int, title: str, datestamp: str = "2025-10-01T00:00:00Z") -> str:
    return (f"<record><header><identifier>oai:test:{n}</identifier><datestamp>{datestamp}</datestamp></header>"
            '<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
            f"<dc:identifier>https://repo.example.edu.vn/handle/1/{n}</dc:identifier></oai_dc:dc></metadata></record>")


def error(code: str, text: str = "") -> bytes:
    return page(error=f'<error code="{code}">{text}</error>')


async def harvest(harvester: OaiHarvest) -> list[ItemRecord | Rejected]:
    return [record async for record in harvester.records()]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# --- paging and incremental harvests ----------------------------------------------------------------


async def test_three_pages_are_followed_to_the_empty_token(http_server):
    pages = {
        None: page(dc_record(1, "Một") + dc_record(2, "Hai", "2025-10-03T00:00:00Z"), "tok-2"),
        "tok-2": page(dc_record(3, "Ba", "2025-10-09T12:00:00Z"), "tok-3"),
        "tok-3": page(dc_record(4, "Bốn", "2025-10-05T00:00:00Z") + '<resumptionToken completeListSize="4" cursor="3"/>'),
    }
    http_server.route("/oai", lambda request: Reply(body=pages[request.query.get("resumptionToken")]))
    harvester = OaiHarvest(http_server.url("/oai"), set_spec="col_1", from_datestamp="2025-10-01T00:00:00Z")
    records = await harvest(harvester)

    assert [r.title for r in records] == ["Một", "Hai", "Ba", "Bốn"]
    assert [r.record_key for r in records] == ["oai:test:1", "oai:test:2", "oai:test:3", "oai:test:4"]
    assert records[0].link == "https://repo.example.edu.vn/handle/1/1"
    assert (harvester.pages, harvester.problem, harvester.latest_datestamp) == (3, None, "2025-10-09T12:00:00Z")
    first, second, third = (r.query for r in http_server.requests_to("/oai"))
    assert first == {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "col_1", "from": "2025-10-01T00:00:00Z"}
    assert second == {"verb": "ListRecords", "resumptionToken": "tok-2"}  # the token is exclusive
    assert third == {"verb": "ListRecords", "resumptionToken": "tok-3"}


async def test_records_stream_page_by_page(http_server):
    pages = {None: page(dc_record(1, "A"), "next"), "next": page(dc_record(2, "B"))}
    http_server.route("/oai", lambda request: Reply(body=pages[request.query.get("resumptionToken")]))
    stream = OaiHarvest(http_server.url("/oai")).records()
    first = await anext(stream)
    assert first.title == "A" and len(http_server.requests) == 1  # page 2 not asked for yet
    assert [r.title async for r in stream] == ["B"]


async def test_no_records_match_is_an_empty_harvest(http_server):
    http_server.route("/oai", Reply(body=error("noRecordsMatch")))
    harvester = OaiHarvest(http_server.url("/oai"), from_datestamp="2025-11-01")
    assert await harvest(harvester) == []
    assert (harvester.problem, harvester.latest_datestamp, harvester.pages) == (None, None, 1)


async def test_a_bad_resumption_token_stops_with_a_problem(http_server):
    pages = {None: page(dc_record(1, "Kept"), "expired"), "expired": error("badResumptionToken", "expired")}
    http_server.route("/oai", lambda request: Reply(body=pages[request.query.get("resumptionToken")]))
    harvester = OaiHarvest(http_server.url("/oai"))
    assert [r.title for r in await harvest(harvester)] == ["Kept"]
    assert "resumption token" in harvester.problem and "after 2 pages" in harvester.problem
    assert harvester.latest_datestamp == "2025-10-01T00:00:00Z"


async def test_other_oai_errors_become_the_problem(http_server):
    http_server.route("/oai", Reply(body=error("cannotDisseminateFormat", "marc21 is not supported")))
    harvester = OaiHarvest(http_server.url("/oai"), metadata_prefix="marc21")
    assert await harvest(harvester) == []
    assert harvester.problem == "The repository answered with the error cannotDisseminateFormat: marc21 is not supported"


async def test_a_from_finer_than_the_repository_is_retried_by_day(http_server):
    def oai(request: Request) -> Reply:
        if "T" in request.query.get("from", ""):
            return Reply(body=error("badArgument", "granularity is YYYY-MM-DD"))
        return Reply(body=page(dc_record(1, "Daily")))

    http_server.route("/oai", oai)
    harvester = OaiHarvest(http_server.url("/oai"), from_datestamp="2025-10-01T08:00:00Z")
    assert [r.title for r in await harvest(harvester)] == ["Daily"]
    assert [r.query["from"] for r in http_server.requests] == ["2025-10-01T08:00:00Z", "2025-10-01"]
    assert harvester.problem is None


async def test_a_repeated_token_does_not_loop_forever(http_server):
    http_server.route("/oai", Reply(body=page(dc_record(1, "Again"), "same")))
    harvester = OaiHarvest(http_server.url("/oai"))
    assert len(await harvest(harvester)) == 2
    assert "same resumption token" in harvester.problem and harvester.pages == 2


async def test_an_unreadable_metadata_format_asks_nothing(http_server):
    harvester = OaiHarvest(http_server.url("/oai"), metadata_prefix="mods")
    assert await harvest(harvester) == []
    assert "mods" in harvester.problem and http_server.requests == []


# --- 503 and Retry-After ------------------------------------------------------------------------------


async def test_503_is_retried_after_retry_after(http_server):
    answers = [Reply(503, b"busy", {"Retry-After": "2"}), Reply(503, b"busy", {"Retry-After": http_date(30)}),
               Reply(503, b"busy", {"Retry-After": "3600"}), Reply(503, b"busy"), Reply(body=page(dc_record(1, "Finally")))]
    http_server.route("/oai", lambda request: answers.pop(0))
    sleeps = Sleeps()
    harvester = OaiHarvest(http_server.url("/oai"), sleep=sleeps, max_wait=60)
    assert [r.title for r in await harvest(harvester)] == ["Finally"]
    assert sleeps.waits[0] == 2 and 25 <= sleeps.waits[1] <= 31
    assert sleeps.waits[2:] == [60, 10]  # capped by max_wait; no Retry-After: the default wait
    assert harvester.pages == 1 and len(http_server.requests) == 5


async def test_503_past_the_retries_is_a_fetch_error(http_server):
    http_server.route("/oai", Reply(503, b"busy", {"Retry-After": "1"}))
    sleeps = Sleeps()
    with pytest.raises(FetchError, match="still unavailable after 2 retries") as caught:
        await harvest(OaiHarvest(http_server.url("/oai"), sleep=sleeps, max_retries=2))
    assert caught.value.status == 503 and sleeps.waits == [1, 1] and len(http_server.requests) == 3


def test_retry_after_reads_seconds_and_dates():
    assert retry_delay("120") == 120
    assert retry_delay("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: no wait
    assert retry_delay("soon") is None and retry_delay(None) is None


# --- what is not OAI-PMH, or not safe --------------------------------------------------------------


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header><identifier>oai:x:1</identifier>
<datestamp>2025-01-01</datestamp></header><metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol9;</dc:title></oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header><identifier>oai:x:1</identifier>
<datestamp>2025-01-01</datestamp></header><metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&xxe;</dc:title></oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"""


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
async def test_unsafe_xml_is_refused_without_expansion(http_server, content):
    http_server.route("/oai", Reply(body=content))
    harvester = OaiHarvest(http_server.url("/oai"))
    assert await harvest(harvester) == []
    assert harvester.problem.startswith("The OAI-PMH response was refused") and "entities" in harvester.problem
    assert "root:" not in harvester.problem and harvester.latest_datestamp is None


@pytest.mark.parametrize(("content", "message"), [
    (b"<html><body>Maintenance<br></body></html>", "did not send valid XML"),
    (b"Service temporarily down", "did not send valid XML"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "not an OAI-PMH response"),
])
async def test_a_page_that_is_not_oai_pmh_is_a_fetch_error(http_server, content, message):
    http_server.route("/oai", Reply(body=content))
    with pytest.raises(FetchError, match=message):
        await harvest(OaiHarvest(http_server.url("/oai")))


async def test_http_errors_and_addresses_are_fetch_errors(http_server):
    http_server.route("/oai", Reply(500, b"oops"))
    with pytest.raises(FetchError, match="HTTP 500"):
        await harvest(OaiHarvest(http_server.url("/oai"), sleep=Sleeps()))
    with pytest.raises(FetchError, match="Only http and https"):
        await harvest(OaiHarvest("ftp://repo.example.edu.vn/oai"))


# --- mapping ---------------------------------------------------------------------------------------


def test_a_vietnamese_dspace_page_maps_dublin_core():
    result = read_page(DSPACE_VN)
    thesis, article, book, deleted, untitled = result.records
    assert thesis.title == "Nghiên cứu ứng dụng trí tuệ nhân tạo trong quản lý thư viện đại học"
    assert (thesis.material_type, thesis.year, thesis.language, thesis.ddc) == ("thesis", 2024, "vie", "025.04")
    assert thesis.link == "http://hdl.handle.net/123456789/20481" and thesis.authors == ["Phạm Thị Lan Anh"]
    assert [s.heading for s in thesis.subjects] == ["Trí tuệ nhân tạo", "Thư viện đại học"]
    assert thesis.publisher == "Trường Đại học Khoa học Xã hội và Nhân văn"
    assert (article.doi, article.issns, article.material_type) == ("10.25073/2588-1094/vnuees.5123", ["2588-1094"], "article")
    assert article.journal == "VNU Journal of Science: Earth and Environmental Sciences"
    assert article.link == "https://repository.example.edu.vn/handle/123456789/20490"
    assert (book.title, book.isbns, book.language, book.material_type) == (
        "Giáo trình Khoa học thông tin thư viện", ["9786046298762"], "vie", "book")
    assert deleted == ItemRecord(record_key="oai:repository.example.edu.vn:123456789/19870", title="", deleted=True)
    assert isinstance(untitled, Rejected) and untitled.number == 5 and untitled.reason == "The record has no title."
    assert result.latest == "2025-10-25T00:00:00Z" and result.token is None


def test_marc21_records_go_through_the_marc_reader():
    marc = ('<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>'
            '<controlfield tag="001">VN0001</controlfield>'
            '<controlfield tag="008">250101s2024    vm            000 0 vie d</controlfield>'
            '<datafield tag="020" ind1=" " ind2=" "><subfield code="a">9786046298762</subfield></datafield>'
            '<datafield tag="245" ind1="1" ind2="0"><subfield code="a">Lịch sử Việt Nam /</subfield></datafield>'
            "</record>")
    content = page(f"<record><header><identifier>oai:opac:1</identifier><datestamp>2025-01-02</datestamp></header>"
                   f"<metadata>{marc}</metadata></record>")
    (record,) = read_page(content, "marc21").records
    assert record.record_key == "oai:opac:1" and record.title.startswith("Lịch sử Việt Nam")
    assert record.language == "vie"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda t: page(dc_record(1, escape(t))))))
def test_a_page_gives_records_or_a_fetch_error_never_anything_else(content):
    try:
        result = read_page(content)
    except (FetchError, UnsafeXml):
        return
    assert all(isinstance(r, ItemRecord | Rejected) for r in result.records)


# --- the real responses in ../shared/data/oai --------------------------------------------------------


@needs_shared
async def test_the_sickle_resumption_chain_over_http(http_server):
    folder = OAI / "sickle/sickle/tests/sample_data"
    http_server.route("/oai", lambda request: Reply(
        body=(folder / request.query.get("resumptionToken", "ListRecords.xml")).read_bytes()))
    harvester = OaiHarvest(http_server.url("/oai"))
    records = await harvest(harvester)
    assert harvester.pages == 4 and harvester.problem is None
    assert len(records) == 8
    # ListRecords4.xml has a header without identifier: rejected with its position, the rest kept.
    rejected = [r for r in records if isinstance(r, Rejected)]
    assert rejected == [Rejected(7, "The record has no OAI identifier.")]
    records = [r for r in records if isinstance(r, ItemRecord)]
    deleted = [r for r in records if r.deleted]
    assert deleted and all(r.title == "" for r in deleted)
    live = [r for r in records if not r.deleted]
    assert all(r.title for r in live) and live[0].authors == ["John Doe"] and live[0].language == "eng"


@needs_shared
async def test_pyoai_canned_responses_with_from(http_server):
    folder = OAI / "pyoai/src/oaipmh/tests/fake2"
    lines = (folder / "mapping.txt").read_text().split()
    mapping = dict(zip(lines[::2], lines[1::2], strict=True))

    def oai(request: Request) -> Reply:
        name = mapping.get(urlencode(sorted(request.query.items())))
        return Reply(body=(folder / name).read_bytes()) if name else Reply(body=error("badArgument"))

    http_server.route("/oai", oai)
    harvester = OaiHarvest(http_server.url("/oai"), from_datestamp="2004-01-01T00:00:00Z")
    records = await harvest(harvester)
    assert harvester.problem is None and len(records) == 81
    first = records[0]
    assert (first.record_key, first.title) == ("hdl:1765/9", "The Causality of Supply Relationships")
    assert first.authors == ["Jong, G. de", "Nooteboom, B."] and first.link == "http://hdl.handle.net/1765/9"
    assert first.year == 2001 and first.language == "eng"
    assert harvester.latest_datestamp == "2004-02-17T10:32:17Z"


@needs_shared
def test_traject_pages_with_and_without_namespaces_agree():
    folder = OAI / "traject/test/test_support"
    with_ns = read_page((folder / "sample-oai-pmh.xml").read_bytes())
    without = read_page((folder / "sample-oai-no-namespace.xml").read_bytes())
    assert len(with_ns.records) == len(without.records) == 10
    assert [r.title for r in with_ns.records] == [r.title for r in without.records]
    assert with_ns.token and with_ns.token == without.token
    spice = with_ns.records[1]
    assert spice.title == "Spice Storage" and spice.year == 1950
    assert "Perfumes industry" in [s.heading for s in spice.subjects]


@needs_shared
def test_vietnamese_journal_names_from_metha_keep_their_diacritics_in_nfc():
    """metha-vn lists Vietnamese OJS journals; their names, sent decomposed (NFD), come back NFC."""
    journals = [json.loads(line) for line in (OAI / "metha-vn/pkp_ojs_journals_vn.ndjson").read_text().splitlines() if line]
    names = [j["name"] for j in journals]
    assert any("Đà Lạt" in name for name in names)
    records = "".join(
        f"<record><header><identifier>oai:vn:{n}</identifier><datestamp>2025-01-01</datestamp></header>"
        '<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{unicodedata.normalize('NFD', name.replace('&', '&amp;'))}</dc:title>"
        f"<dc:source>{unicodedata.normalize('NFD', name.replace('&', '&amp;'))}; Vol. 1 No. 2 (2024)</dc:source>"
        "</oai_dc:dc></metadata></record>" for n, name in enumerate(names))
    read = read_page(page(records)).records
    assert [r.title for r in read] == [unicodedata.normalize("NFC", name) for name in names]
    assert all(unicodedata.is_normalized("NFC", r.journal) and r.material_type == "article" for r in read)

"""Feeds: fetching over real HTTP (127.0.0.1) and parsing real feeds — the feedparser and feed-rs
suites from ../shared/data when present — plus a Koha new-titles feed and a journal TOC feed."""

import asyncio
import io
import re
import socket
import time
import unicodedata
from pathlib import Path
from xml.sax import SAXParseException

import feedparser
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import i18n
from crm.sources.readers import feeds
from crm.sources.readers.feeds import FetchError, fetch, parse_feed
from crm.sources.readers.fields import language_code
from crm.sources.records import ItemRecord, Rejected
from tests.conftest import SHARED_DATA
from tests.sources.httpserver import Reply, Request, http_date, http_server  # noqa: F401 - the fixture

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FEEDS = SHARED_DATA / "feeds"
needs_shared = pytest.mark.skipif(not FEEDS.is_dir(), reason="../shared/data/feeds is not present")
TAGS = re.compile(r"<[^>]*>")
KOHA = (FIXTURES / "koha-new-titles.rss").read_bytes()
TOC = (FIXTURES / "journal-toc.rdf").read_bytes()


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English; one test checks the Vietnamese default."""
    with i18n.language("en"):
        yield


def rss(items: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>{head}'
            f"{items}</channel></rss>").encode()


# --- fetch ---------------------------------------------------------------------------------


async def test_conditional_get_answers_not_modified_the_second_time(http_server):
    modified = http_date(-3600)

    def feed(request: Request) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(body=KOHA, headers={"ETag": '"v1"', "Last-Modified": modified,
                                         "Content-Type": "application/rss+xml; charset=utf-8"})

    http_server.route("/feed", feed)
    first = await fetch(http_server.url("/feed"))
    assert (first.not_modified, first.status, first.content) == (False, 200, KOHA)
    assert (first.etag, first.last_modified) == ('"v1"', modified)
    assert first.content_type.startswith("application/rss+xml")

    second = await fetch(http_server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert (second.not_modified, second.status, second.content) == (True, 304, b"")
    assert (second.etag, second.last_modified) == ('"v1"', modified)
    asked = http_server.requests_to("/feed")[-1].headers
    assert asked["if-none-match"] == '"v1"' and asked["if-modified-since"] == modified
    assert "liaison-crm" in asked["user-agent"]


async def test_redirects_are_followed_up_to_the_limit(http_server):
    for hop in range(8):
        http_server.route(f"/hop/{hop}", Reply(302, headers={"Location": f"/hop/{hop + 1}"}))
    http_server.route("/hop/8", Reply(body=KOHA))
    http_server.route("/moved", Reply(301, headers={"Location": "/hop/6"}))

    result = await fetch(http_server.url("/moved"), max_redirects=3)
    assert result.url == http_server.url("/hop/8") and result.content == KOHA

    with pytest.raises(FetchError, match="Too many redirects"):
        await fetch(http_server.url("/hop/0"), max_redirects=3)
    assert len(http_server.requests_to("/hop/3")) == 1 and not http_server.requests_to("/hop/4")


async def test_a_redirect_to_another_scheme_is_refused(http_server):
    http_server.route("/sneaky", Reply(302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(FetchError, match="Only http and https"):
        await fetch(http_server.url("/sneaky"))
    http_server.route("/nowhere-to-go", Reply(302))
    with pytest.raises(FetchError, match="redirect without a valid address"):
        await fetch(http_server.url("/nowhere-to-go"))


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "file:///etc/passwd", "javascript:alert(1)", "not a url", ""])
async def test_only_http_and_https_addresses_are_fetched(url):
    with pytest.raises(FetchError, match="Only http and https"):
        await fetch(url)


async def test_a_slow_server_times_out(http_server):
    http_server.route("/slow", Reply(body=KOHA, delay=3))
    began = time.monotonic()
    with pytest.raises(FetchError, match="did not answer within 0.3 seconds"):
        await fetch(http_server.url("/slow"), timeout=0.3)
    assert time.monotonic() - began < 2


async def test_a_server_dripping_bytes_is_cut_off_at_the_deadline(http_server):
    http_server.route("/drip", Reply(body=b"x" * 40, chunk=2, pause=0.1))
    with pytest.raises(FetchError, match="took longer than 0.5 seconds"):
        await fetch(http_server.url("/drip"), timeout=2, deadline=0.5)


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "streamed"])
async def test_an_oversized_response_is_refused(http_server, length):
    http_server.route("/big", Reply(body=b"<rss>" + b" " * (1024 * 1024), length=length))
    with pytest.raises(FetchError, match="larger than 64 KB"):
        await fetch(http_server.url("/big"), max_bytes=64 * 1024)
    http_server.route("/small", Reply(body=KOHA, length=length))
    assert (await fetch(http_server.url("/small"), max_bytes=64 * 1024)).content == KOHA


async def test_http_errors_carry_their_status(http_server):
    http_server.route("/broken", Reply(500, b"oops"))
    with pytest.raises(FetchError, match="HTTP 500") as caught:
        await fetch(http_server.url("/broken"))
    assert caught.value.status == 500
    with pytest.raises(FetchError, match="HTTP 404"):
        await fetch(http_server.url("/nowhere"))


async def test_a_refused_connection_is_a_fetch_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="Could not connect to 127.0.0.1"):
        await fetch(f"http://127.0.0.1:{port}/feed", timeout=2)


async def test_a_given_client_is_used_and_left_open(http_server):
    http_server.route("/feed", Reply(body=TOC))
    async with httpx.AsyncClient() as client:
        assert (await fetch(http_server.url("/feed"), client=client)).content == TOC
        assert not client.is_closed


async def test_messages_are_in_the_librarians_language(http_server):
    http_server.route("/broken", Reply(503, b"busy"))
    with i18n.language("vi"), pytest.raises(FetchError) as caught:
        await fetch(http_server.url("/broken"))
    assert "Máy chủ trả lời HTTP 503" in caught.value.message


async def test_fetch_then_parse_in_a_thread(http_server):
    http_server.route("/koha", Reply(body=KOHA, headers={"Content-Type": "application/rss+xml; charset=utf-8"}))
    fetched = await fetch(http_server.url("/koha"))
    result = await asyncio.to_thread(parse_feed, fetched.content, fetched.url, content_type=fetched.content_type)
    assert result.problem is None and result.kind == "rss20"
    assert sum(isinstance(r, ItemRecord) for r in result.records) == 4


# --- parse_feed: our fixtures ---------------------------------------------------------------


def test_a_koha_new_titles_feed_gives_books():
    result = parse_feed(KOHA, "https://opac.thuvien.example.edu.vn/cgi-bin/koha/opac-search.pl")
    assert result.problem is None and result.kind == "rss20"
    assert result.title.startswith("Thư viện Trường Đại học Khoa học Tự nhiên")
    first, second, third, fourth, fifth = result.records
    assert first.record_key == "https://opac.thuvien.example.edu.vn/cgi-bin/koha/opac-detail.pl?biblionumber=48213"
    assert first.title == "Giáo trình cấu trúc dữ liệu và giải thuật"
    assert first.subtitle == "dùng cho sinh viên ngành công nghệ thông tin"
    assert first.authors == ["Nguyễn Đức Nghĩa"]
    assert first.isbns == ["9786043356915", "6043356910"]
    assert (first.year, first.ddc, first.lcc, first.material_type) == (2024, "005.73", None, "book")
    assert first.abstract is None and first.link == first.record_key
    assert (second.isbns, second.ddc, second.year) == (["9786040254139"], "547", 2023)
    assert third.authors == ["Murphy, Kevin P."] and third.lcc == "Q325.5" and third.year == 2012
    # No ISBN, but from the same catalogue: still a book, its year from the citation.
    assert (fourth.material_type, fourth.isbns, fourth.year, fourth.authors) == ("book", [], 2025, [])
    assert fifth == Rejected(5, "The entry has neither a title nor a link.")
    for record in result.records[:4]:
        assert unicodedata.is_normalized("NFC", record.title)


def test_a_journal_toc_feed_gives_articles_with_dois():
    result = parse_feed(TOC, "https://tckh.example.edu.vn/index.php/tckh/gateway/plugin/WebFeedGatewayPlugin/rss")
    assert result.problem is None and result.kind == "rss10"
    first, second, third = result.records
    assert first.title == "Đánh giá đa dạng di truyền của giống lúa địa phương ở Lâm Đồng bằng chỉ thị SSR"
    assert first.authors == ["Nguyễn Thị Thu Hà", "Trần Văn Bình"]
    assert first.doi == "10.37569/DalatUniversity.15.3.1201(2025)"
    assert first.journal == "Tạp chí Khoa học Đại học Đà Lạt"
    assert first.issns == ["0866-787X", "3030-4040"]
    assert (first.language, first.material_type, first.year) == ("vie", "article", 2025)
    assert [s.heading for s in first.subjects] == ["đa dạng di truyền", "lúa địa phương", "chỉ thị SSR"]
    assert {s.scheme for s in first.subjects} == {"keyword"}
    assert first.abstract == "Nghiên cứu này đánh giá đa dạng di truyền của 24 giống lúa địa phương bằng 30 chỉ thị SSR."
    assert first.publisher == "Trường Đại học Đà Lạt"
    assert second.doi == "10.37569/DalatUniversity.15.3.1202(2025)"  # from dc:identifier https://doi.org/…
    assert third.doi == "10.37569/DalatUniversity.15.3.1203(2025)"  # from a doi.org link
    assert third.link == "https://doi.org/10.37569/DalatUniversity.15.3.1203(2025)"


def test_text_is_nfc_and_html_is_stripped():
    decomposed = unicodedata.normalize("NFD", "Nghiên cứu văn hoá Việt Nam")
    body = rss(f"<item><title>{decomposed} &lt;b&gt;mới&lt;/b&gt;</title><link>http://x.example/1</link>"
               f"<description>&lt;p&gt;{decomposed}&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</description></item>",
               head="<language>vi-VN</language>")
    (record,) = parse_feed(body, "http://x.example/feed").records
    assert record.title == "Nghiên cứu văn hoá Việt Nam mới"
    assert record.abstract == "Nghiên cứu văn hoá Việt Nam"
    assert record.language == "vie" and record.material_type == "other"


def test_a_declared_legacy_encoding_is_honoured_without_a_report():
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
            "<item><title>Café Müller</title><link>http://x.example/1</link></item></channel></rss>").encode("latin-1")
    for content_type in ("text/xml", None):  # text/xml alone means us-ascii to RFC 3023, yet the XML says better
        result = parse_feed(body, "http://x.example/feed", content_type=content_type)
        assert result.problem is None and result.records[0].title == "Café Müller"


def test_an_entry_without_id_or_link_gets_a_stable_key():
    body = rss("<item><title>Only a title</title><pubDate>Tue, 04 Nov 2025 08:00:00 GMT</pubDate></item>")
    first = parse_feed(body, "http://x.example/feed").records[0]
    again = parse_feed(body, "http://x.example/feed").records[0]
    assert first.record_key.startswith("sha1:") and first.record_key == again.record_key
    assert first.year == 2025 and first.link is None


def test_an_ill_formed_feed_keeps_what_was_recovered_and_says_why():
    body = rss("<item><title>Kept &amp; well</title><link>http://x.example/1</link></item>"
               "<item><title>Broken <b>tag</title><link>http://x.example/2</link></item>")
    result = parse_feed(body, "http://x.example/feed")
    assert result.problem and "not well-formed" in result.problem
    assert [r.title for r in result.records if isinstance(r, ItemRecord)][0] == "Kept & well"


@pytest.mark.parametrize(("content", "expected"), [
    (b"<html><body><p>Hello</p></body></html>", "not an RSS or Atom feed"),
    (b"", "not an RSS or Atom feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "JSON Feed"),
])
def test_what_is_not_a_feed_is_said_so(content, expected):
    result = parse_feed(content, "http://x.example/feed")
    assert expected in result.problem and result.records == []


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>',
    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
], ids=["billion-laughs", "external-entity"])
def test_feeds_declaring_entities_are_refused(doctype):
    body = f'<?xml version="1.0"?>{doctype}<rss version="2.0"><channel><item><title>&c;&xxe;</title></item></channel></rss>'
    result = parse_feed(body.encode(), "http://x.example/feed")
    assert "entities" in result.problem and result.records == []


def test_the_rss_091_doctype_is_still_read():
    body = (b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            b'"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel><title>N</title>'
            b"<item><title>Old school</title><link>http://x.example/1</link></item></channel></rss>")
    result = parse_feed(body, "http://x.example/feed")
    assert result.problem is None and result.records[0].title == "Old school"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400),
                 st.text(max_size=300).map(lambda t: rss(f"<item><title>{t}</title><description>{t}</description></item>"))))
def test_parse_feed_never_raises(content):
    result = parse_feed(content, "http://x.example/feed")
    assert all(isinstance(r, ItemRecord | Rejected) for r in result.records)


def test_language_codes_become_marc_codes():
    assert [language_code(v) for v in ("vi", "vi-VN", "en_US", "EN", "eng", "fra", "English", "Tiếng Việt", "x", None)] == [
        "vie", "vie", "eng", "eng", "eng", "fre", "eng", "vie", None, None]


# --- parse_feed: the real suites in ../shared/data ------------------------------------------------


def _feed_files(*folders: str) -> list[Path]:
    found: list[Path] = []
    for folder in folders:
        found += [p for p in sorted((FEEDS / folder).rglob("*")) if p.suffix in (".xml", ".json") and not p.name.endswith(".serde.json")]
    return found


@needs_shared
def test_every_ill_formed_feed_is_parsed_without_an_exception():
    files = _feed_files("feedparser/tests/illformed") + [p for p in _feed_files("feed-rs") if "invalid" in p.name]
    assert len(files) >= 15
    for path in files:
        content = path.read_bytes()
        result = parse_feed(content, f"http://example.org/{path.name}")
        assert isinstance(result, feeds.FeedResult), path
        assert all(isinstance(r, ItemRecord | Rejected) for r in result.records), path
        if isinstance(feedparser.parse(io.BytesIO(content)).get("bozo_exception"), SAXParseException):
            assert result.problem, path  # what XML itself rejects is reported


@needs_shared
def test_every_well_formed_feed_is_parsed_and_titled_entries_become_records():
    files = _feed_files("feedparser/tests/wellformed", "feedparser/tests/encoding", "feedparser/tests/entities",
                        "feedparser/tests/json", "feed-rs")
    assert len(files) > 1500
    records = 0
    for path in files:
        content = path.read_bytes()
        result = parse_feed(content, f"http://example.org/{path.name}")
        if result.problem and "entities" in result.problem:
            continue  # two suite files declare entities: refused by design
        titled = [e for e in feedparser.parse(io.BytesIO(content)).entries if TAGS.sub("", e.get("title") or "").strip()]
        read = [r for r in result.records if isinstance(r, ItemRecord)]
        assert all(r.title and unicodedata.is_normalized("NFC", r.title) for r in read), path
        if titled and not result.problem:
            assert len(read) >= 1, path
        records += len(read)
    assert records > 250


@needs_shared
def test_biorxiv_rss_1_gives_dois_and_dc_creator_authors():
    content = (FEEDS / "feed-rs/feed-rs/fixture/rss1/rss_1.0_biorxiv.xml").read_bytes()
    result = parse_feed(content, "http://connect.biorxiv.org/biorxiv_xml/genomics")
    assert result.kind == "rss10" and result.problem is None
    (record,) = result.records
    assert record.doi == "10.1101/2023.12.16.571984"
    assert record.authors[:3] == ["LAPALU, N.", "SIMON, A.", "Lu, A."] and record.authors[-1] == "O'Connell, R. J."
    assert (record.journal, record.material_type, record.year) == ("bioRxiv", "article", 2023)
    assert record.publisher == "Cold Spring Harbor Laboratory"
    assert record.title.startswith("Complete genome of the Medicago anthracnose fungus")

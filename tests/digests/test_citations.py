"""Citations through citeproc-py (APA by default, other CSL styles by name) and the reader's link."""

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import crm.models  # noqa: F401  (mappers)
from crm.digests import citations
from crm.digests.citations import format_citation, item_link, split_name
from crm.settings import DigestSettings
from crm.sources.models import Item

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def item(item_id: int, title: str, **fields) -> Item:
    values = {"authors": [], "isbns": [], "issns": [], "subjects": [], "first_seen_at": NOW, "last_updated_at": NOW,
              **fields}
    return Item(id=item_id, title=title, **values)


BOOK = item(1, "Thư viện số", authors=["Nguyễn Văn An"], year=2024, publisher="NXB Trẻ", material_type="book",
            language="vie", isbns=["9786041234567"], control_number="VNU:000123")
ARTICLE = item(2, "Open access in Vietnam", authors=["Lê, Thị Hoa"], year=2025, journal="Journal of Librarianship",
               doi="10.1234/jl.2025.45", material_type="article", issns=["1234-5678"], language="eng")


def test_apa_book_with_a_vietnamese_name():
    assert format_citation(BOOK, "apa", "vi").html == "Nguyễn, V. A. (2024). <i>Thư viện số</i>. NXB Trẻ."
    assert format_citation(BOOK, "apa", "vi").text == "Nguyễn, V. A. (2024). Thư viện số. NXB Trẻ."


def test_apa_article_with_doi():
    cited = format_citation(ARTICLE, "apa", "en", "articles")
    assert cited.html == ("Lê, T. H. (2025). Open access in Vietnam. <i>Journal of Librarianship</i>. "
                          "https://doi.org/10.1234/jl.2025.45")


def test_names_split_as_librarians_write_them():
    assert split_name("Nguyễn Văn An") == {"family": "Nguyễn", "given": "Văn An"}
    assert split_name("Nguyễn, Văn An, 1960-") == {"family": "Nguyễn", "given": "Văn An"}
    assert split_name("Lê Đăng Khoa") == {"family": "Lê", "given": "Đăng Khoa"}
    assert split_name("Smith, John") == {"family": "Smith", "given": "John"}
    assert split_name("John Smith") == {"family": "Smith", "given": "John"}
    assert split_name("Trường Đại học Bách khoa. Khoa Công nghệ") == {"literal": "Trường Đại học Bách khoa. Khoa Công nghệ"}
    assert split_name("World Health Organization") == {"literal": "World Health Organization"}
    assert split_name("UNESCO") == {"literal": "UNESCO"}


def test_institutional_author_is_cited_whole():
    report = item(3, "Báo cáo thường niên", authors=["Trường Đại học Bách khoa Hà Nội"], year=2023, publisher="ĐHBK")
    assert format_citation(report, "apa", "vi").text.startswith("Trường Đại học Bách khoa Hà Nội. (2023).")


def test_other_styles_and_a_numeric_style_loses_its_number():
    ieee = format_citation(ARTICLE, "ieee", "en", "articles").text
    assert ieee == "T. H. Lê, “Open access in Vietnam”, Journal of Librarianship, 2025, doi: 10.1234/jl.2025.45."
    harvard = format_citation(BOOK, "harvard-cite-them-right", "vi").text
    assert harvard == "Nguyễn, V.A. (2024) Thư viện số. NXB Trẻ."
    # Vietnamese titles keep their own capitalization even in a title-case style.
    assert "Thư viện số" in format_citation(BOOK, "chicago-author-date", "vi").text


def test_an_unknown_style_falls_back_to_apa_with_a_warning(caplog):
    citations.style_name.cache_clear()
    with caplog.at_level(logging.WARNING, logger="crm.digests"):
        assert citations.style_name("no-such-style") == "apa"
        assert citations.style_name("../../etc/passwd") == "apa"
    assert "no-such-style" in caplog.text
    assert format_citation(BOOK, "no-such-style", "vi").text == format_citation(BOOK, "apa", "vi").text


def test_values_are_escaped_and_only_the_formatters_markup_remains():
    evil = item(4, "Hacking <script>alert(1)</script> & co", authors=["O'Brien, <b>Pat</b>"], publisher="<i>P</i> & Q",
                year=2020)
    cited = format_citation(evil, "apa", "en")
    assert "<script>" not in cited.html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in cited.html
    assert "<b>" not in cited.html and "&lt;i&gt;P&lt;/i&gt; &amp; Q" in cited.html
    assert "Hacking <script>alert(1)</script> & co" in cited.text


def test_citations_are_cached_until_the_item_changes():
    first = format_citation(BOOK, "apa", "vi")
    assert format_citation(BOOK, "apa", "vi") is first
    changed = replace_item(BOOK, title="Thư viện số (tái bản)", last_updated_at=NOW + timedelta(days=1))
    assert "tái bản" in format_citation(changed, "apa", "vi").text


def replace_item(original: Item, **changes) -> Item:
    values = {c.key: getattr(original, c.key) for c in Item.__table__.columns if c.key in (
        "id", "title", "subtitle", "authors", "year", "publisher", "material_type", "language", "isbns", "issns",
        "doi", "journal", "control_number", "first_seen_at", "last_updated_at", "link")}
    return Item(**{**values, **changes})


# --- links -----------------------------------------------------------------------------------


def test_held_items_link_to_the_opac_record():
    by_control = DigestSettings(opac_record_url="https://opac.lib.example.edu.vn/record/{control_number}")
    link = item_link(BOOK, "acquisitions", frozenset({"marc"}), None, by_control)
    assert link.kind == "opac" and link.url == "https://opac.lib.example.edu.vn/record/000123"
    by_isbn = DigestSettings(opac_record_url="https://opac.lib.example.edu.vn/search?isbn={isbn}")
    assert item_link(BOOK, "acquisitions", frozenset({"marc"}), None, by_isbn).url.endswith("isbn=9786041234567")
    # Without an ISBN the ISBN template cannot be filled: the item's own link is used.
    no_isbn = replace_item(BOOK, isbns=[], link="https://lib.example.edu.vn/b/1")
    assert item_link(no_isbn, "acquisitions", frozenset({"marc"}), None, by_isbn) == citations.ItemLink(
        "https://lib.example.edu.vn/b/1", "url")
    # A feed item is not held: no OPAC link even when configured.
    assert item_link(ARTICLE, "articles", frozenset({"feed"}), None, by_control).kind == "doi"


def test_articles_go_to_the_link_resolver_when_configured_else_the_doi():
    assert item_link(ARTICLE, "articles", frozenset({"feed"}), None, DigestSettings()).url == \
        "https://doi.org/10.1234/jl.2025.45"
    resolver = DigestSettings(openurl_base="https://resolver.lib.example.edu.vn/openurl")
    link = item_link(ARTICLE, "articles", frozenset({"feed"}), None, resolver)
    assert link.kind == "openurl"
    parts = urlsplit(link.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://resolver.lib.example.edu.vn/openurl"
    query = parse_qs(parts.query)
    assert query["url_ver"] == ["Z39.88-2004"] and query["rft_val_fmt"] == ["info:ofi/fmt:kev:mtx:journal"]
    assert query["rft.atitle"] == ["Open access in Vietnam"] and query["rft.jtitle"] == ["Journal of Librarianship"]
    assert query["rft.issn"] == ["1234-5678"] and query["rft_id"] == ["info:doi/10.1234/jl.2025.45"]
    assert query["rft.date"] == ["2025"] and query["rft.aulast"] == ["Lê"]


def test_other_items_use_their_own_safe_link():
    thesis = item(5, "Luận văn", material_type="thesis", link="javascript:alert(1)")
    assert item_link(thesis, "repository", frozenset({"oai"}), "https://repo.example.edu.vn/handle/1/2",
                     DigestSettings()).url == "https://repo.example.edu.vn/handle/1/2"
    assert item_link(thesis, "repository", frozenset({"oai"}), None, DigestSettings()) is None

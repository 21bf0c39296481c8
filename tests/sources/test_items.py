"""The item browser: recent items first, filters, diacritic-insensitive search, an item with all its sources."""

from datetime import UTC, date, datetime, timedelta

import pytest

from crm.sources.models import Item, ItemSource, Source
from crm.sources.normalize import normalize, search_key
from crm.sources.records import ItemRecord, Subject
from tests.conftest import bearer

XSS = "<script>alert('x')</script>"
NOW = datetime.now(UTC)


async def make_source(factory, name: str, kind: str = "feed") -> Source:
    return await factory.add(Source(name=name, kind=kind, url="https://opac.example.edu.vn/rss" if kind != "marc" else None,
                                    interval_minutes=None))


async def make_item(factory, record: ItemRecord, *, seen: datetime = NOW, links: list[tuple[Source, str]] = ()) -> Item:
    """An item as the ingest stores it (normalized values and search key), linked to sources."""
    values = normalize(record, 1).values
    item = await factory.add(Item(**values, search_key=search_key(values), first_seen_at=seen, last_updated_at=seen))
    for source, key in links:
        await factory.add(ItemSource(item_id=item.id, source_id=source.id, record_key=key, content_hash="x" * 64,
                                     seen_at=seen, link=f"https://opac.example.edu.vn/b/{key}"))
    return item


@pytest.fixture
async def catalogue(factory):
    koha = await make_source(factory, "Koha — tài liệu mới", kind="marc")
    toc = await make_source(factory, "Mục lục Tạp chí Thư viện")
    so = await make_item(factory, ItemRecord(
        record_key="1", title="Thư viện số", subtitle="lý thuyết và thực hành", authors=["Nguyễn Văn An"],
        subjects=[Subject("Thư viện số", "local"), Subject("Digital libraries", "lcsh")], ddc="025.04",
        isbns=["978-604-335-691-5"], publisher="Đại học Quốc gia Hà Nội", year=2024, language="vie",
        material_type="book", acquired_on=date(2025, 10, 15), link="https://opac.example.edu.vn/b/1"),
        seen=NOW - timedelta(days=1), links=[(koha, "VNU:1"), (toc, "https://tapchi.example.edu.vn/a/9")])
    ml = await make_item(factory, ItemRecord(
        record_key="2", title="Machine learning basics", authors=["Smith, John"], lcc="QA76.73.P98 S65 2023",
        year=2023, language="eng", material_type="ebook", doi="10.1000/ML.2023.1"),
        seen=NOW - timedelta(days=3), links=[(koha, "VNU:2")])
    article = await make_item(factory, ItemRecord(
        record_key="3", title="Đánh giá chất lượng dịch vụ thư viện đại học", authors=["Trần Thị Bình"],
        journal="Tạp chí Thư viện Việt Nam", issns=["1859-1450"], year=2025, language="vie", material_type="article",
        ddc="027.7"), seen=NOW, links=[(toc, "https://tapchi.example.edu.vn/a/10")])
    return {"koha": koha, "toc": toc, "so": so, "ml": ml, "article": article}


async def titles(client, headers, **params) -> list[str]:
    r = await client.get("/api/items", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [i["title"] for i in r.json()["items"]]


async def test_recent_items_first_and_every_filter(client, librarian_token, catalogue):
    h = bearer(librarian_token)
    assert await titles(client, h) == ["Đánh giá chất lượng dịch vụ thư viện đại học", "Thư viện số",
                                       "Machine learning basics"]
    assert await titles(client, h, source_id=catalogue["koha"].id) == ["Thư viện số", "Machine learning basics"]
    assert await titles(client, h, language="eng") == ["Machine learning basics"]
    assert await titles(client, h, language="VIE") == ["Đánh giá chất lượng dịch vụ thư viện đại học", "Thư viện số"]
    assert await titles(client, h, material_type="article") == ["Đánh giá chất lượng dịch vụ thư viện đại học"]
    # Classes: a DDC number and what is under it, hundreds, ranges; an LCC class.
    assert await titles(client, h, **{"class": "025"}) == ["Thư viện số"]
    assert await titles(client, h, **{"class": "0"}) == ["Đánh giá chất lượng dịch vụ thư viện đại học", "Thư viện số"]
    assert await titles(client, h, **{"class": "025-026.99"}) == ["Thư viện số"]
    assert await titles(client, h, **{"class": "QA76"}) == ["Machine learning basics"]
    assert await titles(client, h, **{"class": "QA77"}) == []
    # Dates: first seen here, or acquired by the library.
    today = NOW.astimezone().date()
    assert await titles(client, h, date_from=(today - timedelta(days=2)).isoformat()) == [
        "Đánh giá chất lượng dịch vụ thư viện đại học", "Thư viện số"]
    assert await titles(client, h, date_to=(today - timedelta(days=2)).isoformat()) == ["Machine learning basics"]
    assert await titles(client, h, date_field="acquired", date_from="2025-10-01", date_to="2025-10-31") == ["Thư viện số"]
    assert (await titles(client, h, sort="acquired"))[0] == "Thư viện số"
    # Paging.
    r = await client.get("/api/items", params={"per_page": 2, "page": 2}, headers=h)
    assert r.json()["total"] == 3 and [i["title"] for i in r.json()["items"]] == ["Machine learning basics"]


async def test_search_ignores_case_and_diacritics(client, librarian_token, catalogue):
    h = bearer(librarian_token)
    for q in ("thu vien so", "Thư viện số", "THU VIEN", "nguyen van an", "ly thuyet", "digital libraries",
              "9786043356915", "978-604-335-691-5", "thư  viện   so"):
        assert "Thư viện số" in await titles(client, h, q=q), q
    assert await titles(client, h, q="thu vien so") == ["Thư viện số"]  # every word must match
    assert await titles(client, h, q="dich vu thu vien") == ["Đánh giá chất lượng dịch vụ thư viện đại học"]
    assert await titles(client, h, q="10.1000/ml.2023.1") == ["Machine learning basics"]
    assert await titles(client, h, q="%") == [] and await titles(client, h, q="_") == []
    assert await titles(client, h, q="thu " * 3000) != []  # a pasted paragraph is a search, not an error
    assert await titles(client, h, q="thu vien", language="eng") == []


async def test_bad_filters(client, librarian, librarian_token, catalogue):
    h = bearer(librarian_token)
    for params, field in (({"class": "not a class"}, "class"), ({"language": "vietnamese"}, "language")):
        r = await client.get("/api/items", params=params, headers=h)
        assert r.status_code == 400 and field in r.json()["errors"], params
    for params in ({"material_type": "scroll"}, {"date_from": "31/12/2025x"}, {"source_id": "abc"}, {"page": "0"},
                   {"source_id": "99999999999999999999999"}, {"sort": "random"}):
        assert (await client.get("/api/items", params=params, headers=h)).status_code == 400, params
    assert await titles(client, h, source_id=999999) == []
    # The page is lenient: a bad filter is explained and ignored.
    r = await client.get("/items", params={"class": "không phải", "date_from": "hôm qua", "type": "scroll", "source_id": "x",
                                           "language": "vietnamese", "page": "-3"})
    assert r.status_code == 200 and 'id="e-class"' in r.text and 'id="e-date_from"' in r.text
    assert "Thư viện số" in r.text


async def test_item_api_detail_lists_every_source(client, librarian_token, catalogue):
    h = bearer(librarian_token)
    r = await client.get(f"/api/items/{catalogue['so'].id}", headers=h)
    assert r.status_code == 200
    item = r.json()
    assert item["isbns"] == ["9786043356915"] and item["ddc"] == "025.04" and item["acquired_on"] == "2025-10-15"
    assert {"heading": "Digital libraries", "scheme": "lcsh"} in item["subjects"]
    assert sorted(s["source_name"] for s in item["sources"]) == ["Koha — tài liệu mới", "Mục lục Tạp chí Thư viện"]
    assert {s["record_key"] for s in item["sources"]} == {"VNU:1", "https://tapchi.example.edu.vn/a/9"}
    assert (await client.get("/api/items/999999", headers=h)).status_code == 404
    assert (await client.get("/api/items/99999999999999999999999", headers=h)).status_code in (400, 404)


async def test_item_pages(client, librarian, catalogue):
    r = await client.get("/items")
    assert r.status_code == 200 and "3 tài liệu" in r.text
    positions = [r.text.index(f'href="/items/{catalogue[k].id}"') for k in ("article", "so", "ml")]
    assert positions == sorted(positions)  # the most recent first
    assert "Koha — tài liệu mới" in r.text  # the source filter
    r = await client.get("/items", params={"q": "thu vien so"})
    assert "1 tài liệu" in r.text and f'href="/items/{catalogue["so"].id}"' in r.text and "Machine learning" not in r.text
    r = await client.get("/items", params={"source_id": catalogue["toc"].id, "type": "article", "class": "027"})
    assert "1 tài liệu" in r.text and "Đánh giá chất lượng" in r.text

    r = await client.get(f"/items/{catalogue['so'].id}")
    assert r.status_code == 200
    for text in ("Thư viện số", "lý thuyết và thực hành", "Nguyễn Văn An", "025.04", "9786043356915",
                 "Đại học Quốc gia Hà Nội", "Tiếng Việt", "Sách", "15/10/2025", "Koha — tài liệu mới",
                 "Mục lục Tạp chí Thư viện", "VNU:1", "https://tapchi.example.edu.vn/a/9", "Tiêu đề đề mục nội bộ"):
        assert text in r.text, text
    r = await client.get(f"/items/{catalogue['ml'].id}")
    assert 'href="https://doi.org/10.1000/ml.2023.1"' in r.text and "QA76.73.P98 S65 2023" in r.text
    assert (await client.get("/items/999999")).status_code == 404


async def test_item_text_is_escaped(client, librarian, factory):
    source = await make_source(factory, f"Nguồn {XSS}")
    item = await make_item(factory, ItemRecord(record_key="x", title=f"Nhan đề {XSS}", authors=[XSS],
                                               subjects=[Subject(XSS, "keyword")], abstract=XSS, publisher=XSS),
                           links=[(source, XSS)])
    async with factory.session_maker() as s, s.begin():
        stored = await s.get(Item, item.id)
        stored.link = "javascript:alert(1)"  # never from the ingest, but the page must not trust it
    for path in ("/items", f"/items/{item.id}", f"/sources/{source.id}"):
        r = await client.get(path)
        assert r.status_code == 200 and XSS not in r.text and "&lt;script&gt;" in r.text, path
    r = await client.get(f"/items/{item.id}")
    assert 'href="javascript:' not in r.text

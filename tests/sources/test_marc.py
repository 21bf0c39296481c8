"""The MARC21 / MARCXML reader: field mapping, encodings, bad records, unsafe XML, streaming."""

import gzip
import io
from datetime import date
from pathlib import Path

import pytest
from pymarc import Field, Indicators, Record, Subfield

from crm import i18n
from crm.sources.readers.marc import MarcError, detect_format, iter_marc, record_from_marc
from crm.sources.readers.marcfields import MarcRecordError
from crm.sources.records import ItemRecord, Rejected, Subject
from tests.conftest import SHARED_DATA

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MARC_DATA = SHARED_DATA / "marc"
# pymarc repairs non-ASCII subfield codes and says so; the reader silences it outside pytest.
pytestmark = pytest.mark.filterwarnings("ignore::pymarc.exceptions.BadSubfieldCodeWarning")


@pytest.fixture(autouse=True)
def english():
    with i18n.language("en"):
        yield


def read(name: str) -> list:
    with (FIXTURES / name).open("rb") as stream:
        return list(iter_marc(stream))


# --- field mapping ------------------------------------------------------------------------


def test_vietnamese_utf8_record():
    [item] = read("marc_vietnamese.mrc")
    assert item.record_key == item.control_number == "VNU-LIC:VN000123"
    assert item.title == "Thư viện số hóa trong trường đại học"
    assert item.subtitle == "lý thuyết và thực hành"
    assert item.authors == ["Nguyễn Văn An", "Trần Thị Bình"]
    assert item.isbns == ["978-604-73-7683-4 (bìa mềm)", "604737683-5"]  # normalized by ingest
    assert item.ddc == "025.04 TH-V" and item.lcc is None
    assert item.language == "vie" and item.year == 2023
    assert item.edition == "Tái bản lần thứ 2"
    assert item.publisher == "Nxb. Đại học Quốc gia Hà Nội"
    assert item.extent == "245 tr. : minh họa ; 24 cm"
    assert item.series == "Tủ sách Thông tin – Thư viện ; 5"
    assert item.abstract.startswith("Trình bày cơ sở lý luận")
    assert item.subjects == [
        Subject("Thư viện số -- Quản lý -- Việt Nam", "local"),
        Subject("Digital libraries -- Vietnam", "lcsh"),
        Subject("Số hóa", "keyword"),
        Subject("Thư viện đại học", "keyword"),
    ]
    assert item.link == "https://opac.example.edu.vn/record/VN000123"
    assert item.acquired_on == date(2024, 2, 1)  # the first copy's acquisition
    assert item.material_type == "book"


def test_marc8_record_is_converted_to_nfc():
    [item] = read("marc_marc8.mrc")
    assert item.title == "Lịch sử Việt Nam"
    assert item.authors == ["Phương, Thái"]
    assert item.publisher == "Nxb. Đại học"
    assert item.subjects == [Subject("Lịch sử -- Việt Nam", "local")]
    assert item.year == 1999 and item.language == "vie"


def test_koha_holdings_doi_and_language_fallbacks():
    [item] = read("marc_koha.mrc")
    assert item.ddc == "006.31 LE-H"  # 952$o, as the record has no 082/050
    assert item.material_type == "thesis"  # 952$y LV (luận văn)
    assert item.doi == "10.1234/ABC.2024.01"
    assert item.language == "vie"  # 008 is blank there: the first of 041$a "vieeng"
    assert item.acquired_on == date(2024, 9, 30)
    assert item.year == 2024 and item.publisher == "Trường Đại học Khoa học Tự nhiên"
    assert item.authors == ["Lê, Thị Hoa"]


ONLINE_008 = "240101s2024    vm " + "     " + "o" + " " * 11 + "vie d"  # 008/23 = o (online)


def _record(leader: str, *fields: Field) -> Record:
    record = Record(leader=leader)
    record.add_field(Field(tag="001", data="1"), Field(tag="245", indicators=Indicators("0", "0"),
                                                          subfields=[Subfield("a", "A title.")]), *fields)
    return record


@pytest.mark.parametrize(("leader", "fields", "kind"), [
    ("00000nam a2200000 a 4500", [], "book"),
    ("00000nas a2200000 a 4500", [], "serial"),
    ("00000nam a2200000 a 4500", [Field(tag="502", indicators=Indicators(" ", " "), subfields=[Subfield("a", "Luận án")])], "thesis"),
    ("00000nam a2200000 a 4500", [Field(tag="008", data=ONLINE_008)], "ebook"),
    ("00000nam a2200000 a 4500", [Field(tag="338", indicators=Indicators(" ", " "), subfields=[Subfield("b", "cr")])], "ebook"),
    ("00000nem a2200000 a 4500", [], "map"),
    ("00000njm a2200000 a 4500", [], "music"),
    ("00000nim a2200000 a 4500", [], "audio"),
    ("00000ngm a2200000 a 4500", [], "video"),
    ("00000nrm a2200000 a 4500", [], "other"),
])
def test_material_type_from_the_leader(leader, fields, kind):
    assert record_from_marc(_record(leader, *fields)).material_type == kind


def test_subject_schemes_and_subdivisions():
    def subject(ind2: str, *pairs: str) -> Field:
        return Field(tag="650", indicators=Indicators(" ", ind2),
                     subfields=[Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)])

    item = record_from_marc(_record(
        "00000nam a2200000 a 4500",
        subject("0", "a", "Libraries", "x", "Automation.", "y", "21st century", "z", "Vietnam."),
        subject("4", "a", "thư viện thông minh"),
        subject("7", "a", "Thư viện số", "2", "vnlb"),
        subject("7", "a", "Thư viện số", "2", "local"),
        subject("7", "a", "Bibliotheken", "2", "gnd"),
        subject("7", "a", "Digital libraries", "2", "lcsh"),
        subject("2", "a", "Libraries, Medical"),
        Field(tag="600", indicators=Indicators("1", "0"), subfields=[Subfield("a", "Hồ, Chí Minh,"), Subfield("d", "1890-1969"), Subfield("x", "Tư tưởng.")]),
    ))
    assert item.subjects == [
        Subject("Hồ, Chí Minh, 1890-1969 -- Tư tưởng", "lcsh"),
        Subject("Libraries -- Automation -- 21st century -- Vietnam", "lcsh"),
        Subject("thư viện thông minh", "keyword"),
        Subject("Thư viện số", "local"),
        Subject("Bibliotheken", "other"),
        Subject("Digital libraries", "lcsh"),
        Subject("Libraries, Medical", "other"),
    ]


def test_publication_and_titles_fallbacks():
    item = record_from_marc(_record(
        "00000nam a2200000 a 4500",
        Field(tag="264", indicators=Indicators(" ", "4"), subfields=[Subfield("c", "©2015")]),
        Field(tag="264", indicators=Indicators(" ", "1"), subfields=[Subfield("b", "Nxb. Trẻ,"), Subfield("c", "[2016]")]),
    ))
    assert item.publisher == "Nxb. Trẻ" and item.year == 2016 and item.title == "A title"
    record = Record(leader="00000nam a2200000 a 4500")
    record.add_field(Field(tag="245", indicators=Indicators("1", "0"), subfields=[Subfield("k", "Papers.")]))
    item = record_from_marc(record)
    assert item.title == "Papers" and item.record_key.startswith("marc-")  # no 001: a stable hash
    assert record_from_marc(record).record_key == item.record_key


def test_a_record_without_title_is_an_error():
    record = Record(leader="00000nam a2200000 a 4500")
    record.add_field(Field(tag="001", data="X"), Field(tag="300", indicators=Indicators(" ", " "), subfields=[Subfield("a", "1 vol.")]))
    with pytest.raises(MarcRecordError) as error:
        record_from_marc(record)
    assert error.value.record_key == "X"


def test_only_web_links():
    item = record_from_marc(_record("00000nam a2200000 a 4500",
                                    Field(tag="856", indicators=Indicators("4", "0"), subfields=[Subfield("u", "javascript:alert(1)")]),
                                    Field(tag="856", indicators=Indicators("4", "2"), subfields=[Subfield("u", "https://example.org/toc")])))
    assert item.link == "https://example.org/toc"


# --- files: formats, bad records, unsafe XML ----------------------------------------------


def test_marcxml_collection():
    found = read("marc_collection.xml")
    assert [type(r) for r in found] == [ItemRecord, ItemRecord, Rejected]
    book, serial, rejected = found
    assert book.record_key == "VNU-LIC:X-1" and book.title == "Thư viện số hóa trong trường đại học"
    assert book.authors == ["Nguyễn Văn An"] and book.ddc == "025.04" and book.language == "vie"
    assert serial.material_type == "serial" and serial.issns == ["0378-5955"]
    assert rejected.number == 3 and rejected.record_key == "X-3" and "245" in rejected.reason


def test_marcxml_without_namespace():
    [item] = read("marc_no_namespace.xml")
    assert item.title == "Records without a namespace"


def test_a_corrupt_record_between_two_good_ones():
    first, broken, third = read("marc_corrupt_middle.mrc")
    assert first.record_key == "C-1" and third.record_key == "C-3"
    assert isinstance(broken, Rejected) and broken.number == 2 and broken.reason


def test_binary_and_xml_give_the_same_records():
    binary = read("marc_vietnamese.mrc")
    record = Record(data=(FIXTURES / "marc_vietnamese.mrc").read_bytes())
    from pymarc import record_to_xml

    xml = b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + record_to_xml(record, namespace=False) + b"</collection>"
    assert list(iter_marc(io.BytesIO(xml))) == binary


def test_gzipped_files_are_read():
    data = gzip.compress((FIXTURES / "marc_corrupt_middle.mrc").read_bytes())
    assert [getattr(r, "record_key", None) for r in iter_marc(io.BytesIO(data))] == ["C-1", None, "C-3"]


def test_blank_padding_between_records_is_skipped():
    one = (FIXTURES / "marc_koha.mrc").read_bytes()
    found = list(iter_marc(io.BytesIO(one + b"\r\n" + one + b"\n   \x1a")))
    assert len(found) == 2 and all(isinstance(r, ItemRecord) for r in found)


def test_reading_resumes_after_garbage_and_salvages_wrong_lengths():
    good = (FIXTURES / "marc_koha.mrc").read_bytes()
    wrong_length = b"00099" + good[5:]  # the length counts characters, not bytes, say
    found = list(iter_marc(io.BytesIO(good + b"12x45 garbage\x1d" + wrong_length + good)))
    assert [type(r) for r in found] == [ItemRecord, Rejected, ItemRecord, ItemRecord]
    assert found[1].number == 2 and "length" in found[1].reason
    assert found[2].title == found[0].title


def test_utf8_under_a_marc8_leader_is_read_as_utf8():
    utf8 = bytearray((FIXTURES / "marc_vietnamese.mrc").read_bytes())
    utf8[9:10] = b" "  # leader/09 says MARC-8, the bytes are UTF-8 (a common export bug)
    [item] = list(iter_marc(io.BytesIO(bytes(utf8))))
    assert item.title == "Thư viện số hóa trong trường đại học"


@pytest.mark.parametrize("name", ["marc_billion_laughs.xml", "marc_external_entity.xml", "marc_external_dtd.xml"])
def test_unsafe_xml_is_refused_before_any_record(name):
    with (FIXTURES / name).open("rb") as stream, pytest.raises(MarcError, match="XML was refused"):
        iter_marc(stream)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"title,author\nA,B\n", "neither MARC21"),
    (b'{"leader": "x"}', "neither MARC21"),
    (b"<html><body>Not MARC</body></html>", "not MARCXML"),
    (b"\x1f\x8bnot really gzip", "damaged"),
])
def test_what_is_not_marc(content, message):
    with pytest.raises(MarcError, match=message):
        iter_marc(io.BytesIO(content))


def test_ill_formed_xml_keeps_the_records_before_the_error():
    first, rejected = read("marc_truncated.xml")
    assert first.record_key == "T-1"
    assert isinstance(rejected, Rejected) and rejected.number == 2 and "not well-formed" in rejected.reason


def test_detect_format():
    assert detect_format(b"\xef\xbb\xbf  <?xml") == "xml"
    assert detect_format(b"01234nam a22") == "marc"
    assert detect_format(b"\x1f\x8b\x08") == "gzip"
    assert detect_format(b"%PDF-1.4") is None


class CountingStream(io.RawIOBase):
    """A large MARC stream made on the fly, counting how much of it was read."""

    def __init__(self, record: bytes, count: int) -> None:
        self.record, self.left, self.consumed, self.buffer = record, count, 0, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while len(self.buffer) < len(target) and self.left:
            self.buffer += self.record
            self.left -= 1
        n = min(len(target), len(self.buffer))
        target[:n], self.buffer = self.buffer[:n], self.buffer[n:]
        self.consumed += n
        return n


@pytest.mark.parametrize("name", ["marc_vietnamese.mrc", "marc_collection.xml"])
def test_records_stream_without_reading_the_whole_file(name):
    data = (FIXTURES / name).read_bytes()
    if name.endswith(".xml"):
        head, _, rest = data.partition(b"<record>")
        body, _, tail = rest.rpartition(b"</collection>")
        data = head + b"<record>" + body
        stream = io.BufferedReader(XmlStream(head, b"<record>" + body, tail, 5_000))
    else:
        stream = io.BufferedReader(CountingStream(data, 5_000))
    records = iter_marc(stream)
    next(records)
    raw = stream.raw
    total = len(data) * 5_000
    assert raw.consumed < 1_000_000 < total  # the first record came before the whole file was read
    assert sum(1 for _ in records) > 4_000


class XmlStream(CountingStream):
    def __init__(self, head: bytes, record: bytes, tail: bytes, count: int) -> None:
        super().__init__(record, count)
        self.buffer, self.tail = head, tail

    def readinto(self, target) -> int:
        n = super().readinto(target)
        if n == 0 and self.tail:
            self.buffer, self.tail = self.tail, b""
            return super().readinto(target)
        return n


# --- real files from ../shared/data/marc ---------------------------------------------------

MARC_SUFFIXES = (".dat", ".mrc", ".marc", ".xml", ".gz")
NOT_MARC = {"namespace-test.xml"}  # traject's namespace test is not MARCXML
#: Records + rejections in files whose count was checked by hand (pymarc and ruby-marc tests).
EXPECTED = {
    "pymarc/test/marc.dat": (20, 0), "pymarc/test/test.dat": (10, 0), "pymarc/test/batch.xml": (2, 0),
    "pymarc/test/bad_records.mrc": (2, 6), "pymarc/test/regression45.dat": (12, 0),
    "ruby-marc/test/three-records-second-bad.xml": (1, 1), "ruby-marc/test/utf8_multirecord.marc": (2, 0),
    "traject/test/test_support/test_data.utf8.mrc": (30, 0), "traject/test/test_support/test_data.utf8.marc.xml": (30, 0),
    "traject/test/test_support/test_data.utf8.mrc.gz": (30, 0), "pymarc/test/bad_subfield_code.dat": (1, 0),
}


def shared_files() -> list[Path]:
    if not MARC_DATA.is_dir():
        return []
    return sorted(p for p in MARC_DATA.rglob("*") if p.is_file() and p.name.endswith(MARC_SUFFIXES))


needs_shared = pytest.mark.skipif(not MARC_DATA.is_dir(), reason="../shared/data/marc is not present")


@needs_shared
@pytest.mark.parametrize("path", shared_files(), ids=lambda p: str(p.relative_to(MARC_DATA)))
def test_every_shared_marc_file_reads_without_an_exception(path):
    with path.open("rb") as stream:
        if path.name in NOT_MARC:
            with pytest.raises(MarcError):
                iter_marc(stream)
            return
        found = list(iter_marc(stream))
    assert found, path
    for record in found:
        if isinstance(record, Rejected):
            assert record.number >= 1 and record.reason
        else:
            assert record.title and record.record_key
            assert all(isinstance(s, Subject) for s in record.subjects)
    key = str(path.relative_to(MARC_DATA))
    if key in EXPECTED:
        good = sum(isinstance(r, ItemRecord) for r in found)
        assert (good, len(found) - good) == EXPECTED[key]


@needs_shared
def test_shared_file_values():
    def one(name: str) -> ItemRecord:
        with (MARC_DATA / name).open("rb") as stream:
            return next(iter_marc(stream))

    item = one("pymarc/test/one.dat")
    assert item.record_key == "IMchF:fol05731351" and item.title == "ActivePerl with ASP and ADO"
    assert item.lcc == "QA76.73.P22 M33 2000" and item.ddc == "005.13/3" and item.year == 2000
    assert item.isbns == ["0471383147 (paper/cd-rom : alk. paper)"] and item.authors == ["Martinsson, Tobias"]
    assert one("ruby-marc/test/marc8_accented_chars.marc").title == 'Histoire du "nouveau théâtre."'
    assert one("traject/test/test_support/manuscript_online_thesis.marc").material_type == "thesis"
    assert one("traject/test/test_support/online_only.marc").material_type == "ebook"
    assert one("traject/test/test_support/date_resort_to_264.marc").year == 2015
    assert one("traject/test/test_support/packed_041a_lang.marc").language == "eng"
    assert one("traject/test/test_support/musical_cage.marc").material_type == "music"
    assert one("traject/test/test_support/245_no_ab.marc").title == "Papers"
    hebrew = one("traject/test/test_support/hebrew880s.marc")
    assert hebrew.language == "heb" and hebrew.isbns == ["9789651321337", "9651321334"]


@needs_shared
def test_shared_binary_and_xml_serializations_agree():
    folder = MARC_DATA / "traject/test/test_support"
    with (folder / "test_data.utf8.mrc").open("rb") as a, (folder / "test_data.utf8.marc.xml").open("rb") as b, \
            (folder / "test_data.utf8.mrc.gz").open("rb") as c:
        assert list(iter_marc(a)) == list(iter_marc(b)) == list(iter_marc(c))

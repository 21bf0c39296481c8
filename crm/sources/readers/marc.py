"""MARC21 records, binary (ISO 2709, MARC-8 or UTF-8, optionally gzipped) or MARCXML, streamed.

``iter_marc(stream)`` sniffs the format from the first bytes and yields one ``ItemRecord`` per
record, or a ``Rejected`` with the record's number (1-based) and the reason; a bad record never
stops the rest. Memory stays constant whatever the file size: binary records are read one at a
time, MARCXML through ``xmlsafe.iterparse`` (entity expansion off, DTDs refused).

After a record whose length or terminator is broken, reading resynchronizes on the next record
terminator (0x1D) instead of giving up on the rest of the file as pymarc does.
"""

import gzip
import logging
import warnings
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree
from pymarc import Field, Indicators, MARCReader, Record, Subfield
from pymarc import exceptions as marc_errors

from crm.i18n import _
from crm.sources import xmlsafe
from crm.sources.readers.marcfields import MarcRecordError, record_from_marc
from crm.sources.records import ItemRecord, Rejected

__all__ = ["MarcError", "MarcRecordError", "detect_format", "iter_marc", "record_from_marc"]

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
RECORD_TAGS = (f"{{{MARCXML_NS}}}record", "record")
END_OF_RECORD = b"\x1d"
_BLANK = b" \t\r\n\x00\x1a"
_BOM = b"\xef\xbb\xbf"
_BLOCK = 64 * 1024
#: ISO 2709 lengths have 5 digits; anything much longer is not one record.
MAX_RECORD_BYTES = 200_000

# pymarc reports lenient repairs (missing indicators, non-ASCII subfield codes) through logging
# and warnings; the record is still usable, so they are not worth a line on the console.
logging.getLogger("pymarc").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=marc_errors.BadSubfieldCodeWarning)


class MarcError(ValueError):
    """The file cannot be read as MARC at all (not MARC, empty, unsafe XML)."""


def detect_format(head: bytes) -> str | None:
    """``"gzip"``, ``"xml"`` or ``"marc"`` from the first bytes of a file; None if none fits."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    body = head[len(_BOM):] if head.startswith(_BOM) else head
    body = body.lstrip(_BLANK)
    if body.startswith(b"<"):
        return "xml"
    if len(body) >= 5 and body[:5].isdigit():
        return "marc"
    return None


def iter_marc(stream: BinaryIO) -> Iterator[ItemRecord | Rejected]:
    """The records of a MARC21 or MARCXML stream.

    Raises ``MarcError`` right away (before any record) when the stream is empty, is neither
    MARC21 nor MARCXML, or is XML declaring entities or an external DTD.
    """
    head = _read_full(stream, xmlsafe.PROLOG_BYTES)
    kind = detect_format(head)
    if kind == "gzip":
        stream = gzip.GzipFile(fileobj=_Stream(stream, head), mode="rb")  # type: ignore[assignment]
        try:
            head = _read_full(stream, xmlsafe.PROLOG_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise MarcError(_("The compressed file is damaged (%(error)s).", error=str(exc))) from None
        kind = detect_format(head)
    if not head.strip(_BLANK):
        raise MarcError(_("The file is empty."))
    if kind == "xml":
        try:
            xmlsafe.check_prolog(head)
        except xmlsafe.UnsafeXml as exc:
            raise MarcError(_("The XML was refused: %(error)s.", error=str(exc))) from None
        root = _root_name(head)
        if root is not None and root not in ("collection", "record") and MARCXML_NS.encode() not in head:
            raise MarcError(_("The XML document is not MARCXML (its root element is <%(name)s>).", name=root))
        return _iter_xml(_Stream(stream, head))
    if kind == "marc":
        return _iter_binary(_Stream(stream, head))
    raise MarcError(_("The file is neither MARC21 (ISO 2709) nor MARCXML."))


# --- binary MARC21 -----------------------------------------------------------------------


class _Stream:
    """A binary stream with bytes put back in front (for sniffing and resynchronizing)."""

    def __init__(self, raw: BinaryIO, head: bytes = b"") -> None:
        self._raw = raw
        self._buf = head
        self._pos = 0

    def read(self, size: int | None = -1) -> bytes:
        available = len(self._buf) - self._pos
        if size is None or size < 0:
            data = self._buf[self._pos:] + self._raw.read()
            self._buf, self._pos = b"", 0
            return data
        if size <= available:
            data = self._buf[self._pos:self._pos + size]
            self._pos += size
            return data
        data = self._buf[self._pos:] + _read_full(self._raw, size - available)
        self._buf, self._pos = b"", 0
        return data

    def unread(self, data: bytes) -> None:
        self._buf = data + self._buf[self._pos:]
        self._pos = 0

    def _fill(self) -> bool:
        if self._pos >= len(self._buf):
            self._buf, self._pos = self._raw.read(_BLOCK), 0
        return bool(self._buf)

    def skip_blank(self) -> bool:
        """Skip blanks between records (newlines, padding); False at the end of the stream."""
        while self._fill():
            rest = self._buf[self._pos:self._pos + 1]
            if rest and rest not in _BLANK:
                return True
            self._pos += 1
        return False

    def read_through_end_of_record(self, limit: int) -> bytes:
        """The bytes up to and including the next record terminator (at most ``limit``)."""
        parts: list[bytes] = []
        size = 0
        while self._fill():
            found = self._buf.find(END_OF_RECORD, self._pos)
            stop = found + 1 if found >= 0 else len(self._buf)
            if size < limit:
                parts.append(self._buf[self._pos:stop][: limit - size])
                size += stop - self._pos
            self._pos = stop
            if found >= 0:
                break
        return b"".join(parts)


def _read_full(raw: BinaryIO, size: int) -> bytes:
    parts, wanted = [], size
    while wanted > 0:
        data = raw.read(wanted)
        if not data:
            break
        parts.append(data)
        wanted -= len(data)
    return b"".join(parts)


def _reader(stream: _Stream) -> MARCReader:
    return MARCReader(stream, to_unicode=True, force_utf8=False, hide_utf8_warnings=True,  # type: ignore[arg-type]
                      utf8_handling="replace", permissive=True)


def _iter_binary(stream: _Stream) -> Iterator[ItemRecord | Rejected]:
    reader = _reader(stream)
    number = 0
    while stream.skip_blank():
        number += 1
        record = next(reader, None)
        if record is not None:
            yield _convert(_recode(reader.current_chunk) or record, number)
            continue
        error = reader.current_exception
        if isinstance(error, marc_errors.FatalReaderError):
            # pymarc stops after these; resume after the next record terminator instead, and
            # try the record as delimited by its terminator (lengths counted in characters
            # instead of bytes are a common export bug).
            chunk = reader.current_chunk or b""
            end = chunk.find(END_OF_RECORD)
            if end >= 0:
                stream.unread(chunk[end + 1:])
                chunk = chunk[:end + 1]
            else:
                chunk += stream.read_through_end_of_record(MAX_RECORD_BYTES)
            reader = _reader(stream)
            if not isinstance(error, marc_errors.RecordLengthInvalid) and (record := _salvage(chunk)) is not None:
                yield _convert(record, number)
                continue
        yield Rejected(number=number, reason=_binary_reason(error))


def _recode(chunk: bytes | None) -> Record | None:
    """The record decoded as what its bytes evidently are, when leader/09 says otherwise.

    UTF-8 under a blank leader/09 (common in exports from Vietnamese systems) would be garbled
    by the MARC-8 conversion: bytes that are valid UTF-8 and not ASCII are UTF-8. MARC-8 under
    ``a`` shows as bytes that are never valid UTF-8 sequences.
    """
    if not chunk or len(chunk) < 24 or chunk.isascii():
        return None
    try:
        chunk.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    try:
        if chunk[9:10] == b" " and valid:
            return Record(chunk, to_unicode=True, force_utf8=True, hide_utf8_warnings=True)
        if chunk[9:10] == b"a" and not valid and not any(
                ord(c) > 127 and c != "\ufffd" for c in chunk.decode("utf-8", "replace")):
            return Record(chunk[:9] + b" " + chunk[10:], to_unicode=True, hide_utf8_warnings=True)
    except Exception:  # noqa: BLE001  (keep pymarc's own reading)
        return None
    return None


def _salvage(chunk: bytes) -> Record | None:
    if len(chunk) > MAX_RECORD_BYTES or not chunk.endswith(END_OF_RECORD):
        return None
    chunk = b"%05d" % min(len(chunk), 99999) + chunk[5:]
    try:
        return _recode(chunk) or Record(chunk, to_unicode=True, force_utf8=False, hide_utf8_warnings=True,
                                        utf8_handling="replace")
    except Exception:  # noqa: BLE001  (not salvageable: rejected with pymarc's first reason)
        return None


def _binary_reason(error: BaseException | None) -> str:
    if isinstance(error, marc_errors.RecordLengthInvalid):
        return _("The record length (its first 5 bytes) is not a number.")
    if isinstance(error, marc_errors.TruncatedRecord):
        return _("The record is shorter than its length says (the file may be truncated).")
    if isinstance(error, marc_errors.EndOfRecordNotFound):
        return _("The record does not end where its length says (no record terminator).")
    if isinstance(error, marc_errors.RecordLeaderInvalid):
        return _("The record leader is invalid.")
    if isinstance(error, marc_errors.BaseAddressNotFound | marc_errors.BaseAddressInvalid):
        return _("The base address of the record data is invalid.")
    if isinstance(error, marc_errors.RecordDirectoryInvalid | ValueError) and not isinstance(error, UnicodeError):
        return _("The record directory is invalid.")
    if isinstance(error, marc_errors.NoFieldsFound):
        return _("The record has no fields.")
    if isinstance(error, UnicodeError):
        return _("The record has bytes that are not valid in its character set (%(error)s).", error=str(error))
    return _("The record could not be decoded (%(error)s).", error=str(error) or type(error).__name__)


def _convert(record: Record, number: int) -> ItemRecord | Rejected:
    try:
        return record_from_marc(record)
    except MarcRecordError as exc:
        return Rejected(number=number, reason=str(exc), record_key=exc.record_key)
    except Exception as exc:  # noqa: BLE001  (a record that breaks the mapping is skipped, never the file)
        return Rejected(number=number, reason=_unreadable(exc))


def _unreadable(error: Exception) -> str:
    return _("The record could not be read (%(error)s).", error=str(error) or type(error).__name__)


# --- MARCXML ------------------------------------------------------------------------------


def _root_name(head: bytes) -> str | None:
    """The local name of the first element, skipping the XML declaration, comments and DOCTYPE."""
    position = 0
    while True:
        start = head.find(b"<", position)
        if start < 0 or start + 1 >= len(head):
            return None
        following = head[start + 1:start + 2]
        if following in (b"?", b"!"):
            close = b"-->" if head.startswith(b"<!--", start) else b">"
            end = head.find(close, start)
            if end < 0:
                return None
            position = end + len(close)
            continue
        name = head[start + 1:].split(None, 1)[0].split(b">", 1)[0].split(b"/", 1)[0]
        return name.rsplit(b":", 1)[-1].decode("utf-8", "replace") or None


def _iter_xml(stream: _Stream) -> Iterator[ItemRecord | Rejected]:
    number = 0
    try:
        for element in xmlsafe.iterparse(stream, RECORD_TAGS):  # type: ignore[arg-type]
            number += 1
            try:
                record = _record_from_xml(element)
            except Exception as exc:  # noqa: BLE001
                yield Rejected(number=number, reason=_unreadable(exc))
                continue
            yield _convert(record, number)
    except etree.XMLSyntaxError as exc:
        reason = _("The XML is not well-formed (%(error)s); the rest of the file was not read.", error=str(exc))
        yield Rejected(number=number + 1, reason=reason)
    except xmlsafe.UnsafeXml as exc:
        yield Rejected(number=number + 1, reason=_("The XML was refused: %(error)s.", error=str(exc)))


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _record_from_xml(element: etree._Element) -> Record:
    leader = ""
    fields: list[Field] = []
    for child in element:
        kind = _local(child.tag)
        if kind == "leader":
            leader = child.text or ""
        elif kind == "controlfield":
            tag = (child.get("tag") or "").strip()
            if len(tag) == 3:
                fields.append(Field(tag=tag, data=child.text or ""))
        elif kind == "datafield":
            tag = (child.get("tag") or "").strip()
            if len(tag) != 3:
                continue
            subfields = [Subfield(code=(sub.get("code") or "")[:1], value=sub.text or "")
                         for sub in child if _local(sub.tag) == "subfield" and sub.get("code")]
            fields.append(Field(tag=tag, indicators=Indicators((child.get("ind1") or " ")[:1] or " ",
                                                              (child.get("ind2") or " ")[:1] or " "),
                                subfields=subfields))
    leader = (leader.replace("\n", " ") + " " * 24)[:24]
    return Record(leader=leader, fields=fields)


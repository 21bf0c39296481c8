"""CSV files as Excel writes and reads them: decoding, delimiter sniffing, headers, row numbers.

Nothing here knows units or contacts; :mod:`crm.liaison.services.csv_io` does.
"""

import codecs
import csv
import io
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import msgspec

from crm.i18n import _
from crm.text import fold

MAX_IMPORT_BYTES = 10 * 1024 * 1024
#: Ten megabytes of real contacts is well under this; a file of empty lines is not.
MAX_IMPORT_ROWS = 100_000
#: Checking stops after this many problems: enough to fix a file, bounded for a broken one.
MAX_REPORTED_ERRORS = 200
#: Rows per chunk of a streamed export.
EXPORT_CHUNK_ROWS = 500
DELIMITERS = (",", ";", "\t")
#: What a spreadsheet would run as a formula; phone numbers such as "+84 912 345 678" are not.
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![\d\s().+-]*$))")


class RowError(msgspec.Struct):
    row: int | None
    column: str | None
    message: str


class ImportResult(msgspec.Struct):
    created: int = 0
    updated: int = 0
    errors: list[RowError] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class BadFile(Exception):
    """The upload cannot be read as a CSV table at all."""


@dataclass
class Table:
    headers: dict[str, str] = field(default_factory=dict)  # column → header as written
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    #: Problems of the header: the rows cannot be read at all.
    errors: list[RowError] = field(default_factory=list)
    #: Rows that do not fit the header; reported with the other rows' problems.
    row_errors: list[RowError] = field(default_factory=list)


def failed(errors: list[RowError]) -> ImportResult:
    """A result with nothing imported, sorted by row, with a note when checking stopped early."""
    shown = sorted(errors, key=lambda e: e.row or 0)[:MAX_REPORTED_ERRORS]
    if len(errors) >= MAX_REPORTED_ERRORS:
        shown.append(RowError(None, None, _("Checking stopped after the first %(n)s problems.", n=MAX_REPORTED_ERRORS)))
    return ImportResult(errors=shown)


def _header_key(text: str) -> str:
    return " ".join(re.sub(r"[_\-,.:*()]", " ", fold(text)).split())


def decode(data: bytes) -> str:
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile(_("The file is not UTF-8 text. In Excel, save it as \"CSV UTF-8 (Comma delimited)\".")) from None
    if "\x00" in text:
        raise BadFile(_("This is not a CSV file (it contains binary data)."))
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most (Excel writes ";" where "," is the decimal mark)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def unescape(cell: str) -> str:
    """Undo the export's protection against spreadsheet formulas (a leading apostrophe)."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell[1:]) else cell


def _read_header(header: list[str], spec: dict[str, tuple[str, ...]], required: Iterable[str], table: Table) -> list[str | None]:
    known = {_header_key(alias): column for column, aliases in spec.items() for alias in aliases}
    positions: list[str | None] = []
    for cell in header:
        name = cell.strip()
        column = known.get(_header_key(name)) if name else None
        if name and column is None:
            table.errors.append(RowError(1, name, _("Unknown column. Accepted columns: %(names)s.", names=", ".join(spec))))
        elif column in table.headers:
            table.errors.append(RowError(1, name, _("This column appears twice.")))
            column = None
        elif column:
            table.headers[column] = name
        positions.append(column)
    for column in required:
        if column not in table.headers:
            table.errors.append(RowError(1, column, _("This required column is missing.")))
    return positions


def read_table(data: bytes, spec: dict[str, tuple[str, ...]], required: Iterable[str]) -> Table:
    """Rows as column → cell, numbered like a spreadsheet (the header is row 1); blank rows skipped.

    ``spec`` maps each column to the header names accepted for it (compared without case,
    diacritics or punctuation). Cells missing at the end of a row are blank.
    """
    text = decode(data)
    if not text.strip():
        raise BadFile(_("The file is empty."))
    table = Table()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        positions = _read_header(next(reader), spec, required, table)
        if table.errors:
            return table
        for number, cells in enumerate(reader, start=2):
            if number > MAX_IMPORT_ROWS + 1:
                raise BadFile(_("The file has more than %(n)s rows. Split it into smaller files.", n=MAX_IMPORT_ROWS))
            cells = [unescape(c.strip()) for c in cells]
            if not any(cells):
                continue
            if any(c for i, c in enumerate(cells) if i >= len(positions) or positions[i] is None):
                if len(table.row_errors) < MAX_REPORTED_ERRORS:
                    table.row_errors.append(RowError(number, None, _(
                        "This row has more values than the header has columns (%(n)s).", n=len(table.headers))))
                continue
            table.rows.append((number, {col: cells[i] if i < len(cells) else "" for i, col in enumerate(positions) if col}))
    except csv.Error as exc:
        raise BadFile(_("The file is not valid CSV (row %(row)s).", row=reader.line_num)) from exc
    return table


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: an apostrophe keeps it text.
    return f"'{text}" if _FORMULA.match(text) else text


async def write_csv(header: list[str], rows: AsyncIterator[tuple]) -> AsyncIterator[str]:
    """The CSV text in chunks, starting with a BOM so Excel reads UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(header)
    count = 0
    async for row in rows:
        writer.writerow([_cell(v) for v in row])
        count += 1
        if count % EXPORT_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

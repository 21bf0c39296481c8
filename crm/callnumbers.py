"""Sortable keys for Dewey (DDC) and Library of Congress (LCC) call numbers.

Class ranges ("004-006.99", "QA76-QA76.99") become two inclusive bounds that compare as
plain strings against the stored keys, on SQLite and on PostgreSQL, whatever the database's
collation: keys use upper-case ASCII letters and digits only (plus the one DDC point, always at
the same position), so byte order, the C collation and locale collations such as en_US (which
ignore punctuation and spaces, and sort case-insensitively) all order them the same way.

**DDC key**: the class number only, without the book number: a 3-digit integer part, then
``.`` and the decimals when there are any, without segmentation marks (``/``, ``'``) and
trailing zeros, at most 20 decimals. ``"025.04 NGU"`` → ``"025.04"``, ``"004/.678"`` →
``"004.678"``, ``"[E]"`` → ``None``. Since the integer part always has 3 digits, string order is
numeric order: ``"004" < "005.133" < "006.99" < "006.995" < "007"``.

**LCC key**: fixed-width class, then the rest of the call number:

======  ======= =========================================================
width   sample  part
======  ======= =========================================================
3       QA0     class letters, padded with ``0`` (so Q < QA < QAA < QB)
4       0076    class number, zero-padded
6       730000  class number decimals, padded with ``0`` (76 < 76.73 < 76.9)
rest    P980000 cutters (letters + 6 digits) and other tokens, e.g. the year
======  ======= =========================================================

``"QA76.73.P98 V36 2019"`` → ``"QA00076730000P980000V3600002019"``. Keys are at most 100
characters (the width of the ``item.lcc_key`` column).
"""

import re

#: Both key columns are String(100).
KEY_LENGTH = 100
DDC_DECIMALS = 20
LCC_DECIMALS = 6
CUTTER_DIGITS = 6

_DDC = re.compile(r"^[\[(]?\s*(\d{1,3})(?!\d)((?:\s*[./'\u2032]+\s*\d+)*)")
_DDC_MARKS = re.compile(r"[^\d]")
_LCC = re.compile(r"^([A-Z]{1,3})\s*(\d{1,4})?(?!\d)(?:\s*\.\s*(\d+))?(.*)$")
_LCC_TOKEN = re.compile(r"([A-Z]+)(\d*)|(\d+)")
_RANGE_SEPARATOR = re.compile(r"\s+TO\s+|\s*[-\u2013\u2014]\s*", re.IGNORECASE)


def ddc_key(text: str | None) -> str | None:
    """The sortable key of a Dewey class number, or None when ``text`` is not one."""
    parsed = _parse_ddc(text)
    if parsed is None or len(parsed[0]) != 3:
        return None
    integer, decimals = parsed
    return f"{integer}.{decimals}" if decimals else integer


def lcc_key(text: str | None) -> str | None:
    """The sortable key of a Library of Congress call number (letters and a class number)."""
    parsed = _parse_lcc(text)
    if parsed is None or parsed[1] is None:
        return None
    letters, number, decimals, rest = parsed
    return _lcc_prefix(letters, number, decimals) + rest


def scheme_of(text: str | None) -> str | None:
    """``"ddc"`` when the text starts like a Dewey number, ``"lcc"`` when like an LC class."""
    value = _clean(text).lstrip("[( ")
    if not value:
        return None
    if value[0].isdigit():
        return "ddc"
    return "lcc" if _parse_lcc(value) is not None else None


def range_keys(text: str | None) -> tuple[str, str] | None:
    """Inclusive (low, high) keys of a class range, for ``low <= key AND key <= high``.

    Accepts ``"004-006.99"``, ``"QA76 - QA76.99"``, ``"QA76 TO QA76.99"``, ``"[004 TO 006]"``, or
    one class (``"004"``, ``"004*"``, ``"QA76"``) meaning the class and everything under it.
    The high bound includes every extension of the end class: ``"006.99"`` includes
    ``"006.995"``, ``"QA76"`` includes ``"QA76.73.P98 2019"``. DDC prefixes shorter than three
    digits are hundreds and tens (``"6"`` = 600–699, ``"00"`` = 000–009).
    Returns None when the text is not a range of one scheme, or when it is reversed.
    """
    value = _clean(text)
    if not value:
        return None
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1].strip()
    parts = _RANGE_SEPARATOR.split(value, maxsplit=1)
    if len(parts) == 1:
        parts = [value, value]
    start, end = (part.strip().rstrip("*").strip() for part in parts)
    schemes = {scheme_of(start), scheme_of(end)}
    if schemes == {"ddc"}:
        bounds = _ddc_bounds(start), _ddc_bounds(end)
    elif schemes == {"lcc"}:
        bounds = _lcc_bounds(start), _lcc_bounds(end)
    else:
        return None
    if bounds[0] is None or bounds[1] is None:
        return None
    low, high = bounds[0][0], bounds[1][1]
    return (low, high) if low <= high else None


# --- DDC ----------------------------------------------------------------------------------


def _clean(text: str | None) -> str:
    return " ".join(text.split()).upper() if text else ""


def _parse_ddc(text: str | None) -> tuple[str, str] | None:
    match = _DDC.match(_clean(text))
    if match is None:
        return None
    decimals = _DDC_MARKS.sub("", match.group(2)).rstrip("0")[:DDC_DECIMALS]
    return match.group(1), decimals


def _ddc_bounds(text: str) -> tuple[str, str] | None:
    parsed = _parse_ddc(text)
    if parsed is None:
        return None
    integer, decimals = parsed
    if len(integer) < 3:
        if decimals:
            return None
        # "6" is 600-699, "00" is 000-009.
        return integer.ljust(3, "0"), integer.ljust(3, "9") + "." + "9" * DDC_DECIMALS
    low = f"{integer}.{decimals}" if decimals else integer
    return low, f"{integer}.{decimals.ljust(DDC_DECIMALS, '9')}"


# --- LCC ----------------------------------------------------------------------------------


def _parse_lcc(text: str | None) -> tuple[str, str | None, str, str] | None:
    match = _LCC.match(_clean(text))
    if match is None:
        return None
    letters, number, decimals, rest = match.groups()
    if number is None and (decimals or rest.strip(" .")):
        return None
    tokens = []
    for alpha, digits, bare in _LCC_TOKEN.findall(rest):
        if bare:
            tokens.append(bare)
        elif digits:
            tokens.append(alpha + digits[:CUTTER_DIGITS].ljust(CUTTER_DIGITS, "0"))
        else:
            tokens.append(alpha)
    prefix_len = 3 + 4 + LCC_DECIMALS
    return letters, number, (decimals or "").rstrip("0"), "".join(tokens)[: KEY_LENGTH - prefix_len]


def _lcc_prefix(letters: str, number: str | None, decimals: str) -> str:
    return letters.ljust(3, "0") + (number or "0").zfill(4) + decimals[:LCC_DECIMALS].ljust(LCC_DECIMALS, "0")


def _lcc_bounds(text: str) -> tuple[str, str] | None:
    parsed = _parse_lcc(text)
    if parsed is None or parsed[3]:
        return None  # a range bound is a class, not a whole call number with cutters
    letters, number, decimals, _rest = parsed
    low = _lcc_prefix(letters, number, decimals)
    if number is None:
        high = letters.ljust(3, "0") + "9" * (4 + LCC_DECIMALS)
    else:
        high = letters.ljust(3, "0") + number.zfill(4) + decimals[:LCC_DECIMALS].ljust(LCC_DECIMALS, "9")
    return low, high.ljust(KEY_LENGTH, "Z")

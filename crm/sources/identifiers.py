"""Normalized identifiers: ISBN-13, ISSN and DOI, as the item store keeps and deduplicates them.

Each function takes what a catalogue or a feed writes (``"978-604-1-23456-7 (bìa mềm)"``,
``"0-19-852663-6 (pbk.)"``, ``"ISSN 0378-5955"``, ``"https://doi.org/10.1000/XYZ"``) and returns
the canonical form, or None when the text holds no valid identifier (bad check digit, wrong
length, not an identifier at all).
"""

import re
from urllib.parse import unquote

_ISBN_PREFIX = re.compile(r"^\s*ISBN(?:-1[03])?\s*:?\s*", re.IGNORECASE)
#: Hyphens and spaces between the digits of one identifier.
_JOINERS = re.compile(r"(?<=[0-9])[\s\-\u2010\u2011\u2012\u2013]+(?=[0-9Xx])")
_ISBN = re.compile(r"(?<![0-9Xx])(97[89][0-9]{10}|[0-9]{9}[0-9Xx])(?![0-9Xx])")
_ISSN = re.compile(r"(?<![0-9])([0-9]{4})[\s\-\u2010\u2011\u2012\u2013]?([0-9]{3}[0-9Xx])(?![0-9Xx])")
_DOI_PREFIX = re.compile(r"^\s*(?:https?://(?:dx\.)?doi\.org/|doi\s*:\s*|doi\s+)", re.IGNORECASE)
_DOI = re.compile(r"^10\.[0-9]{4,9}/\S+$")


def isbn13(text: str | None) -> str | None:
    """The ISBN-13 (digits only) in ``text``; ISBN-10s are converted. None if none is valid."""
    if not text:
        return None
    compact = _JOINERS.sub("", _ISBN_PREFIX.sub("", text.strip()))
    match = _ISBN.search(compact)
    if match is None:
        return None
    digits = match.group(1).upper()
    if len(digits) == 10:
        if not _isbn10_valid(digits):
            return None
        body = "978" + digits[:9]
        return body + _ean_check(body)
    return digits if _ean_check(digits[:12]) == digits[12] else None


def isbn10(isbn13_value: str) -> str | None:
    """The ISBN-10 form of a 978 ISBN-13 (979 ISBNs have none)."""
    if len(isbn13_value) != 13 or not isbn13_value.startswith("978"):
        return None
    body = isbn13_value[3:12]
    total = sum((10 - i) * int(d) for i, d in enumerate(body))
    check = (11 - total % 11) % 11
    return body + ("X" if check == 10 else str(check))


def issn(text: str | None) -> str | None:
    """``NNNN-NNNC`` with a valid check digit (``X`` upper case), or None."""
    if not text:
        return None
    match = _ISSN.search(text)
    if match is None:
        return None
    digits = (match.group(1) + match.group(2)).upper()
    total = sum((8 - i) * int(d) for i, d in enumerate(digits[:7]))
    check = (11 - total % 11) % 11
    if digits[7] != ("X" if check == 10 else str(check)):
        return None
    return f"{digits[:4]}-{digits[4:]}"


def doi(text: str | None) -> str | None:
    """The DOI, lower case, without ``https://doi.org/`` or ``doi:``; None if it is not a DOI."""
    if not text:
        return None
    value = text.strip()
    stripped = _DOI_PREFIX.sub("", value)
    if stripped != value and value.lower().startswith("http"):
        stripped = unquote(stripped)
    stripped = stripped.strip().rstrip(".,;").lower()
    return stripped if _DOI.match(stripped) and len(stripped) <= 300 else None


def _isbn10_valid(digits: str) -> bool:
    if "X" in digits[:9]:
        return False
    total = sum((10 - i) * (10 if d == "X" else int(d)) for i, d in enumerate(digits))
    return total % 11 == 0


def _ean_check(body: str) -> str:
    digits = [ord(d) - 48 for d in body]
    total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return str((10 - total % 10) % 10)

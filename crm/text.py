"""Vietnamese-aware normalization shared by the CRM search, ingest and matching.

Text is stored in NFC. Search keys are *folded*: lower case, no diacritics, ``đ`` → ``d``,
whitespace collapsed, so "nguyen van an" finds "Nguyễn Văn An".
"""

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_D_MAP = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def nfc(value: str | None) -> str | None:
    """NFC-normalize and trim; ``None`` and blank stay ``None``."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value).strip()
    return value or None


def fold(value: str | None) -> str:
    """Lower-case, strip diacritics and collapse whitespace (for search keys)."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFD", value.translate(_D_MAP))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def tokens(value: str | None) -> list[str]:
    """Folded word tokens."""
    return _TOKEN.findall(fold(value))


def given_name(full_name: str) -> str:
    """The given name of a Vietnamese full name (family name first): the last word."""
    parts = full_name.split()
    return parts[-1] if parts else ""


def name_sort_key(full_name: str) -> str:
    """Vietnamese names sort by given name, then by the rest of the name in order."""
    return f"{fold(given_name(full_name))} {fold(full_name)}"

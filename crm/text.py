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


def _fold_slow(value: str) -> str:
    decomposed = unicodedata.normalize("NFD", value.translate(_D_MAP))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def _fold_table() -> dict[int, str]:
    """The fold of each Latin letter and combining mark, for ``str.translate``."""
    table: dict[int, str] = {cp: chr(cp).lower() for cp in range(0x41, 0x5B)}
    for cp in (*range(0x80, 0x250), *range(0x300, 0x370), *range(0x1E00, 0x1F00)):
        char = chr(cp)
        table[cp] = " " if char.isspace() else _fold_slow(char)
    return table


_FOLD_TABLE = _fold_table()


def fold(value: str | None) -> str:
    """Lower-case, strip diacritics and collapse whitespace (for search keys).

    Latin text (Vietnamese included) folds through one ``str.translate``, several times faster
    than decomposing; anything the table leaves non-ASCII takes the Unicode path.
    """
    if not value:
        return ""
    folded = value.translate(_FOLD_TABLE)
    return " ".join(folded.split()) if folded.isascii() else _fold_slow(value)


def tokens(value: str | None) -> list[str]:
    """Folded word tokens."""
    return _TOKEN.findall(fold(value))


#: Word characters plus combining marks, so a decomposed accent never splits a word.
_WORD = re.compile(r"[\w\u0300-\u036f]+")
#: The fold cache is cleared past this many distinct words (a catalog's vocabulary is far smaller).
FOLD_CACHE_SIZE = 200_000
_FOLD: dict[str, str] = {}
#: Raw words whose folded form is several tokens (e.g. a ligature); rare, handled slowly.
_MULTI: dict[str, list[str]] = {}


def _fold_word(raw: str) -> str | list[str]:
    folded = _WORD.findall(fold(raw))
    if len(_FOLD) >= FOLD_CACHE_SIZE:
        _FOLD.clear()
    if len(folded) == 1:
        _FOLD[raw] = folded[0]
        return folded[0]
    _MULTI[raw] = folded
    _FOLD[raw] = ""
    return folded


def analyze_text(text: str | None, exact: bool = False) -> list[str]:
    """The tokens of a text: folded (default) or exactly as written (NFC, case kept)."""
    if not text:
        return []
    raw = _WORD.findall(text)
    if exact:
        return raw
    out = list(map(_FOLD.get, raw))  # the common case: every word already folded once, one C loop
    if None in out or "" in out:
        out = []
        for word in raw:
            folded = _FOLD.get(word)
            if folded is None:
                folded = _fold_word(word)
            if folded == "" or isinstance(folded, list):
                out.extend(_MULTI[word])
            else:
                out.append(folded)
    return out


def given_name(full_name: str) -> str:
    """The given name of a Vietnamese full name (family name first): the last word."""
    parts = full_name.split()
    return parts[-1] if parts else ""


def name_sort_key(full_name: str) -> str:
    """Vietnamese names sort by given name, then by the rest of the name in order."""
    return f"{fold(given_name(full_name))} {fold(full_name)}"

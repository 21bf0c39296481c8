"""Bibliographic fields found in loose text, shared by the feed and OAI-PMH readers.

Feed entries and Dublin Core records write the same things many ways ("doi:10.1/x",
"https://doi.org/10.1/x", "ISBN:978-604-…", "vi", "en_US", "Vietnamese"). These helpers find
them; normalizing (ISBN-13, lower-case DOI) is left to ingest.
"""

import re
from html.parser import HTMLParser

from crm.text import nfc

_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")
_ISBN_LABEL = re.compile(r"\b(?:ISBN(?:-1[03])?|urn:isbn)\b[\s:]*", re.IGNORECASE)
_ISBN_CANDIDATE = re.compile(r"(?<![\dXx-])\d[\d-]{8,15}[\dXx](?![\dXx-])")
_ISSN = re.compile(r"(?<![\d-])(\d{4})-?(\d{3}[\dXx])(?![\dXx-])")
_YEAR = re.compile(r"(?<!\d)(1[4-9]\d\d|20\d\d)(?!\d)")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")
_ISBD_TAIL = re.compile(r"\s+[/:;,=]\s*$")

#: ISO 639-1 and 639-2/T codes and English/Vietnamese names → ISO 639-2/B, as MARC writes them.
_LANGUAGES = {
    "vi": "vie", "en": "eng", "fr": "fre", "de": "ger", "zh": "chi", "ja": "jpn", "ko": "kor",
    "ru": "rus", "es": "spa", "it": "ita", "pt": "por", "th": "tha", "lo": "lao", "km": "khm",
    "id": "ind", "ms": "may", "nl": "dut", "ar": "ara", "hi": "hin", "pl": "pol", "sv": "swe",
    "cs": "cze", "fi": "fin", "da": "dan", "no": "nor", "nb": "nob", "el": "gre", "tr": "tur",
    "hu": "hun", "uk": "ukr", "la": "lat", "he": "heb", "fa": "per", "ro": "rum", "sk": "slo",
    "fra": "fre", "deu": "ger", "zho": "chi", "nld": "dut", "ces": "cze", "ell": "gre",
    "msa": "may", "fas": "per", "ron": "rum", "slk": "slo", "bod": "tib", "mya": "bur",
    "english": "eng", "vietnamese": "vie", "tiếng việt": "vie", "tiếng anh": "eng",
    "french": "fre", "german": "ger", "chinese": "chi", "japanese": "jpn", "korean": "kor",
    "russian": "rus", "spanish": "spa",
}
_THREE_LETTERS = re.compile(r"^[a-z]{3}$")


def language_code(value: str | None) -> str | None:
    """"vi", "vi-VN", "en_US", "eng", "fra", "English" → "vie", "vie", "eng", "eng", "fre", "eng"."""
    if not value:
        return None
    folded = value.strip().lower()
    if folded in _LANGUAGES:
        return _LANGUAGES[folded]
    base = re.split(r"[-_\s]", folded, maxsplit=1)[0]
    if base in _LANGUAGES:
        return _LANGUAGES[base]
    return base if _THREE_LETTERS.match(base) else None


def find_doi(value: str | None) -> str | None:
    """The first DOI in a string: a bare DOI, ``doi:…``, ``info:doi/…`` or a doi.org URL."""
    if not value:
        return None
    match = _DOI.search(value)
    if not match:
        return None
    doi = match.group(0).rstrip(".,;:'")
    while doi.endswith(")") and doi.count(")") > doi.count("("):
        doi = doi[:-1]
    return doi


def _isbn_valid(digits: str) -> bool:
    if len(digits) == 13 and digits.isdigit():
        return sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10 == 0
    if len(digits) == 10 and digits[:9].isdigit() and (digits[9].isdigit() or digits[9] in "Xx"):
        total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
        total += 10 if digits[9] in "Xx" else int(digits[9])
        return total % 11 == 0
    return False


def isbns_in(value: str | None, *, labelled: bool = True) -> list[str]:
    """Valid ISBNs (hyphens removed) in a string; with ``labelled``, only those after "ISBN"."""
    if not value:
        return []
    if labelled:
        segments = [value[m.end():m.end() + 80].split("\n", 1)[0] for m in _ISBN_LABEL.finditer(value)]
    else:
        segments = [value]
    found: list[str] = []
    for segment in segments:
        for candidate in _ISBN_CANDIDATE.findall(segment):
            digits = candidate.replace("-", "").upper()
            if _isbn_valid(digits) and digits not in found:
                found.append(digits)
    return found


def issns_in(value: str | None) -> list[str]:
    """Valid ISSNs (written NNNN-NNNC) in a string."""
    found: list[str] = []
    for head, tail in _ISSN.findall(value or ""):
        digits = head + tail.upper()
        total = sum(int(d) * (8 - i) for i, d in enumerate(digits[:7]))
        check = (11 - total % 11) % 11
        if digits[7] == ("X" if check == 10 else str(check)):
            issn = f"{digits[:4]}-{digits[4:]}"
            if issn not in found:
                found.append(issn)
    return found


def year_in(value: str | None) -> int | None:
    match = _YEAR.search(value or "")
    return int(match.group(1)) if match else None


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})
    _HIDDEN = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001 - HTMLParser's signature
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_lines(markup: str | None) -> list[str]:
    """The text of an HTML fragment, one entry per non-blank line, spaces collapsed, NFC."""
    if not markup:
        return []
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:  # noqa: BLE001 - HTMLParser on hostile input: fall back to the raw text
        extractor.parts = [markup]
    lines = _BLANK_LINES.split("".join(extractor.parts))
    return [line for line in (nfc(_SPACES.sub(" ", raw)) for raw in lines) if line]


def html_text(markup: str | None, *, separator: str = "\n") -> str | None:
    """The text of an HTML fragment (paragraphs kept as lines), NFC; ``None`` when empty."""
    return separator.join(html_lines(markup)) or None


def plain(value: str | None) -> str | None:
    """Whitespace collapsed to single spaces, NFC; ``None`` when blank."""
    if value is None:
        return None
    return nfc(re.sub(r"\s+", " ", value))


def clean_title(value: str | None) -> str | None:
    """A title without the trailing ISBD punctuation catalogues leave (" /", " :")."""
    value = plain(value)
    if value is None:
        return None
    return nfc(_ISBD_TAIL.sub("", value))

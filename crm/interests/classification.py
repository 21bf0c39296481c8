"""Classification numbers and ranges of interest profiles: DDC (``004-006.99``) and LCC (``QA76-QA76.99``).

A single class is a range of one. The matching engine compares an item's class number with
these ranges, so they are stored in one canonical spelling: upper-case letters, no spaces, a
plain hyphen between start and end.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

_DDC = re.compile(r"^\d{3}(?:\.\d+)?$")
_LCC = re.compile(r"^([A-Z]{1,3})(\d+(?:\.\d+)?)$")
_DASHES = str.maketrans({"–": "-", "—": "-", "‐": "-", "−": "-"})


class ClassRangeError(ValueError):
    """Why a value is not a class range: ``invalid``, ``mixed`` schemes or ``reversed``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ClassNumber:
    scheme: str  # "ddc" or "lcc"
    letters: str
    number: Decimal
    text: str

    @property
    def key(self) -> tuple[str, Decimal]:
        return self.letters, self.number


def parse_class(text: str) -> ClassNumber | None:
    text = text.strip().upper()
    if _DDC.match(text):
        return ClassNumber("ddc", "", Decimal(text), text)
    if m := _LCC.match(text):
        return ClassNumber("lcc", m.group(1), Decimal(m.group(2)), text)
    return None


def normalize_class_range(value: str) -> str:
    """The canonical spelling of a class or range; raises ClassRangeError when it is not one."""
    text = re.sub(r"\s+", "", value.translate(_DASHES)).upper()
    parts = text.split("-")
    if len(parts) not in (1, 2) or not all(parts):
        raise ClassRangeError("invalid")
    start, end = parse_class(parts[0]), parse_class(parts[-1])
    if start is None or end is None:
        raise ClassRangeError("invalid")
    if start.scheme != end.scheme:
        raise ClassRangeError("mixed")
    if end.key < start.key:
        raise ClassRangeError("reversed")
    return start.text if start.key == end.key else f"{start.text}-{end.text}"

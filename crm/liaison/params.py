"""Lenient reading of page query strings and form redirects.

Filter forms send blank strings and librarians type dates as dd/mm/yyyy; a page should ignore
a blank filter and explain a bad one instead of answering with a bare 400.
"""

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar.params import Parameter

from crm.liaison.ids import MAX_ID

MAX_PAGE = 1_000_000
#: Path and query ids of the JSON API: out of range → 400 instead of a database error.
IdParam = Annotated[int, Parameter(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, Parameter(ge=1, le=MAX_ID)]
PageParam = Annotated[int, Parameter(ge=1, le=MAX_PAGE)]
PerPageParam = Annotated[int, Parameter(ge=1, le=MAX_PAGE)]  # clamped to MAX_PER_PAGE when paging

_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_int(value: Any) -> int | None:
    """An id from a query string or form; blank or not a whole number → None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def parse_page(value: Any) -> int:
    """A page number from a query string: 1 when blank or unreadable, never past MAX_PAGE."""
    return min(parse_int(value) or 1, MAX_PAGE)


def parse_ids(values: list[Any]) -> list[int]:
    """Ids from a multi-valued form field, in order, without repeats; bad values are skipped."""
    out: list[int] = []
    for value in values:
        number = parse_int(value)
        if number is not None and number not in out:
            out.append(number)
    return out


def parse_date(value: Any) -> dt.date | None:
    """YYYY-MM-DD or dd/mm/yyyy; raises ValueError for anything else that is not blank."""
    text = str(value or "").strip()
    if not text:
        return None
    if m := _VN_DATE.match(text):
        return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    return dt.date.fromisoformat(text)


def safe_next(target: Any, default: str) -> str:
    """A local path to go back to after a form post (never another site)."""
    text = str(target or "")
    if text.startswith("/") and not text.startswith("//") and "\\" not in text:
        return text
    return default


def query_string(values: Mapping[str, Any]) -> str:
    """The filters of a list page as a query string (for pager links), blanks left out."""
    return urlencode({k: v for k, v in values.items() if v not in (None, "", False)})

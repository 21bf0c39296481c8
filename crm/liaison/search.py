"""Search keys of the CRM core's records: folded text, so search ignores case and diacritics.

Every writer (services, CSV import, demo data) sets keys through these functions.
"""

from crm.text import fold, name_sort_key


def contact_keys(full_name: str, email: str) -> dict[str, str]:
    return {"search_key": fold(f"{full_name} {email}"), "sort_key": name_sort_key(full_name)}


def group_key(name: str, code: str | None) -> str:
    return fold(f"{name} {code or ''}")


def profile_key(name: str, topics: str | None, keywords: list[str] | None) -> str:
    return fold(" ".join([name, topics or "", *(keywords or [])]))[:600]

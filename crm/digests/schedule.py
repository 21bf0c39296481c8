"""When a digest is due, and which period it covers: pure functions of a subscription's fields.

Slots are wall-clock times in the library's time zone (a lecturer asks for "Monday 08:00", not
for a UTC instant); the result is an aware UTC datetime, as stored in ``next_due_at``. Works
for any IANA zone, so a zone with daylight saving time keeps the wall-clock hour.
"""

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from crm.settings import DigestSettings

DEFAULT_TIMEZONE = DigestSettings.timezone
#: Monthly digests fall on days 1–28, so the next slot is always within this many days.
SEARCH_DAYS = 62


class Schedule(Protocol):
    frequency: str
    paused_until: date | None
    weekday: int
    month_day: int
    hour: int


def zone(timezone: str | tzinfo | None) -> tzinfo:
    if timezone is None:
        return ZoneInfo(DEFAULT_TIMEZONE)
    return ZoneInfo(timezone) if isinstance(timezone, str) else timezone


def _matches(subscription: Schedule, day: date) -> bool:
    if subscription.frequency == "daily":
        return True
    if subscription.frequency == "weekly":
        return day.weekday() == subscription.weekday
    if subscription.frequency == "monthly":
        return day.day == subscription.month_day
    raise ValueError(f"unknown digest frequency {subscription.frequency!r}")


def _slot(day: date, hour: int, tz: tzinfo) -> datetime:
    """The UTC instant of ``hour``:00 local time on ``day``.

    A wall-clock time skipped by a DST jump maps forward (02:30 → 03:30), one repeated maps to
    its first occurrence: zoneinfo's fold=0 rule, made explicit by the round trip through UTC.
    """
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def next_due(subscription: Schedule, after: datetime, timezone: str | tzinfo | None = None) -> datetime | None:
    """The first slot strictly after ``after`` (and not before ``paused_until``); None when paused.

    ``after`` must be aware. Daily: every day at ``hour``; weekly: on ``weekday`` (0 = Monday);
    monthly: on ``month_day``.
    """
    if subscription.frequency == "paused":
        return None
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    tz = zone(timezone)
    start = after.astimezone(tz).date()
    if subscription.paused_until is not None and subscription.paused_until > start:
        start = subscription.paused_until
    for offset in range(SEARCH_DAYS):
        day = start + timedelta(days=offset)
        if _matches(subscription, day):
            slot = _slot(day, subscription.hour, tz)
            if slot > after:
                return slot
    raise ValueError(f"no digest slot within {SEARCH_DAYS} days: check weekday/month_day/hour")


def period_for(subscription: Schedule, due_at: datetime, timezone: str | tzinfo | None = None) -> str:
    """The period a digest due at ``due_at`` covers: 2026-11-23, 2026-W48 (ISO week) or 2026-11.

    With (subscription, contact, period) unique, a period is sent once however often the
    dispatcher runs.
    """
    local = due_at.astimezone(zone(timezone)) if due_at.tzinfo else due_at
    if subscription.frequency == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if subscription.frequency == "monthly":
        return f"{local.year}-{local.month:02d}"
    return local.date().isoformat()


def local_today(now: datetime | None = None, timezone: str | tzinfo | None = None) -> date:
    """Today's date in the library's time zone (what "not in the past" means for a date)."""
    return (now or datetime.now(UTC)).astimezone(zone(timezone)).date()

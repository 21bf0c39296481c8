"""When digests fall due: daily, weekly and monthly slots at the subscriber's hour, in the library's time zone."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from crm.digests.schedule import local_today, next_due, period_for

HCM = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7, no daylight saving time


@dataclass
class Sub:
    frequency: str = "weekly"
    weekday: int = 0
    month_day: int = 1
    hour: int = 8
    paused_until: date | None = None


def local(*args) -> datetime:
    return datetime(*args, tzinfo=HCM)


def test_daily_is_today_at_the_hour_or_tomorrow_when_it_has_passed():
    sub = Sub(frequency="daily", hour=8)
    assert next_due(sub, local(2026, 11, 23, 7, 59)) == local(2026, 11, 23, 8).astimezone(UTC)
    assert next_due(sub, local(2026, 11, 23, 8, 0)) == local(2026, 11, 24, 8).astimezone(UTC)
    assert next_due(sub, local(2026, 11, 23, 23, 30)) == local(2026, 11, 24, 8).astimezone(UTC)


def test_results_are_utc_and_the_hour_is_library_time():
    due = next_due(Sub(frequency="daily", hour=8), datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    assert due.tzinfo == UTC
    # 08:00 in Hồ Chí Minh City is 01:00 UTC.
    assert due == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    # Just after midnight UTC is already 07:xx local: the slot that day has not passed yet.
    assert next_due(Sub(frequency="daily", hour=0), datetime(2026, 11, 23, 16, 59, tzinfo=UTC)) == \
        datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


def test_weekly_falls_on_the_weekday():
    # 23/11/2026 is a Monday.
    monday = Sub(frequency="weekly", weekday=0, hour=8)
    assert next_due(monday, local(2026, 11, 22, 12)) == local(2026, 11, 23, 8).astimezone(UTC)
    assert next_due(monday, local(2026, 11, 23, 9)) == local(2026, 11, 30, 8).astimezone(UTC)
    sunday = Sub(frequency="weekly", weekday=6, hour=20)
    assert next_due(sunday, local(2026, 11, 23, 9)) == local(2026, 11, 29, 20).astimezone(UTC)


def test_monthly_falls_on_the_day_of_the_month_and_crosses_the_year():
    sub = Sub(frequency="monthly", month_day=15, hour=7)
    assert next_due(sub, local(2026, 11, 14, 23)) == local(2026, 11, 15, 7).astimezone(UTC)
    assert next_due(sub, local(2026, 12, 15, 7)) == local(2027, 1, 15, 7).astimezone(UTC)
    # Day 28 exists in February, also in a leap year.
    assert next_due(Sub(frequency="monthly", month_day=28), local(2028, 1, 29)) == local(2028, 2, 28, 8).astimezone(UTC)


def test_paused_has_no_next_slot():
    assert next_due(Sub(frequency="paused"), local(2026, 11, 23)) is None


def test_paused_until_gives_the_first_slot_on_or_after_that_date():
    holiday = Sub(frequency="weekly", weekday=0, hour=8, paused_until=date(2027, 1, 4))  # a Monday
    assert next_due(holiday, local(2026, 12, 20)) == local(2027, 1, 4, 8).astimezone(UTC)
    daily = Sub(frequency="daily", hour=8, paused_until=date(2027, 1, 2))
    assert next_due(daily, local(2026, 12, 20)) == local(2027, 1, 2, 8).astimezone(UTC)
    monthly = Sub(frequency="monthly", month_day=1, paused_until=date(2027, 1, 2))
    assert next_due(monthly, local(2026, 12, 20)) == local(2027, 2, 1, 8).astimezone(UTC)
    # A holiday that is over changes nothing.
    over = Sub(frequency="daily", hour=8, paused_until=date(2026, 1, 1))
    assert next_due(over, local(2026, 11, 23, 9)) == local(2026, 11, 24, 8).astimezone(UTC)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        next_due(Sub(), datetime(2026, 11, 23))


def test_daylight_saving_time_keeps_the_wall_clock_hour():
    berlin = ZoneInfo("Europe/Berlin")
    sub = Sub(frequency="daily", hour=8)
    # Summer time ends on 25/10/2026: 08:00 is 06:00 UTC before and 07:00 UTC after.
    before = next_due(sub, datetime(2026, 10, 24, 0, 0, tzinfo=berlin), "Europe/Berlin")
    after = next_due(sub, before, "Europe/Berlin")
    assert before == datetime(2026, 10, 24, 6, 0, tzinfo=UTC)
    assert after == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert after.astimezone(berlin).hour == 8
    # 02:00 does not exist on 29/03/2026 in Berlin: the slot moves forward, it is not lost.
    gap = next_due(Sub(frequency="daily", hour=2), datetime(2026, 3, 28, 12, 0, tzinfo=UTC), "Europe/Berlin")
    assert gap.astimezone(berlin).date() == date(2026, 3, 29)


def test_periods_name_the_day_the_iso_week_or_the_month():
    due = local(2026, 11, 23, 8)
    assert period_for(Sub(frequency="daily"), due) == "2026-11-23"
    assert period_for(Sub(frequency="weekly"), due) == "2026-W48"
    assert period_for(Sub(frequency="monthly"), due) == "2026-11"
    # ISO weeks belong to the year of their Thursday: 01/01/2027 (a Friday) is in 2026-W53.
    assert period_for(Sub(frequency="weekly"), local(2027, 1, 1, 8)) == "2026-W53"
    assert period_for(Sub(frequency="weekly"), local(2024, 12, 30, 8)) == "2025-W01"


def test_periods_use_the_library_date_not_the_utc_date():
    # 06:00 local on 1 December is still 30 November in UTC.
    due = local(2026, 12, 1, 6).astimezone(UTC)
    assert due.day == 30
    assert period_for(Sub(frequency="daily"), due) == "2026-12-01"
    assert period_for(Sub(frequency="monthly"), due) == "2026-12"


def test_local_today():
    assert local_today(datetime(2026, 11, 23, 18, 0, tzinfo=UTC)) == date(2026, 11, 24)


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
subscriptions = st.builds(Sub, frequency=st.sampled_from(["daily", "weekly", "monthly"]),
                          weekday=st.integers(0, 6), month_day=st.integers(1, 28), hour=st.integers(0, 23),
                          paused_until=st.none() | st.dates(min_value=date(2020, 1, 1), max_value=date(2036, 1, 1)))


@hsettings(max_examples=300, deadline=None)
@given(sub=subscriptions, after=moments)
def test_next_due_is_the_first_matching_slot_after(sub, after):
    due = next_due(sub, after)
    assert due > after
    slot = due.astimezone(HCM)
    assert (slot.hour, slot.minute, slot.second) == (sub.hour, 0, 0)
    if sub.frequency == "weekly":
        assert slot.weekday() == sub.weekday
    if sub.frequency == "monthly":
        assert slot.day == sub.month_day
    if sub.paused_until is not None:
        assert slot.date() >= sub.paused_until
    # No matching slot is skipped: every day between `after` and `due` is checked by brute force.
    day = after.astimezone(HCM).date()
    while day < slot.date():
        candidate = datetime(day.year, day.month, day.day, sub.hour, tzinfo=HCM)
        if candidate > after and (sub.paused_until is None or day >= sub.paused_until):
            matches = {"daily": True, "weekly": day.weekday() == sub.weekday,
                       "monthly": day.day == sub.month_day}[sub.frequency]
            assert not matches, (candidate, due)
        day += timedelta(days=1)
    # Repeating from the slot gives a later slot (the dispatcher always moves forward).
    assert next_due(sub, due) > due

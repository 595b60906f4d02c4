"""The days each report period covers (CONTRACTS.md: daily … annual), at the edges."""

from __future__ import annotations

from datetime import date

import pytest

from crm_core.services.reports import Period
from crm_core.services.reports.periods import period_bounds


@pytest.mark.parametrize(
    ("period", "day", "first", "last"),
    [
        (Period.DAILY, date(2028, 2, 29), date(2028, 2, 29), date(2028, 2, 29)),
        # weeks run Monday to Sunday, across a year's end
        (Period.WEEKLY, date(2026, 12, 31), date(2026, 12, 28), date(2027, 1, 3)),
        (Period.WEEKLY, date(2026, 12, 28), date(2026, 12, 28), date(2027, 1, 3)),
        # calendar months: a leap February, a 31-day month, December
        (Period.MONTHLY, date(2028, 2, 10), date(2028, 2, 1), date(2028, 2, 29)),
        (Period.MONTHLY, date(2027, 2, 28), date(2027, 2, 1), date(2027, 2, 28)),
        (Period.MONTHLY, date(2026, 1, 31), date(2026, 1, 1), date(2026, 1, 31)),
        (Period.MONTHLY, date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 31)),
        (Period.QUARTERLY, date(2026, 3, 31), date(2026, 1, 1), date(2026, 3, 31)),
        (Period.QUARTERLY, date(2026, 4, 1), date(2026, 4, 1), date(2026, 6, 30)),
        (Period.QUARTERLY, date(2026, 11, 15), date(2026, 10, 1), date(2026, 12, 31)),
        (Period.ANNUAL, date(2026, 1, 1), date(2026, 1, 1), date(2026, 12, 31)),
        (Period.ANNUAL, date(2028, 12, 31), date(2028, 1, 1), date(2028, 12, 31)),
    ],
)
def test_period_bounds(period: Period, day: date, first: date, last: date) -> None:
    assert period_bounds(period, day) == (first, last)


def test_every_day_of_a_year_lies_in_its_month_and_quarter() -> None:
    day = date(2028, 1, 1)
    while day.year == 2028:
        for period in (Period.MONTHLY, Period.QUARTERLY, Period.ANNUAL):
            first, last = period_bounds(period, day)
            assert first <= day <= last
            assert first.day == 1
        day = date.fromordinal(day.toordinal() + 1)

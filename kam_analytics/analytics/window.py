"""The window the key-account standard is evaluated on: a number of calendar months ending on
the as-of date. Light on purpose (no pandas): the command line builds its options from it."""
from __future__ import annotations

import calendar
import datetime as dt

STANDARD_MONTHS = 12                # the default: the twelve months ending on the as-of date
STANDARD_WINDOWS = (12, 24, 36, 0)  # the windows a user may choose; 0 = the whole history up to the date


def window_start(as_of, months: int | None) -> dt.date | None:
    """The first day of the standard's window: the ``months`` calendar months ending on
    ``as_of`` (inclusive), i.e. the day after the same date ``months`` months earlier, a day
    the earlier month lacks standing as its last day (2024-03-31 and 12 → 2023-04-01;
    2024-02-29 and 12 → 2023-03-01). None for 0 or None (the whole history)."""
    if not months:
        return None
    day = as_of if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime) else \
        dt.date.fromisoformat(str(as_of)[:10])
    index = day.year * 12 + day.month - 1 - int(months)
    year, month = divmod(index, 12)
    earlier = dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    return earlier + dt.timedelta(days=1)

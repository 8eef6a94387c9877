"""The fixed clock of QA runs: a line with opening hours is called at a time it is open."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.engine.flow import Hours

#: The week runs take their time from, so that they repeat: Monday 23 November 2026.
REFERENCE_MONDAY = datetime(2026, 11, 23)
#: How the fixed clock is chosen, for commands' help.
CLOCK_HELP = (
    "noon (or, when closed at noon, midway through the hours) of the line's first open "
    "day in the week of Monday 2026-11-23: the TTY line at 2026-11-23T12:00:00-06:00"
)


def open_time(hours: Hours) -> str:
    """An ISO 8601 time, in the line's time zone, at which a line with `hours` is open.

    Noon of the first open day from REFERENCE_MONDAY on, or midway through the hours when the
    line is closed at noon: the same answer on every run, whatever the real clock says.
    """
    day = min(hours.days) if hours.days else 0
    noon = 12 * 60
    minute = (
        noon
        if hours.open_minute <= noon < hours.close_minute
        else (hours.open_minute + max(hours.close_minute - hours.open_minute, 0) // 2)
    )
    local = REFERENCE_MONDAY + timedelta(days=day, minutes=minute)
    return local.replace(tzinfo=ZoneInfo(hours.timezone)).isoformat()

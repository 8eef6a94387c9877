"""Opening hours and the injectable clock (`IVR_NOW` freezes it for tests and trainers)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ivr.engine.errors import ConfigError
from ivr.engine.flow import Hours

Clock = Callable[[], datetime]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The years a frozen clock may show: any time zone and a few days of date arithmetic (a
#: delivery date, a refill due) stay inside what datetime can hold.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def is_open(hours: Hours, now: datetime) -> bool:
    """Say whether a line with these hours is open at `now` (an aware datetime)."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    minute = local.hour * 60 + local.minute
    return local.weekday() in hours.days and hours.open_minute <= minute < hours.close_minute


def system_clock() -> datetime:
    return datetime.now(UTC)


def frozen_clock(iso: str, *, source: str) -> Clock:
    """Return a clock stopped at `iso` (ISO 8601; a naive time is taken as America/Chicago).

    `source` names where the time came from (IVR_NOW, SimulatedNow, --now, ...), for the error.
    """
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise ConfigError(
            f"{source}={iso!r} is not an ISO 8601 time; use e.g. 2026-11-24T21:30:00-06:00 "
            "(a time without an offset is Central)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("America/Chicago"))
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:  # 9999-12-31T23:59:59-12:00 overflows in UTC
        raise ConfigError(
            f"{source}={iso!r} is out of range: the clock takes a time from {FIRST_YEAR} to "
            f"{LAST_YEAR}, e.g. 2026-11-24T21:30:00-06:00"
        )
    return lambda: moment


def clock_from(value: str | None, *, source: str = "IVR_NOW") -> Clock:
    """The clock a setting asks for: stopped at `value`, or the system clock when it is unset."""
    return frozen_clock(value, source=source) if value else system_clock

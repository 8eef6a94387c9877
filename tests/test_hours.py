"""Tests for ivr.hours: the frozen clock, and errors that name where a bad time came from."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.engine.config import EngineConfig
from ivr.engine.errors import ConfigError
from ivr.engine.hours import clock_from, frozen_clock, system_clock


@pytest.mark.parametrize("source", ["IVR_NOW", "SimulatedNow", "--now", "now"])
def test_a_bad_time_is_blamed_on_its_source(source: str) -> None:
    with pytest.raises(ConfigError) as raised:
        frozen_clock("tonight", source=source)
    assert str(raised.value).startswith(f"{source}='tonight' is not an ISO 8601 time; use e.g. ")


def test_a_naive_time_is_central_and_an_aware_one_is_kept() -> None:
    naive = frozen_clock("2026-11-24T21:30", source="--now")()
    assert naive == datetime(2026, 11, 24, 21, 30, tzinfo=ZoneInfo("America/Chicago"))
    aware = frozen_clock("2026-11-24T21:30:00+00:00", source="--now")()
    offset = aware.utcoffset()
    assert offset is not None and offset.total_seconds() == 0


def test_clock_from_a_setting_names_ivr_now_and_unset_is_the_system_clock() -> None:
    assert clock_from(None) is system_clock
    with pytest.raises(ConfigError, match=r"^IVR_NOW='soon' is not an ISO 8601 time"):
        EngineConfig.from_mapping({"NOW": "soon"})

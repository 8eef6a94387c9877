"""EngineConfig.from_mapping: every setting, bad values named by their variable, no real numbers dialled."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ivr.engine.config import DEFAULT_VOICES, DESKS, FLOWS_DIR, FORBIDDEN_NUMBERS, EngineConfig
from ivr.engine.errors import ConfigError


def test_an_empty_mapping_gives_the_defaults() -> None:
    config = EngineConfig.from_mapping({})
    assert (config.flows_dir, config.line_numbers, config.transfer_numbers) == (FLOWS_DIR, {}, {})
    assert config.voices == DEFAULT_VOICES
    assert (config.session_ttl, config.max_failures, config.record_ttl) == (4 * 3600, 3, 30 * 24 * 3600)
    assert (config.reload_flows, config.allow_simulated_clock) == (False, True)
    assert (config.secret_key, config.database, config.redis_url, config.redis_prefix) == (
        None,
        None,
        None,
        "ivr:",
    )


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        pytest.param("FLOWS_DIR", "/srv/flows", "flows_dir", Path("/srv/flows"), id="FLOWS_DIR"),
        pytest.param("DEFAULT_LINE", "tty", "default_line", "tty", id="DEFAULT_LINE"),
        pytest.param("SESSION_TTL", "60", "session_ttl", 60, id="SESSION_TTL"),
        pytest.param("MAX_FAILURES", 5, "max_failures", 5, id="MAX_FAILURES"),
        pytest.param("RECORD_TTL", "86400", "record_ttl", 86400, id="RECORD_TTL"),
        pytest.param("RELOAD_FLOWS", "yes", "reload_flows", True, id="RELOAD_FLOWS"),
        pytest.param("ALLOW_SIMULATED_CLOCK", "0", "allow_simulated_clock", False, id="SIMULATED_CLOCK"),
        pytest.param("SECRET_KEY", "s3cret", "secret_key", "s3cret", id="SECRET_KEY"),
        pytest.param("DATABASE", ":memory:", "database", ":memory:", id="DATABASE"),
        pytest.param("REDIS_URL", "redis://h:6379/1", "redis_url", "redis://h:6379/1", id="REDIS_URL"),
        pytest.param("REDIS_PREFIX", "x:", "redis_prefix", "x:", id="REDIS_PREFIX"),
    ],
)
def test_each_setting_is_read(key: str, value: int | str, attribute: str, expected: object) -> None:
    assert getattr(EngineConfig.from_mapping({key: value}), attribute) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" On ", True), ("0", False), ("no", False), ("", False)],
)
def test_flags(value: str, expected: bool) -> None:
    assert EngineConfig.from_mapping({"RELOAD_FLOWS": value}).reload_flows is expected


def test_voices_keep_their_language() -> None:
    config = EngineConfig.from_mapping({"VOICE_EN": "Polly.Matthew", "VOICE_ES": "Polly.Miguel"})
    assert config.voices == {"en": ("Polly.Matthew", "en-US"), "es": ("Polly.Miguel", "es-US")}


def test_now_freezes_the_clock_and_naive_times_are_central() -> None:
    clock = EngineConfig.from_mapping({"NOW": "2026-11-23T10:00:00"}).clock
    assert clock() == datetime.fromisoformat("2026-11-23T10:00:00-06:00")


@pytest.mark.parametrize(
    ("key", "value"),
    [("SESSION_TTL", "0"), ("SESSION_TTL", "-5"), ("MAX_FAILURES", "three"), ("RECORD_TTL", "1.5")],
    ids=["zero", "negative", "word", "fraction"],
)
def test_a_bad_number_names_its_variable(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^IVR_{key}='{value}' must be a positive whole number$"):
        EngineConfig.from_mapping({key: value})


@pytest.mark.parametrize(
    ("key", "number", "expected"),
    [
        pytest.param("LINE_MAIN", "+1 (500) 555-0001", {"main": "+15005550001"}, id="main"),
        pytest.param("LINE_TTY", "5005550002", {"tty": "+15005550002"}, id="ten-digits"),
        pytest.param("LINE_ACME_SUPPORT", "15005550003", {"acme_support": "+15005550003"}, id="any-name"),
        pytest.param("LINE_MAIN", "", {}, id="empty-ignored"),
    ],
)
def test_ivr_line_name_sets_the_number_of_a_line(key: str, number: str, expected: dict[str, str]) -> None:
    assert EngineConfig.from_mapping({key: number}).line_numbers == expected


def test_transfer_number_for_every_desk_and_per_desk_overrides() -> None:
    config = EngineConfig.from_mapping(
        {"TRANSFER_NUMBER": "+15005550006", "TRANSFER_PHARMACIST": "(500) 555-0001"}
    )
    assert config.transfer_numbers == {
        desk: "+15005550001" if desk == "pharmacist" else "+15005550006" for desk in DESKS
    }


@pytest.mark.parametrize("number", sorted(FORBIDDEN_NUMBERS))
@pytest.mark.parametrize("key", ["TRANSFER_NUMBER", "TRANSFER_MEDICARE"])
def test_a_number_from_the_guide_is_refused(key: str, number: str) -> None:
    with pytest.raises(ConfigError, match=rf"^IVR_{key} is \{number}, a real number .* never dials it"):
        EngineConfig.from_mapping({key: number})


def test_a_malformed_transfer_number_names_its_variable() -> None:
    with pytest.raises(ConfigError, match=r"^IVR_TRANSFER_SPECIALTY='call me' is not a phone number"):
        EngineConfig.from_mapping({"TRANSFER_SPECIALTY": "call me"})

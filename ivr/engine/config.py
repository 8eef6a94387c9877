"""Engine settings, read from a plain mapping (Flask config, environment or a test dict)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.engine.errors import ConfigError
from ivr.engine.hours import Clock, clock_from

FLOWS_DIR = Path(__file__).parent.parent / "flows"

#: Numbers documented in the seed guide: data a prompt may speak, never a transfer target.
FORBIDDEN_NUMBERS: frozenset[str] = frozenset(
    ["+18002372765", "+18006734828", "+18007114041", "+18662242741"]
)
DEFAULT_VOICES: dict[str, tuple[str, str]] = {
    "en": ("Polly.Joanna", "en-US"),
    "es": ("Polly.Lupe", "es-US"),
}
DESKS = ("representative", "pharmacist", "medicare", "international", "specialty", "specialty_pharmacist")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
#: Seconds a call's session lives after its last request (IVR_SESSION_TTL).
SESSION_TTL = 4 * 3600
#: Seconds a call's record and path outlive its session in Redis (IVR_RECORD_TTL).
RECORD_TTL = 30 * 24 * 3600
#: Seconds an idle trainer-page call lives before it is hung up (IVR_TRAINER_CALL_TTL).
TRAINER_CALL_TTL = 30 * 60
#: Days a call's record and path are kept before a purge deletes them (IVR_RETENTION_DAYS).
RETENTION_DAYS = 30


def normalize_number(value: str) -> str:
    """Return a phone number in E.164 form as far as it can be told: '+1 (800) 237-2765'."""
    text = str(value).strip()
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        return text
    if text.startswith("+"):
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    return "+" + digits  # 11 digits starting with 1, or any other country


@dataclass
class EngineConfig:
    """Everything the engine needs that may differ between deployments."""

    flows_dir: Path = FLOWS_DIR
    #: Numbers that reach a line instead of the ones its flow file lists (IVR_LINE_<NAME>).
    line_numbers: dict[str, str] = field(default_factory=dict)
    #: The line any other number reaches (IVR_DEFAULT_LINE); unset: `main`, or the only flow.
    default_line: str | None = None
    transfer_numbers: dict[str, str] = field(default_factory=dict)
    voices: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_VOICES))
    session_ttl: int = SESSION_TTL
    max_failures: int = 3
    clock: Clock = field(default=clock_from(None))
    reload_flows: bool = False
    secret_key: str | None = None
    #: Where the member hash key is kept when `secret_key` is unset (made 0600 when missing).
    secret_key_file: str | None = None
    url_prefix: str = "/voice"
    allow_simulated_clock: bool = True
    #: The session store: Redis when `redis_url` is set, else SQLite in the `database` file.
    database: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "ivr:"
    #: How long a call's record and path outlive its session in Redis (default: the retention).
    record_ttl: int = RECORD_TTL
    #: Days call records are kept: older ones are purged (every store; Redis also expires them).
    retention_days: int = RETENTION_DAYS
    #: Failed identity checks from one source (a caller's number, a trainer's browser or
    #: address) within the window, over all calls, before that source is locked out.
    identity_lockout_attempts: int = 5
    identity_lockout_window: int = 15 * 60

    @classmethod
    def from_mapping(cls, conf: Mapping[str, Any]) -> EngineConfig:
        """Build from keys without the IVR_ prefix: LINE_MAIN, TRANSFER_NUMBER, NOW, ..."""
        out = cls()
        if conf.get("FLOWS_DIR"):
            out.flows_dir = Path(str(conf["FLOWS_DIR"]))
        for key, number in conf.items():
            if isinstance(key, str) and key.startswith("LINE_") and number:
                out.line_numbers[key[5:].lower()] = normalize_number(str(number))
        if conf.get("DEFAULT_LINE"):
            out.default_line = str(conf["DEFAULT_LINE"])
        for desk in DESKS:
            key = f"TRANSFER_{desk.upper()}" if conf.get(f"TRANSFER_{desk.upper()}") else "TRANSFER_NUMBER"
            number = conf.get(key)
            if number:
                out.transfer_numbers[desk] = _safe_transfer(key, str(number))
        for lang in ("en", "es"):
            voice = conf.get(f"VOICE_{lang.upper()}")
            if voice:
                out.voices[lang] = (str(voice), out.voices[lang][1])
        out.session_ttl = _positive_int(conf, "SESSION_TTL", out.session_ttl)
        out.max_failures = _positive_int(conf, "MAX_FAILURES", out.max_failures)
        out.clock = clock_from(str(conf["NOW"]) if conf.get("NOW") else None, source="IVR_NOW")
        out.reload_flows = _flag(conf.get("RELOAD_FLOWS", False))
        out.allow_simulated_clock = _flag(conf.get("ALLOW_SIMULATED_CLOCK", True))
        out.secret_key = str(conf["SECRET_KEY"]) if conf.get("SECRET_KEY") else None
        out.secret_key_file = str(conf["SECRET_KEY_FILE"]) if conf.get("SECRET_KEY_FILE") else None
        out.database = str(conf["DATABASE"]) if conf.get("DATABASE") else None
        out.redis_url = str(conf["REDIS_URL"]) if conf.get("REDIS_URL") else None
        if conf.get("REDIS_PREFIX"):
            out.redis_prefix = str(conf["REDIS_PREFIX"])
        out.retention_days = _positive_int(conf, "RETENTION_DAYS", out.retention_days)
        out.identity_lockout_attempts = _positive_int(conf, "IDENTITY_LOCKOUT_ATTEMPTS", 5)
        out.identity_lockout_window = _positive_int(conf, "IDENTITY_LOCKOUT_WINDOW", 15 * 60)
        out.record_ttl = _positive_int(conf, "RECORD_TTL", out.retention_days * 24 * 3600)
        return out


def _safe_transfer(key: str, number: str) -> str:
    normalized = normalize_number(number)
    if not E164.match(normalized):
        raise ConfigError(
            f"IVR_{key}={number!r} is not a phone number; use E.164 such as "
            "+15005550006, or leave it unset to transfer to the simulated queue"
        )
    if normalized in FORBIDDEN_NUMBERS:
        raise ConfigError(
            f"IVR_{key} is {normalized}, a real number from the documented "
            "menu; this simulator never dials it. Use a number you own, or leave it unset."
        )
    return normalized


def _positive_int(conf: Mapping[str, Any], key: str, default: int) -> int:
    value = conf.get(key)
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"IVR_{key}={value!r} must be a positive whole number")
    return number


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")

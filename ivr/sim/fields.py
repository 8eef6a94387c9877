"""The fields Twilio sends on every webhook of an inbound call, geographic ones included."""

from __future__ import annotations

from collections.abc import Mapping

GEO = ("City", "State", "Zip", "Country")
#: Country codes by calling code, for the few the simulator is asked about; others stay empty.
_COUNTRIES = (("+1", "US"), ("+44", "GB"), ("+52", "MX"), ("+49", "DE"), ("+33", "FR"))


def twilio_name(key: str) -> str:
    """`from_state` -> `FromState`; a name already in Twilio's spelling is kept as it is."""
    if "_" not in key and not key.islower():
        return key
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def country_of(number: str) -> str:
    """The ISO country of a number Twilio would report (US for +1), or '' when unknown."""
    return next((country for prefix, country in _COUNTRIES if number.startswith(prefix)), "")


def geographic(caller: str, to: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """From*/To* and their mirrors Caller*/Called*; `overrides` (Twilio names) win.

    Twilio fills City, State and Zip from its number data; the simulator has none, so they are
    empty unless configured. A Caller*/Called* field mirrors From*/To* unless set itself.
    """
    fields: dict[str, str] = {}
    for side, mirror, number in (("From", "Caller", caller), ("To", "Called", to)):
        for part in GEO:
            default = country_of(number) if part == "Country" else ""
            value = overrides.get(side + part, default)
            fields[side + part] = value
            fields[mirror + part] = overrides.get(mirror + part, value)
    return fields


def normalised(fields: Mapping[str, str] | None) -> dict[str, str]:
    """Overrides with snake_case keys turned into Twilio's names."""
    return {twilio_name(k): str(v) for k, v in (fields or {}).items()}

"""What a call webhook accepts, stated for test oracles apart from the code under test."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

#: Twilio's call SIDs (and our simulated callers'): CA and 32 lowercase hexadecimal digits.
TWILIO_CALL_SID = re.compile(r"CA[0-9a-f]{32}")


def answers_call(form: Mapping[str, str]) -> bool:
    """Whether /voice or /voice/input answers these fields with a menu (200) rather than a 400.

    Refused: no CallSid, one that is not a Twilio SID (never cut to fit), and a SimulatedNow
    that reads as a time outside the years 1900 to 2199 (a malformed one is ignored instead).
    """
    if not TWILIO_CALL_SID.fullmatch(form.get("CallSid", "").strip()):
        return False
    try:
        moment = datetime.fromisoformat(form.get("SimulatedNow", ""))
    except ValueError:
        return True
    return 1900 <= moment.year <= 2199

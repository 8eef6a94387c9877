"""The numbers simulated calls come from: Twilio's test number, and numbered fictional ones."""

from __future__ import annotations

#: Twilio's magic test number: a simulated call's `From` when nothing else is given.
TEST_CALLER = "+15005550006"
#: Area codes of the form NANP gives them ([2-9][0-8][0-9]), for numbered_caller.
_AREA_CODES = tuple(f"{a}{b}{c}" for a in range(2, 10) for b in range(9) for c in range(10))
#: How many numbered callers there are before one comes round again.
NUMBERED_CALLERS = len(_AREA_CODES) * 100


def numbered_caller(index: int) -> str:
    """The `index`-th of the fictional numbers given to callers that must not share one.

    A run's scenarios without `from:`, and a crawl's calls, each get one of their own, so one
    call's failed identity checks never lock another out (the lockout counts per number, over
    all its calls). They are fictional: 555-0100 to 555-0199 is the block every North American
    area code keeps for fiction.
    """
    area = _AREA_CODES[(index // 100) % len(_AREA_CODES)]
    return f"+1{area}55501{index % 100:02d}"

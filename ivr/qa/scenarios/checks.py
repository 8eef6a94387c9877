"""The checks of `expect` steps: what was heard since the last input against what must be."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from ivr.qa.scenarios.model import Check
from ivr.sim import Heard

_WORD = re.compile(r"[\w']+")
_CLIP = 240


def check_heard(check: Check, heard: str) -> tuple[bool, str]:
    """Apply one check; return whether it passed and a reason a person can act on."""
    if check.kind == "not_contains":
        at = _fold(heard).find(_fold(check.text))
        if at < 0:
            return True, ""
        return False, f"heard {check.text!r}, which must not be said: {_around(heard, at, len(check.text))}"
    if not heard.strip():
        return False, "heard nothing since the last input"
    if check.kind == "contains":
        if _fold(check.text) in _fold(heard):
            return True, ""
        return False, f"did not hear {check.text!r}; heard: {clip(heard)}"
    if check.kind == "regex":
        assert check.pattern is not None  # the loader compiles every regex
        if check.pattern.search(heard):
            return True, ""
        return False, f"nothing matches /{check.text}/; heard: {clip(heard)}"
    score, window = best_window(check.text, heard)
    if score >= check.threshold:
        return True, f"best match scored {score:.2f}"
    return False, (
        f"best match {window!r} scored {score:.2f}, below the threshold {check.threshold:g}; "
        f"heard: {clip(heard)}"
    )


def check_sounds(check: Check, heard: list[Heard]) -> tuple[bool, str]:
    """A `play`, `play_regex` or `pause` check against what was heard since the last input."""
    if check.kind == "pause":
        pauses = [h.text for h in heard if h.kind == "pause"]
        if f"{check.text}s" in pauses:
            return True, ""
        found = ", ".join(pauses) or "none"
        return False, f"no pause of {check.text}s since the last input (pauses: {found})"
    played = [h.text for h in heard if h.kind == "play"]
    if check.kind == "play" and check.text in played:
        return True, ""
    if check.kind == "play_regex" and check.pattern is not None:
        if any(check.pattern.search(url) for url in played):
            return True, ""
    found = ", ".join(played) or "nothing"
    return False, f"did not hear <Play> of {check.describe().split(' ', 1)[1]}; played: {found}"


def best_window(expected: str, heard: str) -> tuple[float, str]:
    """The best difflib ratio of `expected` against any run of about as many words in `heard`.

    Case and punctuation are ignored: "Press 1." and "press 1" are the same words.
    """
    want, have = _WORD.findall(expected.casefold()), _WORD.findall(heard.casefold())
    if not want or not have:
        return 0.0, ""
    target = " ".join(want)
    if f" {target} " in f" {' '.join(have)} ":
        return 1.0, target  # said word for word: no window can score more
    slack = max(1, len(want) // 4)
    best = (0.0, "")
    for size in range(max(1, len(want) - slack), len(want) + slack + 1):
        for start in range(max(1, len(have) - size + 1)):
            window = " ".join(have[start : start + size])
            matcher = SequenceMatcher(None, window, target, autojunk=False)
            if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
                continue  # cannot beat the best so far: skip the slow exact ratio
            ratio = matcher.ratio()
            if ratio > best[0]:
                best = (ratio, window)
    return best


def clip(text: str, limit: int = _CLIP) -> str:
    """Shorten `text` for a one-line reason; the full text is in the transcript."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _around(heard: str, at: int, length: int) -> str:
    text = " ".join(heard.split())
    start, end = max(0, at - 60), min(len(text), at + length + 60)
    return repr(("…" if start else "") + text[start:end] + ("…" if end < len(text) else ""))

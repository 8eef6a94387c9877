"""Breadth-first walk of a line through the app: every key at every state, as a caller would."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from flask import Flask

from .phone import Phone

KEYS = [*"0123456789*#"]
ENTRY_INPUTS = {
    "verify_id": ["10203040", "12"],
    "verify_dob": ["03071956", "01011990"],
    "refill_request": ["7654321", "1"],
}
#: Silent tries in a row worth walking: the engine's default of three failures, and one more.
MAX_SILENCES = 4
Path = tuple[str, ...]


def _replay(app: Flask, to: str, path: Path) -> Phone:
    phone = Phone(app.test_client(), to=to).dial()
    for step in path:
        if step == "<silence>":
            phone.silence()
        else:
            phone.press(step)
    return phone


def crawl(app: Flask, to: str) -> Iterator[tuple[Path, str, Phone]]:
    """Yield (inputs, state, phone) for the first path found to every reachable state."""
    store = app.extensions["ivr"].store
    first = _replay(app, to, ())
    state = store.get_call(first.sid).state
    seen = {state}
    yield (), state, first
    # (path, state, phone, silent retries so far): a state re-prompted after silence is walked
    # on with more silence only, so where the last silent try leads (a goodbye) is found too.
    queue: deque[tuple[Path, str, Phone, int]] = deque([((), state, first, 0)])
    while queue:
        path, state, phone, silences = queue.popleft()
        if phone.gather is None:
            continue
        steps = ["<silence>"] if silences else [*ENTRY_INPUTS.get(state, KEYS), "<silence>"]
        for step in steps:
            nxt = _replay(app, to, (*path, step))
            nstate = store.get_call(nxt.sid).state
            if nstate not in seen:
                seen.add(nstate)
                yield (*path, step), nstate, nxt
                queue.append(((*path, step), nstate, nxt, 0))
            elif step == "<silence>" and nstate == state and silences + 1 < MAX_SILENCES:
                queue.append(((*path, step), nstate, nxt, silences + 1))

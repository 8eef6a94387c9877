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
    queue: deque[tuple[Path, str, Phone]] = deque([((), state, first)])
    while queue:
        path, state, phone = queue.popleft()
        if phone.gather is None:
            continue
        for step in [*ENTRY_INPUTS.get(state, KEYS), "<silence>"]:
            nxt = _replay(app, to, (*path, step))
            nstate = store.get_call(nxt.sid).state
            if nstate not in seen:
                seen.add(nstate)
                yield (*path, step), nstate, nxt
                queue.append(((*path, step), nstate, nxt))

"""What a test expects to exist, asserted, so that its type loses `| None` (for mypy --strict)."""

from __future__ import annotations

from xml.etree import ElementTree

from ivr.engine.store import CallRecord, SessionStore


def stored(store: SessionStore, sid: str) -> CallRecord:
    """The record of call `sid`, which the test expects the store to hold (`get_call` without None)."""
    record = store.get_call(sid)
    assert record is not None, f"no record of call {sid}"
    return record


def found(root: ElementTree.Element, path: str) -> ElementTree.Element:
    """The first element at `path` under `root`, which the test expects there (`find` without None)."""
    element = root.find(path)
    assert element is not None, f"no {path} in {ElementTree.tostring(root, encoding='unicode')}"
    return element


def found_text(root: ElementTree.Element, path: str) -> str:
    """The text of the first element at `path` under `root`, which the test expects to have some."""
    text = found(root, path).text
    assert text is not None, f"{path} has no text"
    return text

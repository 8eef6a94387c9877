"""The crawler takes up calls it already has instead of placing them again, and leaves none up.

A call that found a new state by that state's own path tries the state's first input; a call
an input left where it was goes on when that input is repeated. Each such call still counts
against max_calls, so bounds stop a crawl where they always did.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from ivr.qa.crawl import CrawlOptions, crawl
from ivr.sim import HttpReply, WsgiTransport

from .conftest import OPEN_HOURS
from .phone import MAIN


class _Counting:
    """A WSGI transport that notes each request's path and call."""

    def __init__(self, app: Flask) -> None:
        self.inner = WsgiTransport(app)
        self.sent: list[tuple[str, str]] = []

    def request(
        self, method: str, url: str, fields: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpReply:
        self.sent.append((url.split("?")[0].removeprefix("http://localhost"), fields["CallSid"]))
        return self.inner.request(method, url, fields, headers)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    application = create_app({"TESTING": True, "DATABASE": str(tmp_path / "ivr.sqlite3"), "NOW": OPEN_HOURS})
    yield application
    application.extensions["ivr"].store.close()


def test_every_call_placed_is_ended_and_the_app_hears_so(app: Flask) -> None:
    transport = _Counting(app)
    report = crawl(transport, MAIN, options=CrawlOptions(depth=2))
    dialled = [sid for path, sid in transport.sent if path == "/voice"]
    ended = [sid for path, sid in transport.sent if path == "/voice/status"]
    assert len(dialled) == len(set(dialled)) == report.calls
    assert sorted(ended) == sorted(dialled)  # one completed callback per call, none left up


def test_calls_are_taken_up_again_rather_than_placed_for_every_input(app: Flask) -> None:
    report = crawl(_Counting(app), MAIN, options=CrawlOptions(depth=2))
    # Replaying every input from a new call would place one call per move, and the first.
    assert report.calls < len(report.moves) + 1
    assert report.truncated is False


@pytest.mark.parametrize("max_calls", [1, 2, 5, 12], ids=lambda n: f"max-{n}")
def test_a_call_taken_up_again_counts_against_the_bound(app: Flask, max_calls: int) -> None:
    report = crawl(WsgiTransport(app), MAIN, options=CrawlOptions(max_calls=max_calls))
    assert report.truncated is True
    assert report.calls <= max_calls
    # Each try of an input at the first menu is one call, placed or taken up: as many as allowed.
    tried = sum(1 for move in report.moves if len(move.inputs) == 1)
    assert tried == max_calls - 1

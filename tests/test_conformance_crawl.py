"""Crawls of someone else's app: inputs from its Gather, partial reports, a first call that fails."""

from __future__ import annotations

import pytest

from ivr.qa.crawl import CrawlError, CrawlOptions, crawl
from ivr.sim import WsgiTransport

from .conformance_apps import app, doc, reply

PIN = doc('<Gather action="/pin" numDigits="4"><Say>Enter your four digit PIN.</Say></Gather>')
ACCOUNT = doc('<Gather action="/acct" finishOnKey="*"><Say>Enter your account, then star.</Say></Gather>')


def _pin(request):  # type: ignore[no-untyped-def]
    ok = request.form.get("Digits") == "1234"
    return doc(f"<Say>{'Welcome.' if ok else 'Wrong PIN.'}</Say><Hangup/>")


def test_entry_inputs_follow_the_gathers_num_digits() -> None:
    """<Gather numDigits>: "The numDigits attribute specifies how many digits you require from
    callers for this <Gather> instance for DTMF input": a four-digit Gather is tried with four
    digits, not our member ID."""
    served = app({"/": PIN, "/pin": _pin})
    report = crawl(
        WsgiTransport(served), "+18005550100", options=CrawlOptions(depth=2), call_options={"voice_url": "/"}
    )

    sent = [s.form.get("Digits") for s in served.to("/pin")]
    assert "1234" in sent and "10203040" not in sent
    assert any("Welcome" in (p.expect or "") or "Welcome" in p.label for p in report.paths)


def test_entry_inputs_end_with_the_finish_on_key() -> None:
    """<Gather finishOnKey>: "specifies the value that your caller presses to submit their digits": the
    crawl types digits, then that key."""
    served = app({"/": ACCOUNT, "/acct": doc("<Say>Thanks.</Say>")})
    crawl(
        WsgiTransport(served), "+18005550100", options=CrawlOptions(depth=1), call_options={"voice_url": "/"}
    )

    assert {s.form.get("Digits") for s in served.to("/acct")} >= {"1234", "12345678"}


def test_a_path_failing_mid_crawl_gives_a_partial_report() -> None:
    """A failing action ("HTTP retrieval failure") is one error of the report; the crawl goes on."""
    menu = doc('<Gather action="/m" numDigits="1"><Say>Press 1 or 2.</Say></Gather>')

    def choose(request):  # type: ignore[no-untyped-def]
        if request.form.get("Digits") == "2":
            raise RuntimeError("boom")
        return doc("<Say>One.</Say>")

    served = app({"/": menu, "/m": choose})
    served.flask.config["PROPAGATE_EXCEPTIONS"] = False
    report = crawl(
        WsgiTransport(served), "+18005550100", options=CrawlOptions(depth=1), call_options={"voice_url": "/"}
    )

    assert report.paths
    assert any("11200" in e.detail for e in report.errors)


def test_a_first_call_failure_names_the_twilio_error_and_the_url() -> None:
    """The report names the real cause: Twilio's error code and the URL that failed."""
    served = app({"/ivr/in": reply("nope", 404, "text/plain")})
    with pytest.raises(CrawlError) as caught:
        crawl(WsgiTransport(served), "+18005550100", call_options={"voice_url": "/ivr/in"})

    message = str(caught.value)
    assert "11200 HTTP retrieval failure" in message
    assert "http://localhost/ivr/in" in message
    assert "/voice" not in message

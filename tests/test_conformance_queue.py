"""<Enqueue>, its waitUrl, <Leave> and <Dial><Queue> (twilio.com/docs/voice/twiml/enqueue, /leave,
/queue), one app per rule."""

from __future__ import annotations

from collections import deque

import pytest
from flask import Response

from ivr.sim import Outcome, SimulationError
from ivr.sim.switch import MAX_QUEUE_WAIT, Agent, Switch
from tests.conformance import Place, app, forms, place
from tests.twiml_apps import Page

__all__ = ["place"]

ENQUEUE = '<Enqueue waitUrl="/wait" action="/after">support</Enqueue><Say>After the queue.</Say>'
AFTER = "<Say>Thanks for waiting.</Say>"


def test_the_wait_url_loops_until_an_agent_dequeues_the_caller(place: Place) -> None:
    """ "Enqueued calls wait in hold music until the call is dequeued by another caller"; the
    action "is made ... when the call leaves the queue, describing the dequeue reason and
    details about the time spent in the queue" (QueueResult bridged, QueueTime)."""
    served = app(root=ENQUEUE, wait='<Say>Please hold.</Say><Pause length="10"/>', after=AFTER)
    switch = Switch(park=False)
    switch.dequeue(Agent(after=30, talk=20))
    call = place(served, switch=switch).dial()

    waits = forms(served, "/wait")
    assert len(waits) == 3  # 0 s, ~10.8 s, ~21.6 s; the agent picks up at 30 s
    assert [w["QueuePosition"] for w in waits] == ["1", "1", "1"]
    assert [int(w["QueueTime"]) for w in waits] == [0, 10, 21]
    assert {w["CurrentQueueSize"] for w in waits} == {"1"} and waits[0]["QueueSid"].startswith("QU")
    (sent,) = forms(served, "/after")
    assert (sent["QueueResult"], sent["QueueTime"]) == ("bridged", "30")
    assert call.heard == "Please hold. Please hold. Please hold. Thanks for waiting."


def test_a_redirect_in_the_wait_document_names_the_next_one(place: Place) -> None:
    """A <Redirect> in the waitUrl document: the next wait document comes from its URL."""
    served = app(
        root=ENQUEUE,
        wait='<Say>Please hold.</Say><Redirect method="GET">/wait2</Redirect>',
        wait2='<Pause length="20"/>',
        after=AFTER,
    )
    switch = Switch(park=False)
    switch.dequeue(Agent(after=15))
    place(served, switch=switch).dial()

    assert [s.path for s in served.seen][:3] == ["/", "/wait", "/wait2"]
    assert served.to("/wait2")[0].method == "GET"


def test_leave_takes_the_caller_out_to_the_verb_after_enqueue(place: Place) -> None:
    """ "When Twilio executes the <Leave> verb on a call, the call is removed from the queue and
    Twilio executes the next TwiML verb after the original <Enqueue>.\""""
    served = app(root='<Enqueue waitUrl="/wait">support</Enqueue><Say>We are closed.</Say>', wait="<Leave/>")
    call = place(served).dial()

    assert call.heard == "We are closed."
    assert call.outcome == Outcome("completed")


def test_leave_with_an_action_reports_queue_result_leave(place: Place) -> None:
    """QueueResult leave: the caller left the queue by a <Leave> in the wait document."""
    served = app(root=ENQUEUE, wait="<Leave/>", after=AFTER)
    place(served).dial()

    assert forms(served, "/after")[0]["QueueResult"] == "leave"


def test_a_caller_who_hangs_up_in_the_queue_reports_queue_result_hangup(place: Place) -> None:
    """QueueResult hangup: the caller hung up while in the queue (on a shared switch the caller
    stays in the queue until then)."""
    served = app(root=ENQUEUE, wait="<Say>Please hold.</Say>", after=AFTER)
    call = place(served, switch=Switch()).dial()
    assert not call.ended  # parked in the queue

    call.hangup()

    assert forms(served, "/after")[0]["QueueResult"] == "hangup"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"


def test_an_agent_call_dequeues_the_caller_with_dial_queue(place: Place) -> None:
    """<Dial><Queue>: "the caller will be connected with the first enqueued call in the
    specified queue"; its url "will be executed on the queued caller's end before the two
    parties are connected". Two simulated calls share one Switch."""
    served = app(
        root=ENQUEUE,
        wait="<Say>Please hold.</Say>",
        after=AFTER,
        agent='<Dial action="/agent-done"><Queue url="/announce">support</Queue></Dial>',
        announce="<Say>Connecting you to an agent.</Say>",
        **{"agent-done": "<Hangup/>"},
    )
    switch = Switch()
    caller = place(served, switch=switch).dial()
    agent = place(served, voice_url="/agent", switch=switch).dial()

    (announce,) = forms(served, "/announce")
    assert announce["CallSid"] == caller.call_sid and announce["DequeingCallSid"] == agent.call_sid
    assert forms(served, "/after")[0]["QueueResult"] == "bridged"
    assert caller.heard == "Please hold. Connecting you to an agent. Thanks for waiting."
    done = forms(served, "/agent-done")[0]
    assert (done["DialCallStatus"], done["DialCallSid"]) == ("completed", caller.call_sid)


def test_a_full_queue_reports_queue_full(place: Place) -> None:
    """QueueResult queue-full: the queue already holds maxQueueSize callers."""
    served = app(
        root='<Enqueue maxQueueSize="1" waitUrl="/wait" action="/after">support</Enqueue>',
        wait="<Say>Please hold.</Say>",
        after=AFTER,
    )
    switch = Switch()
    place(served, switch=switch).dial()
    second = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["QueueResult"] == "queue-full"
    assert second.heard == "Thanks for waiting."


def test_the_simulator_stops_a_wait_that_never_ends(place: Place) -> None:
    """A bounded loop: an agent planned later than the simulator waits (600 virtual seconds)."""
    served = app(root=ENQUEUE, wait='<Pause length="60"/>', after=AFTER)
    switch = Switch(park=False)
    switch.dequeue(Agent(after=MAX_QUEUE_WAIT + 300))
    call = place(served, switch=switch).dial()

    assert call.outcome is not None and call.outcome.kind == "enqueue"
    assert call.outcome.detail == "still in the queue after 600s (the simulator stops at 600s)"
    assert len(served.to("/wait")) == 10 and served.to("/after") == []


def _broken(_: object) -> Response:
    return Response("oops", status=500)


@pytest.mark.parametrize(
    "wait",
    [
        pytest.param(_broken, id="http-500"),
        pytest.param("<Response><Say>Please hold.", id="not-xml"),
    ],
)
def test_a_wait_url_that_fails_reports_queue_result_error(place: Place, wait: Page) -> None:
    """QueueResult error: "An unexpected error occurred" while the caller waits; here the
    waitUrl answers with an HTTP error or a document that is not TwiML. The caller leaves the
    queue: the action is requested with QueueResult error, and its TwiML runs."""
    served = app(root=ENQUEUE, after=AFTER)
    served.pages["/wait"] = wait
    call = place(served).dial()

    (sent,) = forms(served, "/after")
    assert sent["QueueResult"] == "error" and sent["QueueSid"].startswith("QU")
    assert call.heard == "Thanks for waiting."
    assert call.switch.queues["support"].waiting == deque()
    wait_step = next(step for step in call.transcript.steps if step.kind == "wait")
    assert wait_step.error and wait_step.code in ("11200", "12100")


def test_a_failed_wait_url_without_an_action_goes_on_after_enqueue(place: Place) -> None:
    """Without an action, a caller taken out of the queue by an error goes on with the verb
    after <Enqueue>."""
    served = app(root='<Enqueue waitUrl="/wait">support</Enqueue><Say>After the queue.</Say>')
    served.pages["/wait"] = _broken
    call = place(served).dial()

    assert call.heard == "After the queue."
    assert call.outcome == Outcome("completed")


def test_a_call_redirected_out_of_the_queue_reports_queue_result_redirected(place: Place) -> None:
    """QueueResult redirected: "The call was redirected out of the queue", as Twilio's call
    update REST API does (Url, Method): the caller leaves the queue, the action hears
    QueueResult redirected and the call runs the new URL's TwiML, not the action's."""
    served = app(root=ENQUEUE, wait="<Say>Please hold.</Say>", after=AFTER, moved="<Say>We moved you.</Say>")
    switch = Switch()
    call = place(served, switch=switch).dial()
    assert not call.ended  # parked in the queue

    call.redirect("/moved", method="GET")

    (sent,) = forms(served, "/after")
    assert sent["QueueResult"] == "redirected"
    assert served.to("/moved")[0].method == "GET"
    assert call.heard == "We moved you."
    assert call.outcome == Outcome("completed")
    assert switch.queues["support"].waiting == deque()


def test_a_call_at_a_gather_can_be_redirected_too(place: Place) -> None:
    """The call-update REST API redirects a call wherever it is; at a <Gather> the new URL
    runs in its place."""
    served = app(root='<Gather action="/got"><Say>Press a key.</Say></Gather>', moved="<Say>Moved.</Say>")
    call = place(served).dial()

    call.redirect("/moved")

    assert call.heard == "Moved." and not served.to("/got")
    with pytest.raises(SimulationError, match="has ended"):
        call.redirect("/moved")

"""<Enqueue>, its waitUrl, <Leave> and <Dial><Queue> (twilio.com/docs/voice/twiml/enqueue, /leave,
/queue), one app per rule."""

from __future__ import annotations

from collections import deque

import pytest
from flask import Response

from ivr.sim import Heard, Outcome, SimulationError
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
    assert waits[0]["MaxQueueSize"] == "1000"  # "The maximum number of enqueued calls for this queue"
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
    """While the caller waits, the waitUrl answers with an HTTP error or a document that is not
    TwiML. Twilio's QueueResult error is "The TwiML contained an error, either in the <Enqueue>
    verb itself or in the TwiML retrieved from a waitUrl"; the simulator reads a wait URL that
    cannot be fetched the same way: the caller leaves the queue, the action is requested with
    QueueResult error, and its TwiML runs."""
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


AGENT = '<Dial action="/agent-done" timeout="20"><Queue>support</Queue></Dial>'


def test_dial_queue_to_an_empty_queue_waits_for_the_next_caller(place: Place) -> None:
    """ "If the queue is empty, Dial will wait until the next person joins the queue or until
    the <Dial> timeout duration is reached" (the Queue reference). On a shared Switch the
    agent's call waits there; the caller who enqueues next is bridged at once."""
    served = app(root=ENQUEUE, wait="<Say>Please hold.</Say>", after=AFTER, agent=AGENT)
    served.pages["/agent-done"] = lambda _: "<Response><Hangup/></Response>"
    switch = Switch()
    switch.queue("support")  # the queue exists (Twilio keeps it; the REST API can create one)
    agent = place(served, voice_url="/agent", switch=switch).dial()
    assert not agent.ended and served.to("/agent-done") == []

    caller = place(served, switch=switch).dial()

    done = forms(served, "/agent-done")[0]
    assert (done["DialCallStatus"], done["DialCallSid"], done["DialBridged"]) == (
        "completed",
        caller.call_sid,
        "true",
    )
    assert forms(served, "/after")[0]["QueueResult"] == "bridged"
    assert served.to("/wait") == []  # taken before any hold music
    assert agent.outcome == Outcome("hangup") and caller.heard == "Thanks for waiting."


def test_dial_queue_gives_up_at_its_timeout(place: Place) -> None:
    """ "... or until the <Dial> timeout duration is reached": on a switch of its own nobody can
    join, so the Dial waits its timeout and ends no-answer; on a shared one, a caller who
    enqueues after the timeout is not taken (the agent's Dial ended) and waits in the queue."""
    served = app(
        root=f'<Pause length="30"/>{ENQUEUE}', wait="<Say>Please hold.</Say>", after=AFTER, agent=AGENT
    )
    served.pages["/agent-done"] = lambda _: "<Response><Hangup/></Response>"
    alone = Switch(park=False)
    alone.queue("support")
    lonely = place(served, voice_url="/agent", switch=alone).dial()
    assert forms(served, "/agent-done")[0]["DialCallStatus"] == "no-answer"
    assert lonely.transcript.steps[-2].at == pytest.approx(20)

    shared = Switch()
    shared.queue("support")
    agent = place(served, voice_url="/agent", switch=shared).dial()
    caller = place(served, switch=shared).dial()  # enqueues 30 s in: after the 20 s timeout

    assert forms(served, "/agent-done")[1]["DialCallStatus"] == "no-answer"
    assert agent.ended and not caller.ended  # the caller waits on, parked in the queue
    assert [q.call for q in shared.queues["support"].waiting] == [caller]


def test_dial_queue_to_a_queue_that_does_not_exist_posts_failed(place: Place) -> None:
    """ "If the queue does not exist, Dial will post an error status to its action URL":
    DialCallStatus failed (a queue exists once a call enqueued there, or Switch.queue made it)."""
    served = app(root='<Dial action="/done"><Queue>nobody</Queue></Dial>', done="<Hangup/>")
    place(served).dial()

    (done,) = forms(served, "/done")
    assert (done["DialCallStatus"], done["DialBridged"]) == ("failed", "false")


def test_an_agent_hanging_up_while_its_dial_queue_waits_cancels_it(place: Place) -> None:
    """The agent's caller hangs up while its <Dial><Queue> waits: the Dial is canceled (as for
    a caller who hangs up while a number rings); the action is requested, its TwiML not run."""
    served = app(agent=AGENT)
    served.pages["/agent-done"] = lambda _: "<Response><Say>Never heard.</Say></Response>"
    switch = Switch()
    switch.queue("support")
    agent = place(served, voice_url="/agent", switch=switch).dial()

    agent.hangup()

    assert forms(served, "/agent-done")[0]["DialCallStatus"] == "canceled"
    assert agent.outcome is not None and agent.outcome.kind == "caller-hangup"
    assert switch.queues["support"].dequeuers == deque()


def test_a_caller_who_hangs_up_while_being_bridged_is_bridging_in_process(place: Place) -> None:
    """QueueResult "bridging-in-process: Twilio has been instructed to bridge the enqueued
    party": the agent dequeues with <Queue url> (run "on the queued caller's end before the
    two parties are connected") and the caller hangs up during it."""
    served = app(
        root=ENQUEUE,
        wait='<Pause length="10"/>',
        after=AFTER,
        announce="<Say>Connecting you to an agent, this call may be recorded.</Say>",
    )
    switch = Switch(park=False)
    switch.dequeue(Agent(after=5, url="/announce", caller_hangs_up=1))
    call = place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert (sent["QueueResult"], sent["QueueTime"]) == ("bridging-in-process", "5")
    assert served.to("/announce")[0].form["QueueTime"] == "5"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"


def test_a_caller_who_hangs_up_while_bridged_reports_bridged(place: Place) -> None:
    """ "In the case where a call is dequeued via the <Dial> verb, the action URL is hit once
    when the bridged parties disconnect": the caller hangs up 4 s into the talk; the action has
    QueueResult bridged, and its TwiML is not run (nobody is on the line)."""
    served = app(root=ENQUEUE, wait='<Pause length="10"/>', after=AFTER)
    switch = Switch(park=False)
    switch.dequeue(Agent(after=5, talk=60, caller_hangs_up=4))
    call = place(served, switch=switch).dial()

    assert forms(served, "/after")[0]["QueueResult"] == "bridged"
    assert call.outcome is not None and call.outcome.kind == "caller-hangup"
    assert call.heard == ""


def test_a_bridged_caller_transferred_out_is_redirected_from_bridged(place: Place) -> None:
    """QueueResult "redirected-from-bridged: The queued and then successfully bridged session
    was transferred out": after talking the agent moves the caller to another URL (a warm
    transfer); the action hears the result and the call runs the new URL, not the action."""
    served = app(root=ENQUEUE, wait='<Pause length="10"/>', after=AFTER, billing="<Say>Billing here.</Say>")
    switch = Switch(park=False)
    switch.dequeue(Agent(after=5, talk=20, transfer="/billing"))
    call = place(served, switch=switch).dial()

    (sent,) = forms(served, "/after")
    assert (sent["QueueResult"], sent["QueueTime"]) == ("redirected-from-bridged", "5")
    assert call.heard == "Billing here." and call.outcome == Outcome("completed")
    assert served.to("/billing")[0].form["CallSid"] == call.call_sid


def test_an_empty_wait_url_plays_nothing(place: Place) -> None:
    """ "If you don't wish anything to be played while the caller is waiting in the queue, set
    waitUrl to an empty string"."""
    served = app(root='<Enqueue waitUrl="" action="/after">support</Enqueue>', after=AFTER)
    switch = Switch(park=False)
    switch.dequeue(Agent(after=40))
    call = place(served, switch=switch).dial()

    assert call.heard_all == [Heard("pause", "agent"), Heard("say", "Thanks for waiting.")]
    assert forms(served, "/after")[0]["QueueTime"] == "40"


def test_a_wait_url_may_return_audio(place: Place) -> None:
    """waitUrl: "The URL may return an MP3 file, a WAV file, or a TwiML document": audio is
    played to the caller, and requested again when it ends."""
    served = app(root=ENQUEUE, after=AFTER)
    served.pages["/wait"] = lambda _: Response(b"ID3", mimetype="audio/mpeg")
    switch = Switch(park=False)
    switch.dequeue(Agent(after=3))
    call = place(served, switch=switch).dial()

    plays = [h for h in call.heard_all if h.kind == "play"]
    assert len(plays) == 2 and plays[0].text.endswith("/wait")  # 2 s a play, then the agent
    assert forms(served, "/after")[0]["QueueResult"] == "bridged"


def test_a_verb_not_allowed_in_the_wait_url_is_queue_result_error(place: Place) -> None:
    """The waitUrl supports Play, Say, Pause, Hangup, Redirect, Leave and Gather; QueueResult
    "error: The TwiML contained an error, either in the <Enqueue> verb itself or in the TwiML
    retrieved from a waitUrl." A <Dial> there takes the caller out with that result."""
    served = app(root=ENQUEUE, wait="<Dial>+15551230000</Dial>", after=AFTER)
    call = place(served).dial()

    assert forms(served, "/after")[0]["QueueResult"] == "error"
    assert call.heard == "Thanks for waiting."
    wait_step = next(step for step in call.transcript.steps if step.kind == "wait")
    assert wait_step.error == "<Dial> is not allowed in a waitUrl document"


def test_a_gather_in_the_wait_url_is_a_loud_simulator_limit(place: Place) -> None:
    """<Gather> is allowed in a waitUrl by Twilio; the simulator does not run it there yet and
    says so: the call ends as an error naming the verb (no silent skip)."""
    served = app(root=ENQUEUE, wait='<Gather numDigits="1"><Say>Press 1.</Say></Gather>', after=AFTER)
    call = place(served).dial()

    assert call.outcome is not None and call.outcome.kind == "error"
    assert call.outcome.detail == "the simulator does not run <Gather> in a waitUrl document"


def test_a_planned_agent_for_another_queue_does_not_dequeue_this_one(place: Place) -> None:
    """An agent planned for one queue (Agent.queue, a scenario's `dequeue: {queue: ...}`)
    leaves callers of other queues waiting."""
    served = app(root=ENQUEUE, wait="<Say>Please hold.</Say>", after=AFTER)
    switch = Switch(park=False)
    switch.dequeue(Agent(after=5, queue="sales"))
    call = place(served, switch=switch).dial()

    assert call.outcome is not None and call.outcome.kind == "enqueue"
    assert served.to("/after") == []

"""Tests for ivr.twiml_rules: Twilio-built TwiML passes and broken TwiML is rejected."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.twiml import TwiML, lower_camel
from twilio.twiml.voice_response import Dial, Gather, Say, VoiceResponse

from ivr.sim.twiml_rules import RULES, TwimlError, problems, validate_twiml

# --------------------------------------------------------------------------- valid documents


def _say_with_voice() -> VoiceResponse:
    response = VoiceResponse()
    response.say("Welcome to Example Corp.", voice="Polly.Joanna", language="en-US")
    response.say("Bienvenido.", voice="alice", language="es-MX", loop=2)
    response.say("Hello from Google.", voice="Google.en-US-Neural2-A")
    return response


def _menu_gather() -> VoiceResponse:
    response = VoiceResponse()
    gather = Gather(
        input="dtmf speech",
        num_digits=1,
        finish_on_key="",
        timeout=5,
        action_on_empty_result=True,
        hints="sales, support, billing",
        language="en-US",
        action="/voice/menu?attempt=1&lang=en",
        method="POST",
        speech_timeout="auto",
    )
    gather.say("For sales press 1 or say sales.", voice="Polly.Joanna", language="en-US")
    gather.pause(length=1)
    gather.say("For support press 2 <or> say support & wait.")
    response.append(gather)
    response.say("We did not get that.")
    response.redirect("/voice/menu", method="POST")
    return response


def _gather_with_play() -> VoiceResponse:
    response = VoiceResponse()
    gather = response.gather(num_digits=4, finish_on_key="#", timeout=10, method="GET")
    gather.play("https://example.com/prompt.mp3", loop=1)
    gather.play(digits="ww1234")
    return response


def _enqueue_with_wait_url() -> VoiceResponse:
    response = VoiceResponse()
    response.say("Please hold for the next agent.")
    response.enqueue("support", wait_url="/voice/hold", wait_url_method="GET", action="/done")
    return response


def _dial_number_child() -> VoiceResponse:
    response = VoiceResponse()
    dial = Dial(caller_id="+15555550100", timeout=20, answer_on_bridge=True, action="/after")
    dial.number("+15555550123", send_digits="ww123#", status_callback_event="ringing answered")
    response.append(dial)
    return response


def _dial_text() -> VoiceResponse:
    response = VoiceResponse()
    response.dial("+1 (555) 555-0123", record="record-from-answer", ring_tone="us")
    return response


def _dial_simultaneous() -> VoiceResponse:
    response = VoiceResponse()
    dial = response.dial(sequential=False)
    dial.number("+15555550123")
    dial.client("agent_alice")
    dial.sip("sip:agent@example.com")
    return response


def _dial_queue() -> VoiceResponse:
    response = VoiceResponse()
    response.dial().queue("support", url="/voice/whisper")
    return response


def _redirect_pause_hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.pause(length=2)
    response.redirect("https://example.com/voice/next")
    response.hangup()
    return response


def _leave_reject_record() -> VoiceResponse:
    response = VoiceResponse()
    response.record(max_length=30, finish_on_key="#*", play_beep=True, trim="trim-silence")
    response.leave()
    response.reject(reason="busy")
    return response


def _ssml_say() -> VoiceResponse:
    response = VoiceResponse()
    say = Say("Your code is", voice="Polly.Matthew")
    say.break_(time="500ms")
    say.say_as("1234", interpret_as="digits")
    say.prosody("Thanks for calling.", rate="slow", pitch="+5%")
    response.append(say)
    return response


def _empty_response() -> VoiceResponse:
    return VoiceResponse()


VALID_BUILDERS: list[tuple[str, Callable[[], VoiceResponse]]] = [
    ("say-voice-language", _say_with_voice),
    ("gather-menu", _menu_gather),
    ("gather-play", _gather_with_play),
    ("enqueue-wait-url", _enqueue_with_wait_url),
    ("dial-number-child", _dial_number_child),
    ("dial-text", _dial_text),
    ("dial-simultaneous", _dial_simultaneous),
    ("dial-queue", _dial_queue),
    ("redirect-pause-hangup", _redirect_pause_hangup),
    ("leave-reject-record", _leave_reject_record),
    ("ssml-say", _ssml_say),
    ("empty-response", _empty_response),
]


@pytest.mark.parametrize(
    "build", [build for _, build in VALID_BUILDERS], ids=[name for name, _ in VALID_BUILDERS]
)
def test_twilio_builder_output_is_valid(build: Callable[[], VoiceResponse]) -> None:
    xml = str(build())
    assert problems(xml) == []
    root = validate_twiml(xml)
    assert root.tag == "Response"
    assert len(root) == len(build().verbs)


def test_validate_returns_parsed_tree_for_bytes() -> None:
    xml = str(_menu_gather()).encode("utf-8")
    root = validate_twiml(xml)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf speech"
    assert gather.get("finishOnKey") == ""
    assert [child.tag for child in gather] == ["Say", "Pause", "Say"]
    assert gather[2].text == "For support press 2 <or> say support & wait."


def test_declared_encoding_in_bytes_is_honoured() -> None:
    xml = b'<?xml version="1.0" encoding="ISO-8859-1"?><Response><Say>caf\xe9</Say></Response>'
    assert validate_twiml(xml)[0].text == "caf\u00e9"


def test_hand_written_pretty_printed_twiml_is_valid() -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
    <!-- main menu -->
    <Response>
        <Gather input="speech dtmf" numDigits="1" action="/menu">
            <Say voice="Polly.Joanna">
                Hello <amazon:effect name="whispered">there</amazon:effect>,
                <lang xml:lang="fr-FR">bonjour</lang>.
            </Say>
        </Gather>
        <Dial>
            <Conference beep="onEnter" statusCallbackEvent="join leave">room-1</Conference>
        </Dial>
    </Response>
    """
    assert problems(xml) == []


# The helper library is generated from Twilio's own TwiML definitions, so every keyword it
# accepts (minus the ones it turns into element text) must be an attribute the rules allow.
BUILDER_ATTRIBUTES: list[tuple[str, Callable[..., Any], str, set[str]]] = [
    ("Say", VoiceResponse.say, "Say", {"message"}),
    ("Play", VoiceResponse.play, "Play", {"url"}),
    ("Pause", VoiceResponse.pause, "Pause", set()),
    ("Gather", VoiceResponse.gather, "Gather", set()),
    ("Dial", VoiceResponse.dial, "Dial", {"number"}),
    ("Enqueue", VoiceResponse.enqueue, "Enqueue", {"name"}),
    ("Redirect", VoiceResponse.redirect, "Redirect", {"url"}),
    ("Reject", VoiceResponse.reject, "Reject", set()),
    ("Record", VoiceResponse.record, "Record", set()),
    ("Number", Dial.number, "Number", {"phone_number"}),
    ("Client", Dial.client, "Client", {"identity"}),
    ("Conference", Dial.conference, "Conference", {"name"}),
    ("Queue", Dial.queue, "Queue", {"name"}),
    ("Sip", Dial.sip, "Sip", {"sip_url"}),
    ("Application", Dial.application, "Application", {"application_sid"}),
]


@pytest.mark.parametrize(
    ("method", "key", "text_params"),
    [row[1:] for row in BUILDER_ATTRIBUTES],
    ids=[row[0] for row in BUILDER_ATTRIBUTES],
)
def test_rules_know_every_attribute_the_twilio_builder_emits(
    method: Callable[..., Any], key: str, text_params: set[str]
) -> None:
    params = [
        name
        for name, param in inspect.signature(method).parameters.items()
        if name != "self" and param.kind is not param.VAR_KEYWORD and name not in text_params
    ]
    emitted = {lower_camel(TwiML.MAP.get(name, name)) for name in params}
    assert emitted, f"no attributes introspected for {key}"
    assert sorted(emitted - set(RULES[key].attrs)) == []


# --------------------------------------------------------------------------- invalid documents


def _response(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


# (id, document, fragments that must all appear in one single reported problem)
INVALID: list[tuple[str, str | bytes, list[str]]] = [
    (
        "wrong-root",
        "<Reply><Say>Hi</Say></Reply>",
        ["Reply:", "root element must be <Response>"],
    ),
    (
        "unknown-verb",
        _response("<Speak>Hi</Speak>"),
        ["Response/Speak[1]:", "unknown element <Speak>"],
    ),
    (
        "sms-is-not-voice",
        _response("<Sms>Hi</Sms>"),
        ["Response/Sms[1]:", "unknown element <Sms>"],
    ),
    (
        "lowercase-verb",
        _response("<say>Hi</say>"),
        ["Response/say[1]:", "unknown element <say>"],
    ),
    (
        "prompt-outside-pay",
        _response("<Prompt/>"),
        ["Response/Prompt[1]:", "not allowed inside <Response>", "belongs inside <Pay>"],
    ),
    (
        "dial-inside-gather",
        _response("<Gather><Dial>+15555550123</Dial></Gather>"),
        ["Response/Gather[1]/Dial[1]:", "<Dial> is not allowed inside <Gather>"],
    ),
    (
        "gather-inside-gather",
        _response("<Gather><Say>a</Say></Gather><Gather><Gather/></Gather>"),
        ["Response/Gather[2]/Gather[1]:", "<Gather> is not allowed inside <Gather>"],
    ),
    (
        "child-inside-hangup",
        _response("<Hangup><Say>Bye</Say></Hangup>"),
        ["Response/Hangup[1]/Say[1]:", "not allowed inside <Hangup>"],
    ),
    (
        "gather-numdigits-zero",
        _response('<Gather numDigits="0"/>'),
        ["Response/Gather[1]/@numDigits:", "'0'", "positive integer"],
    ),
    (
        "gather-numdigits-letter",
        _response('<Gather numDigits="x"/>'),
        ["Response/Gather[1]/@numDigits:", "'x'", "positive integer"],
    ),
    (
        "gather-numdigits-negative",
        _response('<Gather numDigits="-1"/>'),
        ["Response/Gather[1]/@numDigits:", "'-1'", "positive integer"],
    ),
    (
        "gather-timeout-with-unit",
        _response('<Gather timeout="5s"/>'),
        ["Response/Gather[1]/@timeout:", "'5s'", "positive integer"],
    ),
    (
        "gather-finishonkey-letter",
        _response('<Gather finishOnKey="A"/>'),
        ["Response/Gather[1]/@finishOnKey:", "'A'"],
    ),
    (
        "gather-finishonkey-two-keys",
        _response('<Gather finishOnKey="#*"/>'),
        ["Response/Gather[1]/@finishOnKey:", "'#*'"],
    ),
    (
        "gather-method-put",
        _response('<Gather method="PUT"/>'),
        ["Response/Gather[1]/@method:", "'PUT'", "'GET', 'POST'"],
    ),
    (
        "gather-method-lowercase",
        _response('<Gather method="post"/>'),
        ["Response/Gather[1]/@method:", "'post'"],
    ),
    (
        "redirect-method-bad",
        _response('<Redirect method="DELETE">/next</Redirect>'),
        ["Response/Redirect[1]/@method:", "'DELETE'"],
    ),
    (
        "gather-input-voice",
        _response('<Gather input="voice"/>'),
        ["Response/Gather[1]/@input:", "'voice'", "'dtmf', 'speech'"],
    ),
    (
        "gather-input-comma",
        _response('<Gather input="dtmf,speech"/>'),
        ["Response/Gather[1]/@input:", "'dtmf,speech'"],
    ),
    (
        "gather-input-repeated",
        _response('<Gather input="dtmf dtmf"/>'),
        ["Response/Gather[1]/@input:", "repeat"],
    ),
    (
        "gather-boolean-capitalised",
        _response('<Gather actionOnEmptyResult="True"/>'),
        ["Response/Gather[1]/@actionOnEmptyResult:", "'True'", "'true', 'false'"],
    ),
    (
        "gather-speechtimeout-word",
        _response('<Gather input="speech" speechTimeout="fast"/>'),
        ["Response/Gather[1]/@speechTimeout:", "'fast'", "'auto'"],
    ),
    (
        "gather-language-name",
        _response('<Gather language="english"/>'),
        ["Response/Gather[1]/@language:", "'english'"],
    ),
    (
        "gather-unknown-attribute-typo",
        _response('<Gather numdigits="1"/>'),
        ["Response/Gather[1]/@numdigits:", "unknown attribute of <Gather>", "'numDigits'"],
    ),
    (
        "say-unknown-attribute",
        _response('<Say rate="fast">Hi</Say>'),
        ["Response/Say[1]/@rate:", "unknown attribute of <Say>"],
    ),
    (
        "hangup-attribute",
        _response('<Hangup reason="busy"/>'),
        ["Response/Hangup[1]/@reason:", "unknown attribute of <Hangup>"],
    ),
    (
        "say-voice-unknown",
        _response('<Say voice="robot">Hi</Say>'),
        ["Response/Say[1]/@voice:", "'robot'"],
    ),
    (
        "say-loop-negative",
        _response('<Say loop="-1">Hi</Say>'),
        ["Response/Say[1]/@loop:", "'-1'", "non-negative integer"],
    ),
    (
        "pause-length-zero",
        _response('<Pause length="0"/>'),
        ["Response/Pause[1]/@length:", "'0'", "positive integer"],
    ),
    (
        "reject-reason-bad",
        _response('<Reject reason="no"/>'),
        ["Response/Reject[1]/@reason:", "'rejected', 'busy'"],
    ),
    (
        "dial-record-boolean",
        _response('<Dial record="yes">+15555550123</Dial>'),
        ["Response/Dial[1]/@record:", "'yes'", "'record-from-answer'"],
    ),
    (
        "empty-dial",
        _response("<Dial/>"),
        ["Response/Dial[1]:", "needs a number or queue"],
    ),
    (
        "blank-dial",
        _response('<Dial timeout="10">  </Dial>'),
        ["Response/Dial[1]:", "needs a number or queue"],
    ),
    (
        "dial-text-not-a-number",
        _response("<Dial>call mom</Dial>"),
        ["Response/Dial[1]:", "'call mom'", "phone number"],
    ),
    (
        "dial-conference-with-number",
        _response("<Dial><Number>+15555550123</Number><Conference>r</Conference></Dial>"),
        ["Response/Dial[1]:", "<Conference> must be the only noun"],
    ),
    (
        "dial-empty-number",
        _response("<Dial><Number></Number></Dial>"),
        ["Response/Dial[1]/Number[1]:", "needs a phone number"],
    ),
    (
        "empty-enqueue",
        _response('<Enqueue waitUrl="/hold"/>'),
        ["Response/Enqueue[1]:", "needs a queue name"],
    ),
    (
        "empty-say",
        _response("<Say></Say>"),
        ["Response/Say[1]:", "needs text to say"],
    ),
    (
        "blank-say-in-gather",
        _response("<Gather><Say>Menu</Say><Say> \n </Say></Gather>"),
        ["Response/Gather[1]/Say[2]:", "needs text to say"],
    ),
    (
        "redirect-without-url",
        _response('<Redirect method="POST"/>'),
        ["Response/Redirect[1]:", "needs a URL"],
    ),
    (
        "redirect-url-with-space",
        _response("<Redirect>/voice/main menu</Redirect>"),
        ["Response/Redirect[1]:", "'/voice/main menu'", "URL"],
    ),
    (
        "play-without-url",
        _response('<Play loop="2"/>'),
        ["Response/Play[1]:", "media URL"],
    ),
    (
        "text-in-pause",
        _response("<Pause>5</Pause>"),
        ["Response/Pause[1]:", "must not contain text", "'5'"],
    ),
    (
        "bare-text-in-response",
        _response("Hello caller"),
        ["Response:", "must not contain text", "'Hello caller'"],
    ),
    (
        "non-xml-text",
        "Thanks for calling!",
        ["document:", "not well-formed XML"],
    ),
    (
        "unclosed-tag",
        "<Response><Say>Hi</Response>",
        ["document:", "not well-formed XML", "line 1"],
    ),
    (
        "empty-document",
        "",
        ["document:", "not well-formed XML"],
    ),
    (
        "doctype",
        '<!DOCTYPE Response SYSTEM "http://example.com/twiml.dtd"><Response/>',
        ["document:", "DOCTYPE", "not allowed"],
    ),
    (
        "entity-expansion",
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<Response><Say>&b;</Say></Response>",
        ["document:", "DOCTYPE", "not allowed"],
    ),
    (
        "processing-instruction",
        '<?xml-stylesheet href="x.xsl"?><Response/>',
        ["document:", "processing instruction"],
    ),
]


@pytest.mark.parametrize(
    ("xml", "fragments"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_twiml_is_rejected_with_location(xml: str | bytes, fragments: list[str]) -> None:
    found = problems(xml)
    assert len(found) == 1, found
    assert all(fragment in found[0] for fragment in fragments), found[0]
    with pytest.raises(TwimlError) as raised:
        validate_twiml(xml)
    assert raised.value.problems == found
    assert found[0] in str(raised.value)


def test_twiml_error_is_a_value_error_listing_every_problem() -> None:
    xml = _response('<Gather numDigits="0" method="PUT"><Say/></Gather><Enqueue/>')
    with pytest.raises(ValueError, match=r"invalid TwiML \(4 problems\)") as raised:
        validate_twiml(xml)
    message = str(raised.value)
    for location in (
        "Response/Gather[1]/@numDigits",
        "Response/Gather[1]/@method",
        "Response/Gather[1]/Say[1]",
        "Response/Enqueue[1]",
    ):
        assert location in message
    assert isinstance(raised.value, TwimlError)
    assert len(raised.value.problems) == 4


def test_problems_does_not_raise_on_garbage() -> None:
    assert problems(b"\x00\xff") == [problems(b"\x00\xff")[0]]
    assert problems(b"\x00\xff")[0].startswith("document: not well-formed XML")


# --------------------------------------------------------------------------- properties

SPEAKABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=200
).filter(lambda text: text.strip() != "")


@given(text=SPEAKABLE)
def test_any_non_blank_say_text_survives_escaping(text: str) -> None:
    response = VoiceResponse()
    response.gather(num_digits=1).say(text)
    root = validate_twiml(str(response))
    say = root.find("Gather/Say")
    assert say is not None
    assert say.text == text


@given(digits=st.integers(min_value=1, max_value=10**6))
def test_any_positive_num_digits_is_accepted(digits: int) -> None:
    assert problems(str(VoiceResponse().append(Gather(num_digits=digits)))) == []


@given(value=st.one_of(st.integers(max_value=0).map(str), st.text("abcxyz.+- ", min_size=1)))
def test_any_non_positive_num_digits_is_rejected(value: str) -> None:
    found = problems(str(VoiceResponse().append(Gather(num_digits=value))))
    assert found == [f"Response/Gather[1]/@numDigits: {value!r} must be a positive integer"]

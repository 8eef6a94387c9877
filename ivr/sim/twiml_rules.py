"""Rule set for Twilio Voice TwiML that every webhook response of the app is checked against."""

# Twilio publishes no XML schema for TwiML, so the tables below are transcribed from the Voice
# TwiML reference pages (one per verb and noun) and cross-checked against the element and
# attribute names emitted by Twilio's own helper library (twilio.twiml.voice_response).
#
# Each element has one Rule in RULES: the attributes it accepts (with a value check for each),
# the child elements it may contain, whether it carries text, and an optional extra check for
# rules spanning several parts of the element (such as "Dial needs a number or queue").
# validate_twiml() parses a document, walks it recursively against these rules and raises
# TwimlError listing every problem, each prefixed with an XPath-like location such as
# "Response/Gather[1]/Say[1]" or "Response/Gather[1]/@numDigits".

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from functools import lru_cache
from typing import Literal
from xml.etree import ElementTree
from xml.parsers import expat

from ivr.engine.errors import IvrError

__all__ = ["RULES", "SIMULATED", "Rule", "TwimlError", "problems", "validate_twiml"]

Check = Callable[[str], str | None]
"""An attribute or text check: returns why the value is wrong, or None when it is fine."""

TextMode = Literal["none", "optional", "required"]
Extra = Callable[[ElementTree.Element, str], list[str]]


class TwimlError(IvrError, ValueError):
    """A TwiML document broke one or more rules; ``problems`` lists each with its location."""

    def __init__(self, problems: list[str]) -> None:
        self.problems: list[str] = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid TwiML ({count} problem{'s' if count != 1 else ''}):\n{lines}")


# --------------------------------------------------------------------------- value checks


def _names(*groups: str) -> list[str]:
    """Split space-separated name lists, so rule tables stay compact: ``"GET POST"``."""
    return [name for group in groups for name in group.split()]


def _enum(*groups: str) -> Check:
    """Accept exactly one of the space-separated values in ``groups``."""
    values = _names(*groups)
    allowed = frozenset(values)
    listed = ", ".join(repr(v) for v in values)

    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {listed}"

    return check


def _pattern(regex: str, expected: str) -> Check:
    """Accept values that fully match ``regex``; ``expected`` describes them in messages."""
    compiled = re.compile(regex)

    def check(value: str) -> str | None:
        return None if compiled.fullmatch(value) else f"must be {expected}"

    return check


def _words(*groups: str) -> Check:
    """Accept a space-separated, non-empty, repeat-free subset of the values in ``groups``."""
    values = _names(*groups)
    allowed = frozenset(values)
    listed = ", ".join(repr(v) for v in values)

    def check(value: str) -> str | None:
        words = value.split(" ")
        if not value or any(word not in allowed for word in words):
            return f"must be a space-separated list of {listed}"
        if len(set(words)) != len(words):
            return "must not repeat a value"
        return None

    return check


def _any(value: str) -> str | None:
    """Accept any value, for free-form attributes such as SIDs, names and hints."""
    return None


def _positive_int(value: str) -> str | None:
    """Accept a decimal integer greater than zero, written with ASCII digits only."""
    if re.fullmatch(r"[0-9]+", value) and int(value) > 0:
        return None
    return "must be a positive integer"


BOOL = _enum("true false")
METHOD = _enum("GET POST")
POS_INT = _positive_int
NONNEG_INT = _pattern(r"[0-9]+", "a non-negative integer")
URL = _pattern(r"\S+", "a relative or absolute URL without spaces")
NON_EMPTY = _pattern(r"(?s).*\S.*", "non-empty")
LANGUAGE = _pattern(
    r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?",
    "a language tag such as 'en-US', 'es-MX' or 'cmn-Hans-CN'",
)
PHONE = _pattern(r"\+?[0-9 ().-]*[0-9][0-9 ().-]*", "a phone number such as '+14155551212'")
SIP_URI = _pattern(r"sips?:\S+", "a SIP URI starting with 'sip:' or 'sips:'")
DTMF_KEY = _pattern(r"[0-9*#]?", "one of the keys 0-9, '*', '#' or the empty string")
DTMF_KEYS = _pattern(r"[0-9*#]*", "a set of the keys 0-9, '*' and '#'")
DIGITS_TO_SEND = _pattern(r"[0-9A-DwW*#]+", "DTMF digits (0-9, A-D, '*', '#', 'w' to wait)")
VOICE = _pattern(
    r"man|woman|alice|Polly\.\w+(-\w+)?|Google\.[a-z]{2,3}-[A-Z]{2}-[\w-]+",
    "'man', 'woman', 'alice' or a 'Polly.*' / 'Google.*' voice name",
)
SPEECH_TIMEOUT = _pattern(r"auto|0*[1-9][0-9]*", "a positive integer or 'auto'")
DECIMAL = _pattern(r"[0-9]+(\.[0-9]+)?", "a non-negative decimal amount")

RECORD_MODE = _enum(
    "do-not-record record-from-answer record-from-ringing",
    "record-from-answer-dual record-from-ringing-dual",
)
TRIM = _enum("trim-silence do-not-trim")
RECORDING_EVENTS = _words("in-progress completed absent")
CALL_EVENTS = _words("initiated ringing answered completed")
MACHINE_DETECTION = _enum("Enable DetectMessageEnd")
STREAM_TRACK = _enum("inbound_track outbound_track both_tracks")
RING_TONE = _enum(
    "at au bg br be ch cl cn cz de dk ee es fi fr gr hu il in it lt jp mx my",
    "nl no nz ph pl pt ru se sg th uk us us-old tw ve za",
)


def _free(*groups: str) -> dict[str, Check]:
    """Declare attributes whose values are free-form strings."""
    return dict.fromkeys(_names(*groups), _any)


def _kids(*groups: str) -> dict[str, str]:
    """Allow child elements, each checked with the rule of the same name."""
    return {tag: tag for tag in _names(*groups)}


class _Simulated:
    """An attribute check, marked: the simulated caller (ivr.sim) carries the attribute out."""

    __slots__ = ("check",)

    def __init__(self, check: Check) -> None:
        self.check = check

    def __call__(self, value: str) -> str | None:
        return self.check(value)


def _sim(check: Check) -> Check:
    """Mark an attribute the simulator runs; it counts on elements whose Rule is `simulated`."""
    return _Simulated(check)


# --------------------------------------------------------------------------- rule tables


@dataclass(frozen=True)
class Rule:
    """What one TwiML element may carry: attributes, child elements and text."""

    attrs: Mapping[str, Check] = field(default_factory=dict)
    children: Mapping[str, str] = field(default_factory=dict)  # child tag -> RULES key
    text: TextMode = "none"
    text_name: str = "text"  # what the text means, for messages ("a URL", "text to say")
    text_check: Check | None = None  # applied to the stripped text when there is some
    required: frozenset[str] = frozenset()  # attributes that must be present
    extra: Extra | None = None  # a check spanning text, attributes and children
    #: The simulated caller (ivr.sim) runs this element, with the attributes marked by _sim().
    simulated: bool = False


def _own_text(element: ElementTree.Element) -> str:
    """Return the element's direct text (not its children's), stripped."""
    parts = [element.text or ""] + [child.tail or "" for child in element]
    return "".join(parts).strip()


def _dial_targets(element: ElementTree.Element, path: str) -> list[str]:
    """Dial needs a number as text or nouns; only Number, Client and Sip dial in parallel."""
    nouns = [child.tag for child in element if child.tag in RULES["Dial"].children]
    if not nouns and not _own_text(element):
        return [f"{path}: <Dial> needs a number or queue (a phone number as text, or a noun)"]
    if nouns and _own_text(element):
        return [f"{path}: <Dial> must not mix a phone number in its text with noun elements"]
    single = [tag for tag in nouns if tag not in {"Number", "Client", "Sip"}]
    if single and len(nouns) > 1:
        return [f"{path}: <{single[0]}> must be the only noun inside <Dial>"]
    if len(nouns) > 10:
        return [f"{path}: <Dial> can dial at most 10 nouns at once, not {len(nouns)}"]
    return []


def _text_or_child(child: str, needs: str) -> Extra:
    """Build a check that the element has non-empty text or a ``child`` element."""

    def check(element: ElementTree.Element, path: str) -> list[str]:
        if _own_text(element) or element.find(child) is not None:
            return []
        return [f"{path}: <{element.tag}> needs {needs}"]

    return check


def _play_source(element: ElementTree.Element, path: str) -> list[str]:
    """Play needs a media URL as its text unless it plays DTMF ``digits``."""
    if _own_text(element) or "digits" in element.attrib:
        return []
    return [f"{path}: <Play> needs a media URL as its text, or a digits attribute"]


def _child_count(low: int, high: int | None) -> Extra:
    """Build a check that the element has between ``low`` and ``high`` child elements."""

    def check(element: ElementTree.Element, path: str) -> list[str]:
        allowed_tags = RULES[element.tag].children
        count = sum(1 for child in element if child.tag in allowed_tags)
        if count >= low and (high is None or count <= high):
            return []
        allowed = ", ".join(f"<{tag}>" for tag in allowed_tags)
        wanted = f"exactly {low}" if low == high else f"at least {low}"
        return [f"{path}: <{element.tag}> needs {wanted} of {allowed}, found {count}"]

    return check


SSML_INLINE = "break emphasis lang phoneme prosody say-as sub w"
SSML_ALL = f"{SSML_INLINE} p s amazon:effect amazon:domain"

SAY = Rule(
    attrs={"voice": _sim(VOICE), "language": _sim(LANGUAGE), "loop": _sim(NONNEG_INT)},
    children=_kids(SSML_ALL),
    text="required",
    text_name="text to say",
    simulated=True,
)
PLAY = Rule(
    attrs={"loop": _sim(NONNEG_INT), "digits": _sim(DIGITS_TO_SEND)},
    text="optional",
    text_name="a media URL",
    text_check=URL,
    extra=_play_source,
    simulated=True,
)
PAUSE = Rule(attrs={"length": _sim(POS_INT)}, simulated=True)
PARAMETER = Rule(attrs=_free("name value"))
STATUS_CALLBACKS: dict[str, Check] = {
    "statusCallback": _sim(URL),
    "statusCallbackMethod": _sim(METHOD),
    "statusCallbackEvent": _sim(CALL_EVENTS),
}
MACHINE_DETECTION_ATTRS: dict[str, Check] = {
    "machineDetection": MACHINE_DETECTION,
    "machineDetectionTimeout": POS_INT,
    "machineDetectionSpeechThreshold": POS_INT,
    "machineDetectionSpeechEndThreshold": POS_INT,
    "machineDetectionSilenceTimeout": POS_INT,
    "amdStatusCallback": URL,
    "amdStatusCallbackMethod": METHOD,
}
STREAM = Rule(
    attrs={
        **_free("name connectorName audioFormat sampleRate"),
        "url": URL,
        "track": STREAM_TRACK,
        "statusCallback": URL,
        "statusCallbackMethod": METHOD,
    },
    children=_kids("Parameter"),
)

RULES: dict[str, Rule] = {
    "Response": Rule(
        children=_kids(
            "Say Play Pause Gather Dial Enqueue Leave Hangup Redirect Reject Record Refer",
            "Connect Start Stop Pay",
        ),
        simulated=True,
    ),
    # ---- verbs
    "Say": SAY,
    "Play": PLAY,
    "Pause": PAUSE,
    "Gather": Rule(
        attrs={
            "action": _sim(URL),
            "method": _sim(METHOD),
            "input": _sim(_words("dtmf speech")),
            "timeout": _sim(POS_INT),
            "speechTimeout": _sim(SPEECH_TIMEOUT),
            "maxSpeechTime": _sim(POS_INT),
            "profanityFilter": _sim(BOOL),
            "finishOnKey": _sim(DTMF_KEY),
            "numDigits": _sim(POS_INT),
            "partialResultCallback": URL,
            "partialResultCallbackMethod": METHOD,
            "language": _sim(LANGUAGE),
            "hints": _sim(_any),
            "bargeIn": _sim(BOOL),
            "debug": BOOL,
            "actionOnEmptyResult": _sim(BOOL),
            "speechModel": _sim(NON_EMPTY),
            "enhanced": _sim(BOOL),
        },
        children=_kids("Say Play Pause"),
        simulated=True,
    ),
    "Dial": Rule(
        attrs={
            **_free("events passports recordingConfigurationId callReason"),
            "callerId": _sim(_any),
            "action": _sim(URL),
            "method": _sim(METHOD),
            "timeout": _sim(POS_INT),
            "hangupOnStar": _sim(BOOL),
            "timeLimit": _sim(POS_INT),
            "record": _sim(RECORD_MODE),
            "trim": TRIM,
            "recordingStatusCallback": URL,
            "recordingStatusCallbackMethod": METHOD,
            "recordingStatusCallbackEvent": RECORDING_EVENTS,
            "recordingTrack": _enum("both inbound outbound"),
            "answerOnBridge": _sim(BOOL),
            "ringTone": _sim(RING_TONE),
            "sequential": BOOL,
            "referUrl": URL,
            "referMethod": METHOD,
        },
        children=_kids("Number Client Conference Queue Sip Sim Application WhatsApp"),
        text="optional",
        text_name="a phone number",
        text_check=PHONE,
        extra=_dial_targets,
        simulated=True,
    ),
    "Enqueue": Rule(
        attrs={
            "action": _sim(URL),
            "method": _sim(METHOD),
            "waitUrl": _sim(_pattern(r"\S*", "a URL without spaces (or empty for silence)")),
            "waitUrlMethod": _sim(METHOD),
            "workflowSid": NON_EMPTY,
            "maxQueueSize": _sim(POS_INT),
        },
        children=_kids("Task"),
        text="optional",
        text_name="a queue name",
        extra=_text_or_child("Task", "a queue name as its text, or a <Task>"),
        simulated=True,
    ),
    "Leave": Rule(simulated=True),
    "Hangup": Rule(simulated=True),
    "Redirect": Rule(
        attrs={"method": _sim(METHOD)},
        text="required",
        text_name="a URL",
        text_check=URL,
        simulated=True,
    ),
    "Reject": Rule(attrs={"reason": _sim(_enum("rejected busy"))}, simulated=True),
    "Record": Rule(
        attrs={
            "action": _sim(URL),
            "method": _sim(METHOD),
            "timeout": _sim(NONNEG_INT),
            "finishOnKey": _sim(DTMF_KEYS),
            "maxLength": _sim(POS_INT),
            "playBeep": _sim(BOOL),
            "trim": _sim(TRIM),
            "recordingStatusCallback": _sim(URL),
            "recordingStatusCallbackMethod": _sim(METHOD),
            "recordingStatusCallbackEvent": _sim(RECORDING_EVENTS),
            "transcribe": _sim(BOOL),
            "transcribeCallback": _sim(URL),
            "recordingConfigurationId": _any,
        },
        simulated=True,
    ),
    "Refer": Rule(
        attrs={"action": URL, "method": METHOD},
        children={"Sip": "Refer/Sip"},
        extra=_child_count(1, 1),
    ),
    "Connect": Rule(
        attrs={"action": URL, "method": METHOD},
        children=_kids(
            "Room Stream VirtualAgent Conversation ConversationRelay AiSession",
            "ConversationRelaySession",
        ),
        extra=_child_count(1, 1),
    ),
    "Start": Rule(
        attrs={"action": URL, "method": METHOD},
        children=_kids("Stream Siprec Transcription Recording"),
        extra=_child_count(1, None),
    ),
    "Stop": Rule(
        children=_kids("Stream Siprec Transcription"),
        extra=_child_count(1, None),
    ),
    "Pay": Rule(
        attrs={
            **_free("paymentConnector currency description postalCode"),
            "input": _enum("dtmf"),
            "action": URL,
            "bankAccountType": _enum("consumer-checking consumer-savings commercial-checking"),
            "statusCallback": URL,
            "statusCallbackMethod": METHOD,
            "timeout": POS_INT,
            "maxAttempts": POS_INT,
            "securityCode": BOOL,
            "minPostalCodeLength": POS_INT,
            "paymentMethod": _enum("ach-debit credit-card"),
            "tokenType": _enum("one-time reusable payment-method"),
            "chargeAmount": DECIMAL,
            "validCardTypes": _words(
                "visa mastercard amex maestro discover optima jcb diners-club enroute",
            ),
            "language": LANGUAGE,
        },
        children=_kids("Prompt Parameter"),
    ),
    "Prompt": Rule(
        attrs={
            **_free("cardType errorType"),
            "for": _enum(
                "payment-card-number expiration-date security-code postal-code",
                "bank-routing-number bank-account-number payment-processing",
            ),
            "attempt": _pattern(r"[1-9][0-9]*( [1-9][0-9]*)*", "space-separated attempt numbers"),
            "requireMatchingInputs": BOOL,
        },
        children=_kids("Say Play Pause"),
    ),
    # ---- nouns of <Dial>
    "Number": Rule(
        attrs={
            **STATUS_CALLBACKS,
            **MACHINE_DETECTION_ATTRS,
            "sendDigits": _sim(DIGITS_TO_SEND),
            "url": _sim(URL),
            "method": _sim(METHOD),
            "byoc": NON_EMPTY,
        },
        text="required",
        text_name="a phone number",
        text_check=PHONE,
        simulated=True,
    ),
    "Client": Rule(
        attrs={**STATUS_CALLBACKS, "url": _sim(URL), "method": _sim(METHOD)},
        children=_kids("Identity Parameter"),
        text="optional",
        text_name="a client identity",
        extra=_text_or_child("Identity", "a client identity as its text, or an <Identity>"),
        simulated=True,
    ),
    "Identity": Rule(text="required", text_name="a client identity"),
    "Conference": Rule(
        attrs={
            **_free("coach participantLabel recordingConfigurationId"),
            "muted": _sim(BOOL),
            "beep": _enum("true false onEnter onExit"),
            "startConferenceOnEnter": _sim(BOOL),
            "endConferenceOnExit": _sim(BOOL),
            "waitUrl": _sim(_pattern(r"\S*", "a URL without spaces (or empty for silence)")),
            "waitMethod": _sim(METHOD),
            "maxParticipants": POS_INT,
            "record": _enum("do-not-record record-from-start"),
            "region": _enum("us1 us2 ie1 de1 sg1 br1 au1 jp1"),
            "trim": TRIM,
            "statusCallbackEvent": _sim(_words("start end join leave mute hold modify speaker announcement")),
            "statusCallback": _sim(URL),
            "statusCallbackMethod": _sim(METHOD),
            "recordingStatusCallback": URL,
            "recordingStatusCallbackMethod": METHOD,
            "recordingStatusCallbackEvent": RECORDING_EVENTS,
            "eventCallbackUrl": URL,
            "jitterBufferSize": _enum("off small medium large"),
        },
        text="required",
        text_name="a conference name",
        simulated=True,
    ),
    "Queue": Rule(
        attrs={
            "url": _sim(URL),
            "method": _sim(METHOD),
            "reservationSid": NON_EMPTY,
            "postWorkActivitySid": NON_EMPTY,
        },
        text="required",
        text_name="a queue name",
        simulated=True,
    ),
    "Sip": Rule(
        attrs={
            **STATUS_CALLBACKS,
            **MACHINE_DETECTION_ATTRS,
            # Accepted, not acted on: they only authenticate Twilio to the SIP endpoint, and the
            # simulator's far end (switch.FarEnd) asks for no credentials.
            "username": _sim(_any),
            "password": _sim(_any),
            "url": _sim(URL),
            "method": _sim(METHOD),
        },
        children=_kids("Uri Headers"),
        text="optional",
        text_name="a SIP URI",
        text_check=SIP_URI,
        extra=_text_or_child("Uri", "a SIP URI as its text, or a <Uri>"),
        simulated=True,
    ),
    "Uri": Rule(
        attrs={**_free("username password"), "priority": NONNEG_INT, "weight": POS_INT},
        text="required",
        text_name="a SIP URI",
        text_check=SIP_URI,
    ),
    "Headers": Rule(children=_kids("Header")),
    "Header": Rule(attrs=_free("name value"), required=frozenset({"name"})),
    "Sim": Rule(text="required", text_name="a SIM SID"),
    "Application": Rule(
        attrs={
            **STATUS_CALLBACKS,
            "url": URL,
            "method": METHOD,
            "customerId": _any,
            "copyParentTo": BOOL,
        },
        children=_kids("ApplicationSid Parameter"),
        text="optional",
        text_name="an application SID",
        extra=_text_or_child("ApplicationSid", "an <ApplicationSid>"),
    ),
    "ApplicationSid": Rule(text="required", text_name="an application SID"),
    "WhatsApp": Rule(
        attrs={**STATUS_CALLBACKS, "url": URL, "method": METHOD},
        text="required",
        text_name="a phone number",
        text_check=PHONE,
    ),
    # ---- nouns of other verbs
    "Task": Rule(
        attrs={"priority": NONNEG_INT, "timeout": POS_INT},
        text="required",
        text_name="task attributes (JSON)",
    ),
    "Refer/Sip": Rule(text="required", text_name="a SIP URI", text_check=SIP_URI),
    "Parameter": PARAMETER,
    "Config": PARAMETER,
    "Stream": STREAM,
    "Siprec": Rule(
        attrs={
            **_free("name connectorName"),
            "track": STREAM_TRACK,
            "statusCallback": URL,
            "statusCallbackMethod": METHOD,
        },
        children=_kids("Parameter"),
    ),
    "Transcription": Rule(
        attrs={
            **_free(
                "name inboundTrackLabel outboundTrackLabel transcriptionEngine speechModel",
                "hints intelligenceService",
            ),
            "track": STREAM_TRACK,
            "statusCallbackUrl": URL,
            "statusCallbackMethod": METHOD,
            "partialResults": BOOL,
            "languageCode": LANGUAGE,
            "profanityFilter": BOOL,
            "enableAutomaticPunctuation": BOOL,
        },
        children=_kids("Config Parameter"),
    ),
    "Recording": Rule(
        attrs={
            **_free("channels recordingConfigurationId"),
            "recordingStatusCallback": URL,
            "recordingStatusCallbackMethod": METHOD,
            "recordingStatusCallbackEvent": RECORDING_EVENTS,
            "trim": TRIM,
            "track": _enum("inbound outbound both"),
        },
    ),
    "Room": Rule(attrs=_free("participantIdentity"), text="required", text_name="a room name"),
    "VirtualAgent": Rule(
        attrs={
            **_free("connectorName"),
            "language": LANGUAGE,
            "sentimentAnalysis": BOOL,
            "statusCallback": URL,
            "statusCallbackMethod": METHOD,
        },
        children=_kids("Config Parameter"),
    ),
    "Conversation": Rule(
        attrs={
            **_free("serviceInstanceSid statusCallbackEvent"),
            "inboundAutocreation": BOOL,
            "routingAssignmentTimeout": NONNEG_INT,
            "inboundTimeout": NONNEG_INT,
            "url": URL,
            "method": METHOD,
            "record": RECORD_MODE,
            "trim": TRIM,
            "recordingStatusCallback": URL,
            "recordingStatusCallbackMethod": METHOD,
            "recordingStatusCallbackEvent": RECORDING_EVENTS,
            "statusCallback": URL,
            "statusCallbackMethod": METHOD,
        },
    ),
    "ConversationRelay": Rule(
        attrs={
            **_free(
                "ttsProvider voice transcriptionProvider speechModel welcomeGreeting hints",
                "intelligenceService interruptible interruptSensitivity preemptible",
                "welcomeGreetingInterruptible partialPrompts reportInputDuringAgentSpeech",
                "elevenlabsTextNormalization debug backgroundNoiseReduction speechTimeout",
                "deepgramSmartFormat ignoreBackchannel events partialPromptOnHangup",
                "eagerEotThreshold asrSmartFormat ttsTextNormalization",
                "ttsLanguageTextNormalization elevenlabsLanguageTextNormalization",
                "includeInPrompt customerName applicationReconnect echoPromptFiltering",
                "turnDetection",
            ),
            "url": URL,
            "language": LANGUAGE,
            "ttsLanguage": LANGUAGE,
            "transcriptionLanguage": LANGUAGE,
            "profanityFilter": BOOL,
            "dtmfDetection": BOOL,
        },
        children=_kids("Language Parameter"),
        required=frozenset({"url"}),
    ),
    "Language": Rule(
        attrs={
            **_free(
                "ttsProvider voice transcriptionProvider speechModel hints asrSmartFormat",
                "ttsTextNormalization ttsLanguageTextNormalization",
            ),
            "code": LANGUAGE,
        },
        required=frozenset({"code"}),
    ),
    "AiSession": Rule(attrs=_free("aiConnector aiSessionConfiguration")),
    "ConversationRelaySession": Rule(attrs=_free("connector sessionConfiguration")),
    # ---- SSML inside <Say> (Twilio passes these on to Amazon Polly / Google)
    "break": Rule(
        attrs={
            "strength": _enum("none x-weak weak medium strong x-strong"),
            "time": _pattern(r"[0-9]+(\.[0-9]+)?(ms|s)", "a duration such as '500ms' or '2s'"),
        },
    ),
    "emphasis": Rule(
        attrs={"level": _enum("strong moderate reduced")},
        children=_kids(SSML_INLINE),
        text="optional",
    ),
    "lang": Rule(
        attrs={"xml:lang": LANGUAGE, "onlangfailure": _any},
        children=_kids(SSML_INLINE, "p s"),
        text="optional",
        required=frozenset({"xml:lang"}),
    ),
    "p": Rule(children=_kids(SSML_INLINE, "s"), text="optional"),
    "s": Rule(children=_kids(SSML_INLINE), text="optional"),
    "phoneme": Rule(
        attrs={
            "alphabet": _enum("ipa x-sampa x-amazon-jyutping x-amazon-pinyin x-amazon-yomigana"),
            "ph": NON_EMPTY,
        },
        text="required",
        required=frozenset({"ph"}),
    ),
    "prosody": Rule(
        attrs={
            "volume": _pattern(
                r"silent|x-soft|soft|medium|loud|x-loud|[+-][0-9]+(\.[0-9]+)?dB",
                "a volume keyword or a change such as '+6dB'",
            ),
            "rate": _pattern(r"x-slow|slow|medium|fast|x-fast|[0-9]+%", "a rate keyword or a percentage"),
            "pitch": _pattern(
                r"x-low|low|medium|high|x-high|[+-]?[0-9]+(\.[0-9]+)?%",
                "a pitch keyword or a change such as '+5%'",
            ),
        },
        children=_kids(SSML_INLINE, "p s"),
        text="optional",
    ),
    "say-as": Rule(
        attrs={
            "interpret-as": _enum(
                "character characters spell-out cardinal number ordinal digits fraction unit",
                "date time address expletive telephone",
            ),
            "format": _any,
        },
        text="required",
        required=frozenset({"interpret-as"}),
    ),
    "sub": Rule(attrs={"alias": NON_EMPTY}, text="required", required=frozenset({"alias"})),
    "w": Rule(
        attrs={
            "role": _enum(
                "amazon:VB amazon:VBD amazon:DT amazon:IN amazon:JJ amazon:NN amazon:SENSE_1",
            ),
        },
        children=_kids("break emphasis phoneme prosody say-as sub"),
        text="optional",
    ),
    "amazon:effect": Rule(
        attrs={
            "name": _enum("drc whispered"),
            "vocal-tract-length": _pattern(r"[+-]?[0-9]+%", "a percentage such as '+15%'"),
            "phonation": _enum("soft"),
        },
        children=_kids(SSML_ALL),
        text="optional",
    ),
    "amazon:domain": Rule(
        attrs={"name": NON_EMPTY},
        children=_kids(SSML_ALL),
        text="optional",
        required=frozenset({"name"}),
    ),
}

#: What the simulated caller (ivr.sim) runs, read off RULES: element -> the attributes it
#: carries out. Anything else is an error there, never skipped silently.
SIMULATED: dict[str, frozenset[str]] = {
    tag: frozenset(name for name, check in rule.attrs.items() if isinstance(check, _Simulated))
    for tag, rule in RULES.items()
    if rule.simulated
}


# --------------------------------------------------------------------------- parsing


class _Forbidden(Exception):
    """Raised from inside the XML parser when the document uses a construct we refuse."""


def _refuse(what: str) -> Callable[..., None]:
    """Build an expat handler that aborts parsing because of ``what``."""

    def handler(*_: object) -> None:
        raise _Forbidden(what)

    return handler


def _parse(xml: str | bytes) -> ElementTree.Element:
    """Parse without namespace processing and with DTDs, entities and PIs refused."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate()  # no namespace processing: tags stay "amazon:effect" etc.
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = _refuse("an ENTITY declaration")
    parser.ProcessingInstructionHandler = _refuse("a processing instruction")
    parser.Parse(xml, True)
    return builder.close()


# --------------------------------------------------------------------------- checking


def _check_attrs(element: ElementTree.Element, path: str, rule: Rule, out: list[str]) -> None:
    """Report unknown attributes, missing required ones and values that fail their check."""
    for name, value in element.attrib.items():
        check = rule.attrs.get(name)
        if check is None:
            hint = get_close_matches(name, list(rule.attrs), n=1)
            suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
            out.append(f"{path}/@{name}: unknown attribute of <{element.tag}>{suffix}")
            continue
        reason = check(value)
        if reason is not None:
            out.append(f"{path}/@{name}: {value!r} {reason}")
    for name in sorted(rule.required - element.attrib.keys()):
        out.append(f"{path}/@{name}: <{element.tag}> requires the {name!r} attribute")


def _check_text(element: ElementTree.Element, path: str, rule: Rule, out: list[str]) -> None:
    """Report text where none is allowed, missing required text and malformed text."""
    own = _own_text(element)
    if rule.text == "none":
        if own:
            out.append(f"{path}: <{element.tag}> must not contain text, found {own[:40]!r}")
        return
    if rule.text == "required" and not "".join(element.itertext()).strip():
        out.append(f"{path}: <{element.tag}> needs {rule.text_name}, but it is empty")
    if own and rule.text_check is not None:
        reason = rule.text_check(own)
        if reason is not None:
            out.append(f"{path}: text {own[:60]!r} of <{element.tag}> {reason}")


def _misplaced(tag: str, parent: str, rule: Rule) -> str:
    """Explain that ``tag`` may not appear inside ``parent``, and where it may appear."""
    allowed = ", ".join(f"<{name}>" for name in rule.children) or "no child elements"
    homes = ", ".join(f"<{key}>" for key, other in RULES.items() if tag in other.children)
    return (
        f"<{tag}> is not allowed inside <{parent}> (<{parent}> allows {allowed};"
        f" <{tag}> belongs inside {homes})"
    )


def _check(element: ElementTree.Element, path: str, key: str, out: list[str]) -> None:
    """Check ``element`` against ``RULES[key]`` and recurse into its children."""
    rule = RULES[key]
    _check_attrs(element, path, rule, out)
    _check_text(element, path, rule, out)
    seen: dict[str, int] = {}
    for child in element:
        seen[child.tag] = seen.get(child.tag, 0) + 1
        child_path = f"{path}/{child.tag}[{seen[child.tag]}]"
        child_key = rule.children.get(child.tag)
        if child_key is not None:
            _check(child, child_path, child_key, out)
        elif child.tag in RULES:
            out.append(f"{child_path}: {_misplaced(child.tag, element.tag, rule)}")
            _check(child, child_path, child.tag, out)
        else:
            out.append(f"{child_path}: unknown element <{child.tag}> (not a TwiML Voice element)")
    if rule.extra is not None:
        out.extend(rule.extra(element, path))


def _problems_and_root(xml: str | bytes) -> tuple[list[str], ElementTree.Element | None]:
    """Parse and check ``xml``, returning the problems found and the root when it parsed."""
    try:
        root = _parse(xml)
    except _Forbidden as refused:
        return [f"document: {refused} is not allowed in TwiML"], None
    except expat.ExpatError as error:
        reason = expat.ErrorString(error.code)
        where = f"line {error.lineno}, column {error.offset}"
        return [f"document: not well-formed XML: {reason} ({where})"], None
    except (TypeError, ValueError) as error:
        return [f"document: cannot be parsed as XML: {error}"], None
    if root.tag != "Response":
        return [f"{root.tag}: the root element must be <Response>, not <{root.tag}>"], root
    found: list[str] = []
    _check(root, "Response", "Response", found)
    return found, root


def problems(xml: str | bytes) -> list[str]:
    """Return every rule ``xml`` breaks as ``"location: message"`` strings, empty when valid."""
    return list(_known_problems(xml))


@lru_cache(maxsize=1024)
def _known_problems(xml: str | bytes) -> tuple[str, ...]:
    """The check of one document text, kept: a simulated caller gets the same answers again and
    again, and the rules are a function of the text alone."""
    return tuple(_problems_and_root(xml)[0])


def validate_twiml(xml: str | bytes) -> ElementTree.Element:
    """Parse and check a Voice TwiML document, returning its root or raising TwimlError."""
    found, root = _problems_and_root(xml)
    if found or root is None:
        raise TwimlError(found)
    return root

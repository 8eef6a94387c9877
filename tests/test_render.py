"""The Renderer: one cached document per variant, filled per call; SSML say-as; pieces in order."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree import ElementTree

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.engine.engine import Engine
from ivr.engine.render import Renderer, build_say, fill
from ivr.engine.ssml import spoken_text
from ivr.sim.twiml_rules import validate_twiml


def _renderer(engine: Engine, line: str = "main") -> Renderer:
    return engine.flows.get(line).renderer


def _says(document: str) -> list[tuple[str, str]]:
    """(language, words) of every <Say>, after checking the document against Twilio's grammar."""
    return [(s.attrib["language"], spoken_text(s)) for s in validate_twiml(document).iter("Say")]


def test_a_variant_is_built_once_and_filled_per_call(engine: Engine) -> None:
    renderer = _renderer(engine)
    spec = renderer.flow.states["billing_menu"]
    before = renderer._template.cache_info()
    first = renderer.state(spec, "en", step=1, values={}, confirm=True).twiml
    second = renderer.state(spec, "en", step=7, values={}, confirm=True).twiml
    after = renderer._template.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert first.replace("step=1", "step=7") == second and "step=1" in first
    assert renderer.state(spec, "en", step=1, values={}, confirm=False).twiml != first  # another variant


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        pytest.param(
            "<a>@@order_status@@</a>",
            {"order_status": "<b> & c"},
            "<a>&lt;b&gt; &amp; c</a>",
            id="xml-escaped",
        ),
        pytest.param("?step=@@step@@", {}, "?step=4", id="step"),
        pytest.param("[@@reference@@]", {}, "[]", id="missing-value-empty"),
        pytest.param("@@reference@@ @@reference@@", {"reference": "12"}, "12 12", id="every-token"),
    ],
)
def test_fill(template: str, values: dict[str, str], expected: str) -> None:
    assert fill(template, 4, values) == expected


def test_digit_placeholders_are_said_as_digits_and_text_ones_stay_text() -> None:
    say = build_say("Number {reference}, status {order_status}.", "Polly.Joanna", "en-US")
    root = ElementTree.fromstring(say.to_xml(xml_declaration=False))
    assert [(e.get("interpret-as"), e.text) for e in root.iter("say-as")] == [("digits", "@@reference@@")]
    assert "status @@order_status@@." in "".join(root.itertext())
    assert (root.get("voice"), root.get("language")) == ("Polly.Joanna", "en-US")


def test_a_filled_reference_is_spoken_digit_by_digit(engine: Engine) -> None:
    renderer = _renderer(engine)
    goodbye = next(s for s in renderer.flow.states.values() if s.type == "goodbye")
    document = renderer.state(goodbye, "en", step=3, values={"reference": "40512345"}).twiml
    digits = [e.text for e in validate_twiml(document).iter("say-as") if e.get("interpret-as") == "digits"]
    assert digits and set(digits) == {"40512345"}
    assert validate_twiml(document).find("Hangup") is not None


def test_the_greeting_comes_first_then_the_offer_then_the_warning_then_the_menu(engine: Engine) -> None:
    renderer = _renderer(engine)
    flow = renderer.flow
    pieces = renderer.spoken_pieces(flow.states["main_menu"], "en", greeting=True)
    assert [text for _, text, _ in pieces] == [
        flow.greeting["en"],
        flow.messages["language_offer"]["es"],
        flow.warning["en"],
        flow.states["main_menu"].prompt["en"],
    ]
    assert [lang for lang, _, _ in pieces] == ["en", "es", "en", "en"]


def test_the_confirmation_comes_before_the_notice_and_the_notice_before_the_prompt(engine: Engine) -> None:
    renderer = _renderer(engine)
    spec = renderer.flow.states["verify_id"]
    pieces = renderer.spoken_pieces(spec, "es", notice="invalid_entry", confirm=True, reprompt=True)
    assert [text for _, text, _ in pieces] == [
        spec.confirm["es"],
        renderer.flow.messages["invalid_entry"]["es"],
        spec.reprompt["es"],
    ]
    assert [beat for _, _, beat in pieces] == [True, True, False]  # a beat after each but the last
    document = renderer.state(
        spec, "es", step=2, values={}, notice="invalid_entry", confirm=True, reprompt=True
    ).twiml
    assert {lang for lang, _ in _says(document)} == {"es-US"}


def test_closed_speaks_every_language_each_with_its_reference(make_app: Callable[..., Flask]) -> None:
    app = make_app(NOW="2026-11-23T22:00:00-06:00")
    renderer = _renderer(app.extensions["ivr"], "tty")
    closed = renderer.flow.states["closed"]
    document = renderer.state(closed, "en", step=0, values={"reference": "12345678"}, greeting=True).twiml
    languages = [lang for lang, _ in _says(document)]
    expected = [renderer.config.voices[lang][1] for lang in renderer.flow.languages]
    assert sorted(set(languages)) == sorted(expected) and len(expected) >= 2
    assert languages == sorted(languages, key=expected.index)  # each language in one block, in order
    for lang in renderer.flow.languages:
        words = " ".join(w for each, w in _says(document) if each == renderer.config.voices[lang][1])
        assert "1 2 3 4 5 6 7 8" in words, lang
    app.extensions["ivr"].store.close()


def test_the_words_of_every_state_are_those_of_its_document(engine: Engine) -> None:
    """Renderer.state: the words it gives with a document are those heard_words finds in it,
    for every state of every line in every language, with and without per-call values."""
    from ivr.engine.engine import heard_words

    values = {"reference": "52058123", "rx_last4": "4321", "order_status": "Shipped on May 2."}
    checked = 0
    for name in engine.flows.names():
        renderer = _renderer(engine, name)
        for spec in renderer.flow.states.values():
            for lang in renderer.flow.languages:
                for options in ({}, {"greeting": True}, {"confirm": True, "notice": "invalid"}):
                    for chosen in ({}, values):
                        try:
                            twiml, words = renderer.state(spec, lang, step=4, values=chosen, **options)
                        except KeyError:
                            continue  # a variant the engine never asks of this state
                        assert words == heard_words(twiml) and words.strip()
                        checked += 1
    assert checked > 100


def test_the_words_of_a_document_without_values_are_worked_out_once(engine: Engine) -> None:
    renderer = _renderer(engine)
    spec = renderer.flow.states["billing_menu"]
    renderer.state(spec, "en", step=1, values={})
    before = renderer._words.cache_info()
    first = renderer.state(spec, "en", step=2, values={})
    second = renderer.state(spec, "en", step=9, values={"reference": "52058123"})
    after = renderer._words.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (0, 2)
    assert first[1] == second[1] and "step=9" in second[0] and first[1].strip()


_VALUE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"))
    | st.sampled_from(["&", "<", ">", '"', "'", " ", "\n", "@"]),
    max_size=24,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reference=st.from_regex(r"[0-9]{8}", fullmatch=True), rx=_VALUE_TEXT, status=_VALUE_TEXT)
def test_the_words_of_a_filled_document_are_heard_as_if_it_were_parsed_again(
    engine: Engine, reference: str, rx: str, status: str
) -> None:
    """Documents with per-call values are not parsed again per call: their words come from the
    cached template, values put into its text. Whatever the values (XML's special characters,
    line breaks, a token's own @@), the words are those of the filled document itself."""
    from ivr.engine.render import document_words

    values = {"reference": reference, "rx_last4": rx, "order_status": status}
    checked = 0
    for name in engine.flows.names():
        renderer = _renderer(engine, name)
        for spec in renderer.flow.states.values():
            for lang in renderer.flow.languages:
                for greeting in (False, True):
                    try:
                        twiml, words = renderer.state(spec, lang, step=3, values=values, greeting=greeting)
                    except KeyError:
                        continue
                    if "@@" not in renderer._template(spec.name, lang, None, False, greeting, False):
                        continue
                    assert words == document_words(twiml), (name, spec.name, lang)
                    checked += 1
    assert checked >= 3  # the reference, the prescription's last digits, the order status

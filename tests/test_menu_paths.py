"""Multi-step calls through every option of every line, in English and in Spanish."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from ivr.engine.engine import Engine
from ivr.engine.ssml import say_as, spoken_text

from .flow_text import confirm, greeting, message, prompt, warning
from .narrowing import stored
from .phone import SPECIALTY, Phone

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"

# (keys after the main menu, the state they reach, facts the caller must hear there) per
# language; the state's confirmation and its whole prompt, as the flow file words them, too.
MAIN_FACTS = [
    pytest.param(("2",), "billing_menu", [], [], id="billing"),
    pytest.param(
        ("2", "1"),
        "billing_discrepancy",
        ["resolve the billing discrepancy"],
        ["resolver la diferencia en su factura"],
        id="billing-discrepancy",
    ),
    pytest.param(
        ("2", "2"),
        "billing_cost",
        ["no extra charge for mail order", "formulary and your copay"],
        ["no tiene cargo adicional", "formulario de su plan y de su copago"],
        id="billing-cost",
    ),
    pytest.param(
        ("2", "3"),
        "billing_updates",
        ["member portal", "by fax to 1, 8 6 6, 2 2 4, 2 7 4 1."],
        ["portal para miembros", "por fax al 1, 8 6 6, 2 2 4, 2 7 4 1."],
        id="billing-updates",
    ),
    pytest.param(
        ("2", "4"),
        "billing_appeals",
        ["P.O. Box 5 2 0 5 8, Phoenix, Arizona 8 5 0 7 2, 2 0 5 8", "fax them to 1, 8 6 6, 2 2 4, 2 7 4 1."],
        ["P.O. Box 5 2 0 5 8, Phoenix, Arizona 8 5 0 7 2, 2 0 5 8", "por fax al 1, 8 6 6, 2 2 4, 2 7 4 1."],
        id="billing-appeals",
    ),
    pytest.param(("3",), "medicare_menu", [], [], id="medicare"),
    pytest.param(
        ("3", "1"),
        "medicare_gap",
        ["coverage gap", "donut hole", "ended in 2025"],
        ["periodo sin cobertura", "terminó en 2025"],
        id="medicare-gap",
    ),
    pytest.param(
        ("3", "2"), "medicare_lis", ["low-income subsidy"], ["subsidio por bajos ingresos"], id="medicare-lis"
    ),
    pytest.param(
        ("3", "3"),
        "medicare_formulary",
        ["formulary change"],
        ["cambio en el formulario"],
        id="medicare-formulary",
    ),
    pytest.param(
        ("3", "4"),
        "medicare_mail_order",
        ["retail pharmacy to mail order"],
        ["farmacia local al servicio por correo"],
        id="medicare-retail-to-mail",
    ),
    pytest.param(
        ("5",), "international_menu", ["ship outside the United States"], ["No enviamos"], id="international"
    ),
    pytest.param(
        ("5", "1"),
        "intl_travel",
        ["30-day travel supply", "member portal"],
        ["suministro de 30 días", "portal para miembros"],
        id="intl-travel",
    ),
    pytest.param(
        ("5", "2"),
        "intl_letter",
        ["letter of medical necessity"],
        ["carta de necesidad médica"],
        id="intl-letter",
    ),
]

VERIFIED_FACTS = [
    pytest.param(
        ("2",),
        ["Your most recent order", "shipped on Monday"],
        ["Su pedido más reciente", "se enviaron el lunes"],
        id="track-shipment",
    ),
    pytest.param(
        ("3",),
        ["replacement at no cost", "return the damaged package"],
        ["reemplazo sin costo", "devolver el paquete dañado"],
        id="missing-damaged",
    ),
    pytest.param(
        ("4",),
        [
            "7 to 10 business days",
            "3 to 5",
            "for a fee",
            "prior authorization",
            "P.O. box",
            "Puerto Rico, Guam",
        ],
        ["7 a 10 días hábiles", "3 a 5", "autorización previa", "apartados postales", "Puerto Rico, Guam"],
        id="delivery-info",
    ),
]


def _lang_call(call: Callable[..., Phone], lang: str) -> Phone:
    phone = call()
    if lang == "es":
        phone.press("9")
        assert greeting("es") in phone.heard and prompt("main_menu", "es") in phone.heard
    return phone


def _verify(phone: Phone) -> Phone:
    phone.press("1")
    assert phone.gather is not None and phone.gather.attrib["finishOnKey"] == "#"
    phone.press(MEMBER_ID)
    assert phone.gather is not None and phone.gather.attrib["numDigits"] == "8"
    return phone.press(MEMBER_DOB)


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(("keys", "state", "english", "spanish"), MAIN_FACTS)
def test_main_line_options(
    call: Callable[..., Phone],
    engine: Engine,
    lang: str,
    keys: tuple[str, ...],
    state: str,
    english: list[str],
    spanish: list[str],
) -> None:
    phone = _lang_call(call, lang).walk(*keys)
    assert stored(engine.store, phone.sid).state == state
    assert spoken_text(phone.says[0]) == confirm(state, lang)  # the choice confirmed first
    assert prompt(state, lang) in phone.heard
    for phrase in english if lang == "en" else spanish:
        assert phrase in phone.heard
    assert phone.languages == {"en-US" if lang == "en" else "es-US"}
    assert phone.gather is not None


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(("keys", "english", "spanish"), VERIFIED_FACTS)
def test_refill_options_after_identity(
    call: Callable[..., Phone], lang: str, keys: tuple[str, ...], english: list[str], spanish: list[str]
) -> None:
    phone = _verify(_lang_call(call, lang))
    assert spoken_text(phone.says[0]) == message("verified", lang)  # before the refill menu
    assert prompt("refill_menu", lang) in phone.heard
    phone.walk(*keys)
    for phrase in english if lang == "en" else spanish:
        assert phrase in phone.heard


@pytest.mark.parametrize(
    ("keys", "queue", "english", "spanish"),
    [
        pytest.param(("0",), "sim-representative", "a representative", "un representante", id="0"),
        pytest.param(("4",), "sim-pharmacist", "drug interactions", "interacciones", id="4"),
        pytest.param(("3", "0"), "sim-medicare", "Medicare Part D team", "Parte D", id="3-0"),
        pytest.param(
            ("5", "3"),
            "sim-international",
            "International Compliance Desk",
            "Oficina de Cumplimiento Internacional",
            id="5-3",
        ),
        pytest.param(
            ("2", "3", "0"), "sim-representative", "a representative", "un representante", id="2-3-0"
        ),
    ],
)
@pytest.mark.parametrize("lang", ["en", "es"])
def test_transfers_go_to_simulated_queues(
    call: Callable[..., Phone],
    engine: Engine,
    lang: str,
    keys: tuple[str, ...],
    queue: str,
    english: str,
    spanish: str,
) -> None:
    phone = _lang_call(call, lang).walk(*keys)
    enqueue = phone.enqueue
    assert enqueue is not None and enqueue.text == queue
    assert enqueue.attrib["waitUrl"] == f"/voice/hold?lang={lang}"
    assert phone.root is not None and phone.root.find("Dial") is None
    assert (english if lang == "en" else spanish) in phone.heard
    reference = stored(engine.store, phone.sid).reference
    assert say_as("digits", reference, lang) in phone.heard  # spoken before the transfer
    assert stored(engine.store, phone.sid).outcome == f"transfer:{queue[4:]}"


def test_refill_request_by_rx_number(call: Callable[..., Phone], engine: Engine) -> None:
    phone = _verify(call()).press("1")
    assert "prescription number" in phone.heard
    phone.press("7654321")
    assert "prescription ending in 4 3 2 1 has been received" in phone.heard
    digits = [e.text for e in phone.root.iter("say-as") if e.get("interpret-as") == "digits"]
    assert digits == ["4321"]  # the last four, as digits (never "four thousand ...")
    assert "7 to 10 business days" in phone.heard
    phone.press("2")
    assert "Your most recent order" in phone.heard


def test_goodbye_speaks_reference_and_hangs_up(call: Callable[..., Phone], engine: Engine) -> None:
    # No key ends a call: silence after an information leaf is "finished" (goodbye).
    phone = call().walk("2", "1")
    assert not phone.hung_up
    phone.silence()
    assert not phone.hung_up and message("no_input") in phone.heard
    phone.silence().silence()
    reference = stored(engine.store, phone.sid).reference
    assert phone.hung_up and phone.enqueue is None
    heard = phone.heard
    assert message("failover") not in heard and "representative" not in heard
    assert heard.index(say_as("digits", reference, "en")) < heard.index(prompt("goodbye"))
    assert engine.store.get_call(phone.sid).outcome == "goodbye"


def test_nine_switches_language_below_the_main_menu_and_never_hangs_up(call: Callable[..., Phone]) -> None:
    phone = call().walk("2", "1")
    first = [spoken_text(s) for s in phone.says]
    phone.press("9")
    assert not phone.hung_up and phone.gather is not None
    # The first switch to Spanish: the greeting and warning in Spanish (with the English offer
    # in its own English <Say>), then the same leaf.
    english = [spoken_text(s) for s in phone.says if s.attrib["language"] == "en-US"]
    assert english == [message("language_offer", "en")]
    assert greeting("es") in phone.heard and warning("es") in phone.heard
    assert prompt("billing_discrepancy", "es") in phone.heard
    phone.press("9")
    assert not phone.hung_up
    # Back to a language already heard: a one-word confirmation, then the same leaf.
    assert [spoken_text(s) for s in phone.says] == [message("language_set", "en"), *first[1:]]


def test_star_repeats_and_pound_returns_to_main_menu(call: Callable[..., Phone]) -> None:
    phone = call().press("2")
    first = [spoken_text(s) for s in phone.says]
    assert first == [confirm("billing_menu"), prompt("billing_menu")]  # the choice confirmed first
    assert "press pound" in first[-1]
    assert [spoken_text(s) for s in phone.press("*").says] == first[1:]
    leaf = [spoken_text(s) for s in phone.press("1").says]
    assert leaf == [confirm("billing_discrepancy"), prompt("billing_discrepancy")]
    assert "press star" in leaf[-1] and "press pound" in leaf[-1]
    assert [spoken_text(s) for s in phone.press("*").says] == leaf[1:]
    heard = phone.press("#").heard
    assert heard.startswith(confirm("main_menu"))
    assert prompt("main_menu") in heard


def test_spanish_toggle_back_to_english(call: Callable[..., Phone]) -> None:
    phone = call().press("9")
    # All Spanish, but for the English offer in its own English <Say>.
    spanish = [s for s in phone.says if s.attrib["language"] == "es-US"]
    english = [spoken_text(s) for s in phone.says if s.attrib["language"] == "en-US"]
    assert english == [message("language_offer", "en")] and spanish
    assert phone.gather is not None and phone.gather.attrib["language"] == "es-US"
    assert "resurtido" in phone.gather.attrib["hints"]
    phone.press("9")
    says = [(s.attrib["language"], spoken_text(s)) for s in phone.says]
    assert says[0] == ("en-US", message("language_set", "en"))
    assert says[-1] == ("es-US", message("language_offer", "es"))
    assert {lang for lang, _ in says[:-1]} == {"en-US"}
    assert phone.gather is not None and phone.gather.attrib["language"] == "en-US"
    assert prompt("main_menu") in phone.heard


def test_every_say_has_voice_and_language_of_the_call(call: Callable[..., Phone]) -> None:
    phone = call().press("9").press("2")
    assert {(s.attrib["voice"], s.attrib["language"]) for s in phone.says} == {("Polly.Lupe", "es-US")}


def test_specialty_line(call: Callable[..., Phone]) -> None:
    phone = call(to=SPECIALTY)
    assert "specialty pharmacy" in phone.heard
    assert "prior authorization" in phone.heard and "oral oncology" in phone.heard
    assert "prescriber and your insurance plan" in phone.press("1").heard
    assert "adherence coaching" in phone.press("#").press("2").heard
    assert "special handling" in phone.press("#").press("3").heard
    phone.press("0")
    assert phone.enqueue is not None and phone.enqueue.text == "sim-specialty"


def test_specialty_line_in_spanish(call: Callable[..., Phone]) -> None:
    phone = call(to=SPECIALTY).press("9")
    assert greeting("es", "specialty") in phone.heard and "farmacia especializada" in phone.heard
    assert "autorización previa" in phone.press("1").heard


def test_unknown_number_reaches_main_line(call: Callable[..., Phone]) -> None:
    assert prompt("main_menu") in call(to="+15005550006").heard


def test_greeting_warns_about_scams_and_what_to_have_ready(
    call: Callable[..., Phone], client: FlaskClient
) -> None:
    heard = call().heard
    assert "Never give Social Security, Medicare or card numbers" in warning()
    # A short welcome, Spanish offered in Spanish, the warning, then the menu.
    offer = message("language_offer", "es")
    order = [
        heard.index(greeting()),
        heard.index(offer),
        heard.index(warning()),
        heard.index(prompt("main_menu")),
    ]
    assert order == sorted(order)
    # What to have ready is said while the caller waits for a person (the hold message),
    # not before the first choice.
    hold = client.post("/voice/hold?lang=en")
    assert hold.status_code == 200
    root = ElementTree.fromstring(hold.get_data(as_text=True))
    waiting = " ".join(spoken_text(s) for s in root.iter("Say"))
    assert "member ID, insurance information and medication name" in waiting

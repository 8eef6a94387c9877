"""Multi-step calls through every option of every line, in English and in Spanish."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .phone import SPECIALTY, Phone

MEMBER_ID, MEMBER_DOB = "10203040", "03071956"

# (keys after the main menu, phrases the caller must hear at the end) per language.
MAIN_FACTS = [
    pytest.param(("2",), ["billing discrepancy", "update your address or insurance"],
                 ["diferencia en su factura", "actualizar su dirección o su seguro"], id="billing"),
    pytest.param(("2", "1"), ["correct a billing discrepancy"], ["corregir la diferencia"],
                 id="billing-discrepancy"),
    pytest.param(("2", "2"), ["no extra charge for mail order", "formulary and your copay"],
                 ["no tiene cargo adicional", "formulario de su plan y de su copago"],
                 id="billing-cost"),
    pytest.param(("2", "3"), ["member portal", "2 2 4, 2 7 4", "P.O. Box 52058"],
                 ["portal para miembros", "2 2 4, 2 7", "P.O. Box 52058"], id="billing-updates"),
    pytest.param(("3",), ["Medicare Part D", "donut hole", "low-income subsidy"],
                 ["Parte D de Medicare", "subsidio por bajos ingresos"], id="medicare"),
    pytest.param(("3", "1"), ["coverage gap", "donut hole"], ["periodo sin cobertura"],
                 id="medicare-gap"),
    pytest.param(("3", "2"), ["low-income subsidy"], ["subsidio por bajos ingresos"],
                 id="medicare-lis"),
    pytest.param(("3", "3"), ["formulary change"], ["cambio en el formulario"],
                 id="medicare-formulary"),
    pytest.param(("3", "4"), ["retail pharmacy to mail order"], ["farmacia local al servicio por correo"],
                 id="medicare-retail-to-mail"),
    pytest.param(("5",), ["Global Member Services", "do not ship to addresses outside"],
                 ["Servicios Globales para Miembros", "No enviamos"], id="international"),
    pytest.param(("5", "1"), ["30-day travel supply", "member portal"],
                 ["suministro de viaje de hasta 30 días"], id="intl-travel"),
    pytest.param(("5", "2"), ["letter of medical necessity"], ["carta de necesidad médica"],
                 id="intl-letter"),
]  # fmt: skip

VERIFIED_FACTS = [
    pytest.param(("2",), ["Your most recent order", "shipped on Monday"],
                 ["Su pedido más reciente", "se enviaron el lunes"], id="track-shipment"),
    pytest.param(("3",), ["replacement at no cost", "return the damaged package"],
                 ["reemplazo sin costo", "devolver el paquete dañado"], id="missing-damaged"),
    pytest.param(("4",), ["7 to 10 business days", "3 to 5 business days for a fee",
                          "prior authorization", "P.O. box addresses", "Puerto Rico, Guam"],
                 ["7 a 10 días hábiles", "3 a 5 días hábiles", "autorización previa",
                  "apartado postal", "Puerto Rico, Guam"], id="delivery-info"),
]  # fmt: skip


def _lang_call(call: Callable[..., Phone], lang: str) -> Phone:
    phone = call()
    if lang == "es":
        phone.press("9")
        assert "Para resurtir recetas" in phone.heard
    return phone


def _verify(phone: Phone) -> Phone:
    phone.press("1")
    assert phone.gather is not None and phone.gather.attrib["finishOnKey"] == "#"
    phone.press(MEMBER_ID)
    assert phone.gather is not None and phone.gather.attrib["numDigits"] == "8"
    return phone.press(MEMBER_DOB)


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(("keys", "english", "spanish"), MAIN_FACTS)
def test_main_line_options(call, lang, keys, english, spanish):
    phone = _lang_call(call, lang).walk(*keys)
    for phrase in english if lang == "en" else spanish:
        assert phrase in phone.heard
    assert phone.languages == {"en-US" if lang == "en" else "es-US"}
    assert phone.gather is not None


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(("keys", "english", "spanish"), VERIFIED_FACTS)
def test_refill_options_after_identity(call, lang, keys, english, spanish):
    phone = _verify(_lang_call(call, lang))
    assert ("you are verified" if lang == "en" else "identidad está verificada") in phone.heard
    phone.walk(*keys)
    for phrase in english if lang == "en" else spanish:
        assert phrase in phone.heard


@pytest.mark.parametrize(
    ("keys", "queue", "english", "spanish"),
    [
        pytest.param(("0",), "sim-representative", "a representative", "un representante", id="0"),
        pytest.param(("4",), "sim-pharmacist", "drug interactions", "interacciones", id="4"),
        pytest.param(("3", "0"), "sim-medicare", "Medicare Part D team", "Parte D", id="3-0"),
        pytest.param(("5", "3"), "sim-international", "International Compliance Desk",
                     "Oficina de Cumplimiento Internacional", id="5-3"),
        pytest.param(("2", "3", "0"), "sim-representative", "a representative",
                     "un representante", id="2-3-0"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("lang", ["en", "es"])
def test_transfers_go_to_simulated_queues(call, engine, lang, keys, queue, english, spanish):
    phone = _lang_call(call, lang).walk(*keys)
    enqueue = phone.enqueue
    assert enqueue is not None and enqueue.text == queue
    assert enqueue.attrib["waitUrl"] == f"/voice/hold?lang={lang}"
    assert phone.root is not None and phone.root.find("Dial") is None
    assert (english if lang == "en" else spanish) in phone.heard
    reference = engine.store.get_call(phone.sid).reference
    assert " ".join(reference[:4]) in phone.heard  # spoken before the transfer
    assert engine.store.get_call(phone.sid).outcome == f"transfer:{queue[4:]}"


def test_refill_request_by_rx_number(call, engine):
    phone = _verify(call()).press("1")
    assert "prescription number" in phone.heard
    phone.press("7654321")
    assert "prescription ending in 4 3 2 1 has been received" in phone.heard
    assert "7 to 10 business days" in phone.heard
    phone.press("2")
    assert "Your most recent order" in phone.heard


def test_goodbye_speaks_reference_and_hangs_up(call, engine):
    phone = call().walk("2", "9")
    reference = engine.store.get_call(phone.sid).reference
    assert phone.hung_up
    heard = phone.heard
    assert heard.index(" ".join(reference[:4])) < heard.index("Goodbye")
    assert engine.store.get_call(phone.sid).outcome == "goodbye"


def test_star_repeats_and_pound_returns_to_main_menu(call):
    phone = call().press("2")
    first = phone.heard
    assert "press star" in first and "press pound" in first
    assert phone.press("*").heard == first
    assert "For refill requests or delivery status, press 1" in phone.press("#").heard


def test_spanish_toggle_back_to_english(call):
    phone = call().press("9")
    assert phone.languages == {"es-US"}
    assert phone.gather is not None and phone.gather.attrib["language"] == "es-US"
    assert "resurtido" in phone.gather.attrib["hints"]
    phone.press("9")
    assert phone.languages == {"en-US"}
    assert "For refill requests" in phone.heard


def test_every_say_has_voice_and_language_of_the_call(call):
    phone = call().press("9").press("2")
    assert {(s.attrib["voice"], s.attrib["language"]) for s in phone.says} == {("Polly.Lupe", "es-US")}


def test_specialty_line(call):
    phone = call(to=SPECIALTY)
    assert "specialty pharmacy" in phone.heard
    assert "prior authorization" in phone.heard and "oral oncology" in phone.heard
    assert "prescriber and your insurance plan" in phone.press("1").heard
    assert "adherence coaches" in phone.press("#").press("2").heard
    assert "special handling" in phone.press("#").press("3").heard
    phone.press("0")
    assert phone.enqueue is not None and phone.enqueue.text == "sim-specialty"


def test_specialty_line_in_spanish(call):
    phone = call(to=SPECIALTY).press("9")
    assert "Farmacia especializada" in phone.heard
    assert "autorización previa" in phone.press("1").heard


def test_unknown_number_reaches_main_line(call):
    assert "For refill requests" in call(to="+15005550006").heard


def test_greeting_warns_about_scams_and_what_to_have_ready(call):
    heard = call().heard
    assert "Never give your Social Security number, Medicare ID or card details" in heard
    assert "member ID, insurance information and medication name" in heard

"""`ivr lint`: our flows meet the prompt standards; each rule, broken alone, is named exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from flask import Flask

from ivr.cli import main
from ivr.engine.config import FLOWS_DIR
from ivr.engine.flow import REQUIRED_MESSAGES
from ivr.qa import espeak_available
from ivr.qa.crawl import crawl
from ivr.qa.lint_text import bare_numbers, foreign_words
from ivr.sim import WsgiTransport

FLOW_FILES = sorted(FLOWS_DIR.glob("*.yaml"))


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, ["lint", *args], catch_exceptions=False)


def violations(result: Result, path: Path) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"{path}: ")]


# -- our own lines ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FLOW_FILES, ids=[p.name for p in FLOW_FILES])
def test_our_flows_pass_the_lint(runner: CliRunner, path: Path) -> None:
    result = run(runner, str(path))
    assert violations(result, path) == []
    assert result.exit_code == 0, result.output


# -- a small line that passes, and copies that break one rule each ------------------------------


def text(en: str, es: str | None = None) -> dict[str, str]:
    return {"en": en} if es is None else {"en": en, "es": es}


def state(name: str, kind: str, prompt: str, reprompt: str | None = None, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": kind, "prompt": text(prompt)}
    if reprompt is not None:
        out["reprompt"] = text(reprompt)
    out.update(more)
    return out


def base() -> dict[str, Any]:
    """One language; a menu with one option, an information leaf, a representative."""
    return {
        "name": "t",
        "title": "Test line",
        "languages": ["en"],
        "initial": "incoming",
        "failover": "rep",
        "keys": {"0": "rep", "*": "repeat", "#": "menu"},
        "messages": {name: text(f"The {name} message.") for name in REQUIRED_MESSAGES},
        "states": [
            {"name": "incoming", "type": "start"},
            state(
                "menu",
                "menu",
                "For billing, press 1. For a representative, press 0. To hear this again, press star.",
                "Press 1 for billing or 0 for a representative.",
            ),
            state(
                "billing",
                "info",
                "Bills are due on the first of the month. For the main menu, press pound.",
                "Press pound for the main menu.",
            ),
            state("rep", "transfer", "Connecting you.", desk="representative"),
        ],
        "transitions": [
            {"trigger": "start", "source": "incoming", "dest": "menu"},
            {"trigger": "press_1", "source": "menu", "dest": "billing"},
        ],
    }


def of(flow: dict[str, Any], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = next(s for s in flow["states"] if s["name"] == name)
    return spec


def write(tmp_path: Path, flow: dict[str, Any], name: str = "line.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(flow, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def lint_words(runner: CliRunner, path: Path, *more: str) -> Result:
    """Lint with seconds from words at the speaking rate: the same figures on every machine."""
    return run(runner, "--measure", "words", *more, str(path))


def test_the_small_line_passes(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, base())
    result = lint_words(runner, path)
    assert (result.exit_code, violations(result, path)) == (0, []), result.output
    assert "1 line linted, 0 violations" in result.stdout


def six_options() -> dict[str, Any]:
    flow = base()
    of(flow, "menu")["prompt"] = text(
        "Billing, press 1. Claims, press 2. Forms, press 3. Orders, "
        "press 4. Travel, press 5. Hours, press 6. A person, press 0. "
        "Again, press star."
    )
    flow["transitions"] += [{"trigger": f"press_{k}", "source": "menu", "dest": "billing"} for k in "23456"]
    return flow


def long_menu() -> dict[str, Any]:
    flow = base()
    filler = " ".join(["We are glad you called and we want to help you today."] * 4)
    filler += " Please listen closely to every option below."  # 55 words
    of(flow, "menu")["prompt"] = text(
        f"For billing, press 1. {filler} For a representative, press 0. To hear this again, press star."
    )  # 70 words
    return flow


def long_reprompt() -> dict[str, Any]:
    flow = base()  # the prompt is 15 words
    of(flow, "menu")["reprompt"] = text(
        "Press 1 for billing, or press 0 for a representative, or press star to repeat."
    )  # 15 words too
    return flow


def dead_key() -> dict[str, Any]:
    flow = base()
    of(flow, "menu")["prompt"] = text(
        "For billing, press 1. For claims, press 7. For a representative, "
        "press 0. To hear this again, press star."
    )
    return flow


def unsaid_key() -> dict[str, Any]:
    flow = base()
    flow["transitions"].append({"trigger": "press_2", "source": "menu", "dest": "billing"})
    return flow


def mixed_language() -> dict[str, Any]:
    flow = base()
    flow["languages"] = ["en", "es"]
    flow["keys"]["9"] = "language"
    flow["greeting"] = text("Welcome to the test line.", "Bienvenido a la línea de prueba.")
    flow["messages"] = {
        name: text(f"The {name} message.", f"El mensaje {name}.") for name in REQUIRED_MESSAGES
    }
    flow["messages"]["language_offer"] = text("For English, press 9.", "Para español, oprima 9.")
    of(flow, "menu")["prompt"] = text(
        "For billing, press 1. For a representative, press 0. To hear this again, press star. "
        "Para español, oprima 9.",
        "Para facturación, oprima 1. Para un representante, oprima 0. Para escuchar esto otra vez, "
        "oprima asterisco.",
    )
    of(flow, "menu")["reprompt"] = text(
        "Press 1 for billing or 0 for a representative.",
        "Oprima 1 para facturación o 0 para un representante.",
    )
    of(flow, "billing")["prompt"] = text(
        "Bills are due on the first of the month. For the main menu, press pound.",
        "Las facturas vencen el primer día del mes. Para el menú principal, oprima la tecla de número.",
    )
    of(flow, "billing")["reprompt"] = text(
        "Press pound for the main menu.", "Oprima la tecla de número para el menú principal."
    )
    of(flow, "rep")["prompt"] = text("Connecting you.", "Lo comunico.")
    return flow


def bare_number(words: str) -> Any:
    def build() -> dict[str, Any]:
        flow = base()
        of(flow, "billing")["prompt"] = text(f"To pay by mail, {words}. For the main menu, press pound.")
        return flow

    return build


def goodbye_key() -> dict[str, Any]:
    flow = base()
    of(flow, "billing")["prompt"] = text(
        "Bills are due on the first of the month. For the main menu, press pound. To end the call, press 9."
    )
    flow["states"].append(state("bye", "goodbye", "Goodbye."))
    flow["transitions"].append({"trigger": "press_9", "source": "billing", "dest": "bye"})
    return flow


def four_levels() -> dict[str, Any]:
    flow = base()
    of(flow, "menu")["prompt"] = text(
        "For billing, press 1. For more, press 2. For a representative, "
        "press 0. To hear this again, press star."
    )
    for name, nxt in (("m2", "m3"), ("m3", "m4")):
        flow["states"].append(state(name, "menu", "For more, press 1.", "Press 1."))
        flow["transitions"].append({"trigger": "press_1", "source": name, "dest": nxt})
    flow["states"].append(state("m4", "menu", "For the main menu, press pound.", "Press pound."))
    flow["transitions"].append({"trigger": "press_2", "source": "menu", "dest": "m2"})
    return flow


def two_meanings() -> dict[str, Any]:
    flow = base()
    del flow["keys"]["0"]  # 0 is this line's own: a person at the menu, the hours in billing
    of(flow, "billing")["prompt"] = text(
        "Bills are due on the first of the month. For our hours, press 0. For the main menu, press pound."
    )
    flow["states"].append(
        state("hours", "info", "We are open every day. For the main menu, press pound.", "Press pound.")
    )
    flow["transitions"] += [
        {"trigger": "press_0", "source": "menu", "dest": "rep"},
        {"trigger": "press_0", "source": "billing", "dest": "hours"},
    ]
    return flow


BROKEN = [
    pytest.param(
        six_options,
        "menu",
        "transitions",
        "6 options (1, 2, 3, 4, 5, 6); at most 5 per menu",
        id="six-options",
    ),
    pytest.param(
        long_menu,
        "menu",
        "prompt.en",
        "the menu takes 28.0 s to hear; an instruction stays under 20 s",
        id="long-menu",
    ),
    pytest.param(
        long_reprompt,
        "menu",
        "reprompt.en",
        "the re-prompt is 15 words, the prompt 15",
        id="reprompt-not-shorter",
    ),
    pytest.param(
        dead_key,
        "menu",
        "prompt.en",
        "says 'For claims, press 7.', but key 7 does nothing here",
        id="dead-key",
    ),
    pytest.param(
        unsaid_key, "menu", "prompt.en", "key 2 works here but the prompt never says it", id="unsaid-key"
    ),
    pytest.param(
        mixed_language,
        "menu",
        "prompt.en",
        "the English voice says words of another language (para, español, oprima)",
        id="mixed-language",
    ),
    pytest.param(
        bare_number("call 1 800 237 2765"),
        "billing",
        "prompt.en",
        "the bare number "
        "'1 800 237 2765' is read as a quantity; write it in typed markup, e.g. "
        "{phone:1-800-237-2765}",
        id="bare-phone",
    ),
    pytest.param(
        bare_number("write to P.O. Box 52058"),
        "billing",
        "prompt.en",
        "the bare number '52058' is read as a quantity; write it in typed markup, e.g. {digits:52058}",
        id="bare-digits",
    ),
    pytest.param(
        goodbye_key,
        "billing",
        "transitions.press_9",
        "key 9 ends the call ('bye' says goodbye)",
        id="goodbye-key",
    ),
    pytest.param(
        four_levels,
        "m3",
        "transitions.press_1",
        "leads to menu 'm4', 4 levels deep (menu > m2 > m3 > m4); at most 3",
        id="depth-4",
    ),
    pytest.param(
        two_meanings,
        "billing",
        "transitions.press_0",
        "key 0 goes to an information leaf here, but to a person at 'menu': a key means one thing on a line",
        id="two-meanings",
    ),
]


@pytest.mark.parametrize(("build", "where", "field", "message"), BROKEN)
def test_each_rule_broken_alone_is_named_by_file_state_and_field(
    runner: CliRunner, tmp_path: Path, build: Any, where: str, field: str, message: str
) -> None:
    path = write(tmp_path, build())
    result = lint_words(runner, path)
    found = violations(result, path)
    assert len(found) == 1, result.output
    assert found[0].startswith(f"{path}: state '{where}': field '{field}': {message}")
    assert result.exit_code == 1
    assert "1 line linted, 1 violation" in result.stdout


def test_the_words_before_the_first_choice_are_counted_on_the_start_document(
    runner: CliRunner, tmp_path: Path
) -> None:
    flow = base()
    flow["greeting"] = text(" ".join(["Thank you for calling our test line today."] * 4))  # 32 words
    path = write(tmp_path, flow)
    result = lint_words(runner, path)
    assert violations(result, path) == [
        f"{path}: state 'menu': field 'greeting.en': 36 words before the first choice; at most 30: the "
        "caller called to do something, so shorten what comes before it"
    ]  # 32 of the greeting and 4 of "For billing, press 1."
    assert result.exit_code == 1


# -- budgets ------------------------------------------------------------------------------------


def test_a_budgets_file_raises_a_budget(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, six_options())
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("max_options: 6\n", encoding="utf-8")
    result = lint_words(runner, path, "--budgets", str(budgets))
    assert (result.exit_code, violations(result, path)) == (0, []), result.output


def test_a_line_sets_its_own_budgets_in_its_lint_section(runner: CliRunner, tmp_path: Path) -> None:
    flow = six_options()
    flow["lint"] = {"max_options": 6}
    path = write(tmp_path, flow)
    result = lint_words(runner, path)
    assert (result.exit_code, violations(result, path)) == (0, []), result.output


def test_an_unknown_budget_name_is_an_error_naming_the_file_and_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write(tmp_path, base())
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("max_option: 6\n", encoding="utf-8")
    result = lint_words(runner, path, "--budgets", str(budgets))
    assert result.exit_code == 2
    assert f"error: {budgets}: field 'max_option': unknown budget" in result.stderr


def test_an_unknown_name_in_a_flows_lint_section_names_the_flow(runner: CliRunner, tmp_path: Path) -> None:
    flow = base()
    flow["lint"] = {"max_seconds": 10}
    path = write(tmp_path, flow)
    result = lint_words(runner, path)
    assert result.exit_code == 2
    assert f"error: {path}: field 'lint.max_seconds': unknown budget" in result.stderr


def test_an_invalid_flow_file_exits_2_with_the_loaders_errors(runner: CliRunner, tmp_path: Path) -> None:
    flow = base()
    of(flow, "menu")["colour"] = "blue"
    path = write(tmp_path, flow)
    result = lint_words(runner, path)
    assert result.exit_code == 2
    [line] = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "colour:" in text]
    assert f"error: {path}:{line}: state 'menu': field 'colour': unknown field" in result.stderr


# -- the report ---------------------------------------------------------------------------------


def test_the_json_report_has_per_language_figures_destinations_and_edge_seconds(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write(tmp_path, base())
    result = run(runner, "--measure", "words", "--json", "-", str(path))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["violations"] == 0 and data["budgets"]["max_options"] == 5
    (line,) = data["lines"]
    assert (line["line"], line["file"], line["measure"], line["start"]) == ("t", str(path), "words", "menu")
    assert line["menus"] == {"menu": {"options": 1, "keys": ["1"], "depth": 1}}
    en = line["languages"]["en"]
    # "For billing, press 1." is 4 words, 1.6 s at 150 words a minute.
    assert (en["words_before_first_choice"], en["seconds_before_first_choice"]) == (4, 1.6)
    edges = {(e["source"], e["key"], e["dest"]): e["seconds"] for e in en["edges"]}
    assert edges[("menu", "1", "billing")] == 1.6
    assert edges[("menu", "0", "rep")] == 3.6  # and "For a representative, press 0.": 5 more words
    assert edges[("billing", "#", "menu")] == 6.0  # 15 words: the leaf names # last
    destinations = {d["state"]: d for d in en["destinations"]}
    assert set(destinations) == {"rep", "billing"}
    assert destinations["billing"]["inputs"] == ["1"]
    # 1.6 s at the menu, then the leaf's 15 words whole.
    assert destinations["billing"]["seconds"] == pytest.approx(1.6 + 6.0)
    assert line["violations"] == []


def test_the_text_report_is_a_table_per_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, base())
    out = lint_words(runner, path).stdout
    assert f"line t ({path}): words at 150 words a minute; menus 1 level deep" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert rows["menu"] == ["1", "1", "6.0"]  # options, level, seconds: 15 words
    assert "to billing (1)" in out and "to rep (0)" in out


def test_seconds_are_measured_with_espeak_when_it_is_installed(runner: CliRunner, tmp_path: Path) -> None:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    path = write(tmp_path, base())
    measured = json.loads(run(runner, "--json", "-", str(path)).stdout)["lines"][0]
    counted = json.loads(run(runner, "--measure", "words", "--json", "-", str(path)).stdout)["lines"][0]
    assert (measured["measure"], counted["measure"]) == ("espeak", "words")
    for name in ("rep", "billing"):
        heard = {d["state"]: d["seconds"] for d in measured["languages"]["en"]["destinations"]}[name]
        words = {d["state"]: d["seconds"] for d in counted["languages"]["en"]["destinations"]}[name]
        assert heard != words
        assert words / 2 < heard < words * 2, (name, heard, words)


def test_a_slower_line_takes_longer(runner: CliRunner, tmp_path: Path) -> None:
    flow = base()
    flow["pace"] = {"rate": "75%"}
    path = write(tmp_path, flow)
    data = json.loads(run(runner, "--measure", "words", "--json", "-", str(path)).stdout)["lines"][0]
    assert data["words_per_minute"] == 112.5
    assert data["languages"]["en"]["seconds_before_first_choice"] == pytest.approx(4 * 60 / 112.5, abs=0.05)


# -- the checks on words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "lang", "found"),
    [
        ("For billing, press 1. Para español, oprima 9.", "en", ["para", "español", "oprima"]),
        ("Para facturación, oprima 1. For English, press 9.", "es", ["for", "press"]),
        ("Medicare Part D, Caremark y Puerto Rico son nombres.", "es", []),
        ("Para la Parte D de Medicare, oprima 3.", "es", []),
        ("We ship to Puerto Rico and Los Angeles, El Paso too.", "en", []),
    ],
)
def test_foreign_words_ignore_names(said: str, lang: str, found: list[str]) -> None:
    assert foreign_words(said, lang) == found


def test_numbers_in_markup_are_not_bare() -> None:
    assert bare_numbers("Call {phone:1-800-237-2765} or write to P.O. Box {digits:52058}.") == []
    assert bare_numbers("Delivery takes 7 to 10 days, from 8 a.m. to 8 p.m., since 1956.") == []
    assert bare_numbers("Your date is 0 3 0 7 1 9 5 6.") == ["0 3 0 7 1 9 5 6"]


# -- ivr crawl: seconds to each outcome ---------------------------------------------------------


def test_the_crawl_reports_seconds_to_each_outcome(app: Flask) -> None:
    report = crawl(WsgiTransport(app), "+18006734828", line="specialty")
    by_inputs = {p.inputs: p for p in report.paths}
    for path in report.paths:
        parent = by_inputs.get(path.inputs[:-1])
        if path.inputs and parent is not None:
            assert path.seconds > parent.seconds, path
    outcomes = report.outcome_seconds
    rep = [p.seconds for p in report.paths if str(p.outcome) == "enqueue:sim-representative"]
    assert outcomes["enqueue:sim-representative"] == min(rep) > 0
    assert "fewest seconds to each outcome" in report.render()
    data = report.to_dict()
    assert data["outcome_seconds"]["enqueue:sim-representative"] == round(min(rep), 1)
    assert all(isinstance(p["seconds"], float) for p in data["paths"])

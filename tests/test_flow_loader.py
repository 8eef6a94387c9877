"""Flow files: the shipped ones load and are sound; each kind of broken file is refused
with a FlowError naming the file, the state and the field."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.engine.config import FLOWS_DIR
from ivr.engine.errors import FlowError, FlowErrors
from ivr.engine.flow import REQUIRED_MESSAGES
from ivr.engine.flow_checks import check_graph, reachable_states
from ivr.engine.flow_loader import load_flow

FLOW_FILES = sorted(FLOWS_DIR.glob("*.yaml"))


# -- the shipped flows --------------------------------------------------------------------------


def test_the_flows_folder_holds_the_three_lines() -> None:
    assert [p.name for p in FLOW_FILES] == ["main.yaml", "specialty.yaml", "tty.yaml"]


@pytest.mark.parametrize("path", FLOW_FILES, ids=[p.name for p in FLOW_FILES])
def test_shipped_flow_loads_and_is_sound(path: Path) -> None:
    flow = load_flow(path)
    assert flow.file == str(path)
    assert flow.name == path.stem
    assert check_graph(flow) == []
    assert reachable_states(flow) == set(flow.states), "every state is reachable"
    assert flow.states[flow.initial].type == "start"
    assert [n for n, s in flow.states.items() if s.type == "start"] == [flow.initial]
    assert {"en", "es"} <= set(flow.languages)
    for lang in ("en", "es"):
        for name, spec in flow.states.items():
            if spec.type == "start":
                continue
            assert spec.prompt.get(lang, "").strip(), f"{name}: no '{lang}' prompt"
            assert spec.reprompt.get(lang, "").strip(), f"{name}: no '{lang}' reprompt"
        for message in REQUIRED_MESSAGES:
            assert flow.messages[message].get(lang, "").strip(), f"{message}: no '{lang}' text"
    for spec in flow.states.values():
        if spec.type == "transfer":
            assert spec.desk, f"{spec.name}: a transfer without a desk"


# -- a small valid flow, and broken copies of it ------------------------------------------------

MESSAGES = "\n".join(
    f"  {name}:\n    en: The {name} message.\n    es: El mensaje {name}." for name in REQUIRED_MESSAGES
)

MINIMAL = f"""\
name: mini
title: Minimal test line
languages: [en, es]
initial: incoming

greeting:
  en: Welcome to the test line.
  es: Bienvenido a la línea de prueba.

messages:
{MESSAGES}

speech:
  "0":
    en: [representative]
    es: [representante]

states:
  - name: incoming
    type: start

  - name: main_menu
    type: menu
    prompt:
      en: Press 1 for help or 0 for a representative.
      es: Oprima 1 para ayuda o 0 para un representante.
    reprompt:
      en: Press 1 or 0.
      es: Oprima 1 o 0.
    speech:
      "1":
        en: [help]
        es: [ayuda]

  - name: help
    type: goodbye
    prompt:
      en: Here is some help. Goodbye.
      es: Aquí tiene ayuda. Adiós.

  - name: representative
    type: transfer
    desk: representative
    prompt:
      en: Connecting you.
      es: Lo comunico.

transitions:
  - {{trigger: start, source: incoming, dest: main_menu}}
  - {{trigger: press_1, source: main_menu, dest: help}}
  - {{trigger: press_0, source: main_menu, dest: representative}}
  - {{trigger: no_input, source: main_menu, dest: "=", conditions: can_retry, after: count_failure}}
  - {{trigger: no_input, source: main_menu, dest: representative}}
  - {{trigger: invalid, source: main_menu, dest: "=", conditions: can_retry, after: count_failure}}
  - {{trigger: invalid, source: main_menu, dest: representative}}
"""

T_PRESS_1 = "  - {trigger: press_1, source: main_menu, dest: help}\n"
T_NO_INPUT_RETRY = (
    '  - {trigger: no_input, source: main_menu, dest: "=", conditions: can_retry, after: count_failure}\n'
)
T_NO_INPUT_LAST = "  - {trigger: no_input, source: main_menu, dest: representative}\n"
T_INVALID_RETRY = T_NO_INPUT_RETRY.replace("no_input", "invalid")
T_INVALID_LAST = T_NO_INPUT_LAST.replace("no_input", "invalid")
HELP_STATE = "  - name: help\n    type: goodbye\n"
#: A menu without its retries, in a flow with no `failover` state to send the last try to.
OR_FAILOVER = "declare one, or give the flow a `failover` state for the last failed try"
HOURS = """\
hours:
  timezone: America/Chicago
  days: [mon, tue, wed, thu, fri]
  open: "08:00"
  close: "20:00"
"""
WITH_HOURS = MINIMAL.replace("\ngreeting:\n", f"\n{HOURS}\ngreeting:\n")


def edit(text: str, old: str, new: str) -> str:
    """Replace `old`, which must occur exactly once, so every mutation is the one intended."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based line number of the only line that contains `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def load_errors(path: Path) -> list[FlowError]:
    with pytest.raises(FlowErrors) as info:
        load_flow(path)
    errors = info.value.errors
    assert errors and all(isinstance(e, FlowError) for e in errors)
    return errors


#: Where an error is: a fragment of the only line it names, a line number, or None (no line).
Where = str | int | None
#: (where, state, field, a fragment of the message); "{line}" in the field is the error's line.
Expect = tuple[Where, str | None, str | None, str]


def assert_errors(errors: list[FlowError], file: Path, expected: list[Expect]) -> None:
    """Each expected error matches exactly one error, line included, and nothing else is left."""
    text = file.read_bytes().decode("utf-8", "replace") if file.is_file() else ""
    shown = "\n".join(f"  {e.line!r} {e.state!r} {e.field!r}: {e.detail}" for e in errors)
    left = list(errors)
    for where, state, field, fragment in expected:
        line = line_of(text, where) if isinstance(where, str) else where
        field = field.format(line=line) if field is not None else None
        match = next(
            (
                e
                for e in left
                if e.line == line and e.state == state and e.field == field and fragment in e.detail
            ),
            None,
        )
        assert match is not None, f"no error ({line!r}, {state!r}, {field!r}, {fragment!r}) among:\n{shown}"
        left.remove(match)
        assert match.file == str(file)
        # the message a person reads names the file and line, the state and the field
        message = str(match)
        assert message.startswith(f"{file}:{line}: " if line is not None else f"{file}: ")
        assert state is None or f"state '{state}'" in message
        assert field is None or f"field '{field}'" in message
    assert not left, f"unexpected errors:\n{shown}"


@pytest.mark.parametrize("text", [MINIMAL, WITH_HOURS], ids=["minimal", "with-hours"])
def test_the_minimal_flow_is_valid(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(text, encoding="utf-8")
    flow = load_flow(path)
    assert set(flow.states) == {"incoming", "main_menu", "help", "representative"}
    assert check_graph(flow) == []


@dataclass(frozen=True)
class Bad:
    id: str
    text: str | bytes
    expected: list[Expect]


DUP_LINE = line_of(MINIMAL, "    reprompt:")
SYNTAX_TEXT = edit(MINIMAL, "    type: goodbye\n", "    type: goodbye: soon\n")
HELP_LINE = line_of(MINIMAL, "- name: help")
#: One transition, as its line shows in a field: "transitions (line 79): dest".
T = "transitions (line {line}): "

BAD_FLOWS = [
    Bad(
        "unknown-target-state",
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("dest: help", "dest: nowhere")),
        [("dest: nowhere", "main_menu", T + "dest", "unknown target state 'nowhere'")],
    ),
    Bad(
        "unknown-source-state",
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("main_menu", "[main_menu, nowhere]")),
        [("nowhere]", "nowhere", T + "source", "unknown source state 'nowhere'")],
    ),
    Bad(
        "yaml-duplicate-key",
        edit(MINIMAL, "    reprompt:\n", "    reprompt:\n      en: A.\n      es: B.\n    reprompt:\n"),
        [
            (
                DUP_LINE + 3,
                None,
                None,
                f"duplicate key 'reprompt' (first on line {DUP_LINE}, again on line {DUP_LINE + 3})",
            )
        ],
    ),
    Bad(
        "duplicate-state-name",
        edit(MINIMAL, HELP_STATE, HELP_STATE + "    prompt: {en: Again., es: Otra vez.}\n" + HELP_STATE),
        [(HELP_LINE + 3, "help", "name", "duplicate state name")],
    ),
    Bad(
        "missing-spanish-prompt",
        edit(MINIMAL, "      es: Aquí tiene ayuda. Adiós.\n", ""),
        [(HELP_LINE + 2, "help", "prompt.es", "missing the 'es' text")],  # the line of `prompt:`
    ),
    Bad(
        "missing-reprompt-language",
        edit(MINIMAL, "      es: Oprima 1 o 0.\n", ""),
        [(DUP_LINE, "main_menu", "reprompt.es", "missing the 'es' text")],
    ),
    Bad(
        "unreachable-state",
        edit(
            MINIMAL,
            "\ntransitions:\n",
            "  - name: orphan\n    type: goodbye\n    prompt: {en: Bye., es: Adiós.}\n\ntransitions:\n",
        ),
        [("name: orphan", "orphan", "name", "unreachable")],
    ),
    Bad(
        "menu-with-no-way-out",
        edit(
            edit(
                MINIMAL,
                "\ntransitions:\n",
                "  - name: dead_end\n    type: menu\n"
                "    prompt: {en: Nothing here., es: Nada aquí.}\n\ntransitions:\n",
            ),
            T_PRESS_1,
            T_PRESS_1 + "  - {trigger: press_2, source: main_menu, dest: dead_end}\n",
        ),
        [
            # No failover state to add the retries to, so the menu has no way out at all.
            ("name: dead_end", "dead_end", "transitions", "has no 'no_input' transition; " + OR_FAILOVER),
            ("name: dead_end", "dead_end", "transitions", "has no 'invalid' transition; " + OR_FAILOVER),
        ],
    ),
    Bad(
        "menu-missing-no-input",
        edit(edit(MINIMAL, T_NO_INPUT_RETRY, ""), T_NO_INPUT_LAST, ""),
        [("name: main_menu", "main_menu", "transitions", "has no 'no_input' transition; " + OR_FAILOVER)],
    ),
    Bad(
        "menu-missing-invalid",
        edit(edit(MINIMAL, T_INVALID_RETRY, ""), T_INVALID_LAST, ""),
        [("name: main_menu", "main_menu", "transitions", "has no 'invalid' transition; " + OR_FAILOVER)],
    ),
    Bad(
        "shadowed-transition",
        edit(
            MINIMAL,
            T_PRESS_1,
            "  - {trigger: press_1, source: main_menu, dest: representative}\n" + T_PRESS_1,
        ),
        [
            (
                "name: main_menu",
                "main_menu",
                "transitions",
                "an earlier 'press_1' transition has no conditions",
            )
        ],
    ),
    Bad(
        "conditional-without-fallback",
        edit(MINIMAL, T_INVALID_LAST, ""),
        [("name: main_menu", "main_menu", "transitions", "the last 'invalid' transition is conditional")],
    ),
    Bad(
        "callback-dotted-import-path",
        edit(MINIMAL, T_NO_INPUT_RETRY, T_NO_INPUT_RETRY.replace("count_failure", "os.system")),
        [("os.system", "main_menu", T + "after", "'os.system' is not an allowed callback")],
    ),
    Bad(
        "condition-not-allowed",
        edit(
            MINIMAL,
            T_INVALID_RETRY,
            T_INVALID_RETRY.replace("conditions: can_retry", "conditions: [can_retry, is_vip]"),
        ),
        [("is_vip", "main_menu", T + "conditions", "'is_vip' is not an allowed callback")],
    ),
    Bad(
        "unknown-trigger",
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("press_1", "press_one")),
        [("press_one", "main_menu", T + "trigger", "unknown trigger 'press_one'")],
    ),
    Bad(
        "unknown-top-level-field",
        edit(MINIMAL, "languages: [en, es]\n", "languages: [en, es]\ncolour: blue\n"),
        [("colour: blue", None, "colour", "unknown field; expected one of description, extends,")],
    ),
    Bad(
        "unknown-state-field",
        edit(MINIMAL, HELP_STATE, HELP_STATE + "    colour: blue\n"),
        [("colour: blue", "help", "colour", "unknown field; expected one of confirm, description,")],
    ),
    Bad(
        "unknown-transition-field",
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("dest: help", "dest: help, prepare: x")),
        [("prepare: x", "main_menu", T + "prepare", "unknown field; expected one of after,")],
    ),
    Bad(
        "bad-state-type",
        edit(MINIMAL, HELP_STATE, HELP_STATE.replace("goodbye", "farewell")),
        [("type: farewell", "help", "type", "must be one of")],
    ),
    Bad(
        "state-type-not-a-name",
        edit(MINIMAL, HELP_STATE, HELP_STATE.replace("goodbye", "[goodbye]")),
        [("type: [goodbye]", "help", "type", "must be one of")],
    ),
    Bad(
        "hours-bad-time",
        edit(WITH_HOURS, 'open: "08:00"', 'open: "8am"'),
        [("8am", None, "hours.open", "must be a 24-hour time")],
    ),
    Bad(
        "hours-hour-out-of-range",
        edit(WITH_HOURS, 'close: "20:00"', 'close: "24:30"'),
        [("24:30", None, "hours.close", "must be a 24-hour time")],
    ),
    Bad(
        "hours-close-before-open",
        edit(WITH_HOURS, 'close: "20:00"', 'close: "07:00"'),
        [("07:00", None, "hours.close", "must be later than hours.open")],
    ),
    Bad(
        "hours-unknown-day",
        edit(WITH_HOURS, "days: [mon,", "days: [funday,"),
        [("funday", None, "hours.days", "unknown day 'funday'")],
    ),
    Bad(
        "hours-day-with-a-valid-prefix",
        edit(WITH_HOURS, "days: [mon,", "days: [monkey,"),
        [("monkey", None, "hours.days", "unknown day 'monkey'")],
    ),
    Bad(
        "hours-no-days",
        edit(WITH_HOURS, "days: [mon, tue, wed, thu, fri]", "days: []"),
        [("days: []", None, "hours.days", "at least one day")],
    ),
    Bad(
        "hours-bad-timezone",
        edit(WITH_HOURS, "timezone: America/Chicago", "timezone: Mars/Olympus"),
        [("Mars/Olympus", None, "hours.timezone", "unknown time zone 'Mars/Olympus'")],
    ),
    Bad(
        "hours-timezone-is-a-folder",
        edit(WITH_HOURS, "timezone: America/Chicago", "timezone: America"),
        [("timezone: America", None, "hours.timezone", "unknown time zone 'America'")],
    ),
    Bad(
        "extends-missing-file",
        "extends: nowhere.yaml\n" + MINIMAL,
        [(1, None, "extends", "extends 'nowhere.yaml', which does not exist")],
    ),
    Bad(
        "speech-key-without-transition",
        edit(
            MINIMAL,
            "        es: [ayuda]\n",
            '        es: [ayuda]\n      "5":\n        en: [five]\n        es: [cinco]\n',
        ),
        [('"5":', "main_menu", "speech.5", "words for key '5', which does nothing here")],
    ),
    Bad(
        "unknown-placeholder",
        edit(MINIMAL, "en: Here is some help.", "en: Here is some help, {member_name}."),
        [("{member_name}", "help", "prompt.en", "unknown placeholder {member_name}")],
    ),
    Bad(
        "transfer-without-desk",
        edit(MINIMAL, "    desk: representative\n", ""),
        # no `desk:` to point at: the line of the state
        [("name: representative", "representative", "desk", "needs a desk")],
    ),
    Bad(
        "non-utf8-bytes",
        MINIMAL.encode("utf-8").replace("Adiós".encode(), "Adiós".encode("latin-1")),
        [(line_of(MINIMAL, "Adiós"), None, None, "the file is not UTF-8 text")],
    ),
    Bad(
        "yaml-syntax-error",
        SYNTAX_TEXT,
        [("goodbye: soon", None, None, "column 18: mapping values are not allowed")],
    ),
    Bad(
        "yaml-unclosed-quote",
        edit(MINIMAL, "    prompt:\n      en: Here is", '    prompt:\n      en: "Here is'),
        # PyYAML notices at the end of the file; the quote opens on the line of the prompt
        [
            (
                '"Here is',
                None,
                None,
                "column 11: this quoted text runs on to line "
                f"{line_of(MINIMAL, T_NO_INPUT_RETRY.strip())}; "
                "is its closing quote missing?",
            )
        ],
    ),
    Bad(
        "yaml-unclosed-bracket",
        edit(MINIMAL, "languages: [en, es]\n", "languages: [en, es\n"),
        [("languages: [en, es", None, None, "column 12: parsing a flow sequence that starts here")],
    ),
    Bad(
        "yaml-unhashable-key",
        edit(MINIMAL, HELP_STATE, HELP_STATE + "    ? [a, b]\n    : c\n"),
        [(HELP_LINE + 2, None, None, "column 7: a list cannot be a key")],
    ),
    Bad(
        "not-a-mapping",
        "- just\n- a list\n",
        [(1, None, None, "the file must be a mapping of flow fields")],
    ),
    Bad(
        "bad-transition-field-in-block-style",
        edit(
            MINIMAL,
            T_PRESS_1,
            "  - trigger: press_1\n    source: main_menu\n    dest: help\n    after: [1, 2]\n",
        ),
        # the line of the field, and the transition's first line in the field's name
        [
            (
                "after: [1, 2]",
                "main_menu",
                f"transitions (line {line_of(MINIMAL, T_PRESS_1[:-1])}): after",
                "must be a name or a list of names",
            )
        ],
    ),
]


@pytest.mark.parametrize("bad", BAD_FLOWS, ids=[b.id for b in BAD_FLOWS])
def test_a_broken_flow_is_refused_naming_file_state_and_field(tmp_path: Path, bad: Bad) -> None:
    path = tmp_path / "bad.yaml"
    if isinstance(bad.text, bytes):
        path.write_bytes(bad.text)
    else:
        path.write_text(bad.text, encoding="utf-8")
    assert_errors(load_errors(path), path, bad.expected)


def test_the_unhashable_key_error_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(edit(MINIMAL, HELP_STATE, HELP_STATE + "    ? [a, b]\n    : c\n"))
    [error] = load_errors(path)
    assert "unhashable" in error.detail or "cannot be a key" in error.detail


# -- several problems, several errors -----------------------------------------------------------


def test_every_problem_of_a_file_is_reported_together(tmp_path: Path) -> None:
    text = edit(WITH_HOURS, "      es: Aquí tiene ayuda. Adiós.\n", "")
    text = edit(text, "    desk: representative\n", "    desk: representative\n    colour: red\n")
    text = edit(text, "timezone: America/Chicago", "timezone: Mars/Olympus")
    path = tmp_path / "three.yaml"
    path.write_text(text, encoding="utf-8")
    errors = load_errors(path)
    assert len(errors) == 3
    assert_errors(
        errors,
        path,
        [
            (line_of(text, "Here is some help") - 1, "help", "prompt.es", "missing the 'es' text"),
            ("colour: red", "representative", "colour", "unknown field"),
            ("Mars/Olympus", None, "hours.timezone", "unknown time zone"),
        ],
    )


def test_every_graph_problem_of_a_file_is_reported_together(tmp_path: Path) -> None:
    text = edit(
        MINIMAL,
        "\ntransitions:\n",
        "  - name: orphan\n    type: goodbye\n    prompt: {en: Bye., es: Adiós.}\n\ntransitions:\n",
    )
    text = edit(text, T_INVALID_LAST, "")
    text = edit(
        text,
        "        es: [ayuda]\n",
        '        es: [ayuda]\n      "5":\n        en: [five]\n        es: [cinco]\n',
    )
    path = tmp_path / "three.yaml"
    path.write_text(text, encoding="utf-8")
    assert_errors(
        load_errors(path),
        path,
        [
            ("name: orphan", "orphan", "name", "unreachable"),
            ("name: main_menu", "main_menu", "transitions", "the last 'invalid' transition is conditional"),
            ('"5":', "main_menu", "speech.5", "does nothing here"),
        ],
    )


# -- callbacks are names from the allow-list, never import paths --------------------------------

PROBE = "ivr_flow_probe_module"


def test_a_dotted_callback_is_refused_and_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{PROBE}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "def boom(*args, **kwargs):\n    return True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    text = edit(
        MINIMAL,
        T_NO_INPUT_RETRY,
        T_NO_INPUT_RETRY.replace(
            "conditions: can_retry, after: count_failure",
            f"conditions: {PROBE}.boom, after: [count_failure, {PROBE}.boom]",
        ),
    )
    path = tmp_path / "flows" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")

    assert_errors(
        load_errors(path),
        path,
        [
            (f"{PROBE}.boom]", "main_menu", T + "conditions", f"'{PROBE}.boom' is not an allowed"),
            (f"{PROBE}.boom]", "main_menu", T + "after", f"'{PROBE}.boom' is not an allowed"),
        ],
    )
    assert PROBE not in sys.modules
    assert not marker.exists()

    # The probe would have shown an import: importing it by hand leaves the marker.
    try:
        importlib.import_module(PROBE)
        assert marker.exists()
    finally:
        sys.modules.pop(PROBE, None)


# -- extends --------------------------------------------------------------------------------------


def test_an_error_in_the_parent_file_names_the_parent(tmp_path: Path) -> None:
    parent = tmp_path / "parent.yaml"
    parent.write_text(SYNTAX_TEXT, encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("extends: parent.yaml\nname: child\n", encoding="utf-8")
    [error] = load_errors(child)
    assert error.file == str(parent)
    assert error.line == line_of(SYNTAX_TEXT, "goodbye: soon")
    assert str(error).startswith(f"{parent}:{error.line}: column 18: ")


def test_a_child_flow_without_a_name_is_named_after_its_file(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(MINIMAL, encoding="utf-8")
    child = tmp_path / "night.yaml"
    child.write_text("extends: mini.yaml\ntitle: Night line\n", encoding="utf-8")
    flow = load_flow(child)
    assert flow.name == "night"
    assert flow.title == "Night line"


def test_a_child_flow_adds_states_and_its_transitions_go_first(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(MINIMAL, encoding="utf-8")
    child = tmp_path / "night.yaml"
    child.write_text(
        "extends: mini.yaml\nname: night\n"
        "extra_states:\n  - {name: closed, type: closed, prompt: {en: Closed., es: Cerrado.}}\n"
        "extra_transitions:\n  - {trigger: start, source: incoming, dest: closed,"
        " unless: line_open}\n",
        encoding="utf-8",
    )
    flow = load_flow(child)
    assert "closed" in flow.states
    assert [(e.dest, e.unless) for e in flow.edges_from("incoming")] == [
        ("closed", ("line_open",)),
        ("main_menu", ()),
    ]


def test_extra_states_without_extends_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        MINIMAL + "extra_states:\n  - {name: closed, type: closed, prompt: {en: C., es: C.}}\n",
        encoding="utf-8",
    )
    assert_errors(load_errors(path), path, [("extra_states:", None, "extra_states", "only with extends")])


def test_a_flow_that_extends_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("extends: loop.yaml\n" + MINIMAL, encoding="utf-8")
    assert_errors(load_errors(path), path, [(1, None, "extends", "extends itself")])


# -- malformed values are FlowErrors, never a crash ----------------------------------------------

MALFORMED = [
    pytest.param(
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("press_1", "[press_1]")),
        ("main_menu", "transitions (line 79): trigger"),
        id="trigger-is-a-list",
    ),
    pytest.param(
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("main_menu", "[[main_menu]]")),
        (None, "transitions (line 79): source"),
        id="source-is-a-nested-list",
    ),
    pytest.param(
        edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("help", "[help]")),
        ("main_menu", "transitions (line 79): dest"),
        id="dest-is-a-list",
    ),
    pytest.param(
        edit(MINIMAL, T_NO_INPUT_RETRY, T_NO_INPUT_RETRY.replace("after: count_failure", "after: [{x: 1}]")),
        ("main_menu", "transitions (line 81): after"),
        id="callback-is-a-mapping",
    ),
    pytest.param(
        edit(WITH_HOURS, "days: [mon, tue, wed, thu, fri]", "days: {mon: 1}"),
        (None, "hours.days"),
        id="days-is-a-mapping",
    ),
    pytest.param(
        edit(MINIMAL, "    desk: representative\n", "    desk: [representative]\n"),
        ("representative", "desk"),
        id="desk-is-a-list",
    ),
]


@pytest.mark.parametrize(("text", "where"), MALFORMED)
def test_a_malformed_value_is_a_flow_error(tmp_path: Path, text: str, where: tuple[str | None, str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    errors = load_errors(path)
    assert [(e.file, e.state, e.field) for e in errors] == [(str(path), *where)]


@pytest.mark.parametrize("extra", ["5", "{name: x}"], ids=["number", "mapping"])
def test_malformed_extra_states_in_a_child_are_a_flow_error(tmp_path: Path, extra: str) -> None:
    (tmp_path / "mini.yaml").write_text(MINIMAL, encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: mini.yaml\nname: child\nextra_states: {extra}\n")
    assert_errors(load_errors(child), child, [(3, None, "extra_states", "must be a list")])


# keep the helper honest: a mismatch in any of state, field or message fails
@pytest.mark.parametrize(
    "expected",
    [
        [(7, "main_menu", "transitions (line 7): dest", "unknown target")],  # wrong state
        [(7, "help", "transitions (line 7): source", "unknown target")],  # wrong field
        [(7, "help", "transitions (line 7): dest", "unknown source")],  # wrong message
        [(8, "help", "transitions (line 7): dest", "unknown target")],  # wrong line
        [(None, "help", "transitions (line 7): dest", "unknown target")],  # no line
        [],  # an error left over
    ],
)
def test_assert_errors_fails_on_any_mismatch(tmp_path: Path, expected: list[Expect]) -> None:
    path = tmp_path / "bad.yaml"
    error = FlowError(
        str(path), "unknown target state 'x'", state="help", field="transitions (line 7): dest", line=7
    )
    with pytest.raises(AssertionError):
        assert_errors([error], path, expected)


# -- YAML details ---------------------------------------------------------------------------------


def test_a_merge_key_may_be_overridden_but_a_real_duplicate_is_refused(tmp_path: Path) -> None:
    from ivr.engine.yaml_source import load_yaml

    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {k: 1, j: 2}\nover:\n  <<: *b\n  k: 3\n", encoding="utf-8")
    assert load_yaml(path) == {"base": {"k": 1, "j": 2}, "over": {"k": 3, "j": 2}}

    path.write_text("base: &b {k: 1}\nover:\n  <<: *b\n  k: 3\n  k: 4\n", encoding="utf-8")
    with pytest.raises(FlowError, match=r":5: column 3: duplicate key 'k' \(first on line 4") as info:
        load_yaml(path)
    assert info.value.line == 5


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (
            'name: x\ntitle: y\nlanguages: [en]\ninitial: "start\nstates: []\ntransitions: []\n',
            4,
            "column 10: scanning a quoted scalar that starts here: found unexpected end of stream "
            "(line 7, column 1)",
        ),
        (
            "name: x\ntitle: 'y\nlanguages: [en]\ninitial: 'start'\nstates: []\n",
            2,
            "column 8: this quoted text runs on to line 4; is its closing quote missing? "
            "(did not find expected key at line 4, column 11)",
        ),
        (
            "name: x\nlanguages: [en, es\ninitial: start\nstates: []\n",
            2,
            "column 12: parsing a flow sequence that starts here: did not find expected ',' or ']' "
            "(line 3, column 8)",
        ),
        ("name: x\nstates:\n  - name: a\n type: menu\n", 4, "column 2: did not find expected key"),
    ],
    ids=["quote-open-to-the-end", "quote-closed-by-a-later-quote", "bracket-left-open", "bad-indentation"],
)
def test_a_yaml_syntax_error_names_the_line_where_the_problem_starts(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    from ivr.engine.yaml_source import load_yaml

    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FlowError) as info:
        load_yaml(path)
    assert (info.value.line, info.value.detail) == (line, says)
    assert str(info.value) == f"{path}:{line}: {says}"


def test_a_bad_initial_does_not_hide_the_other_problems(tmp_path: Path) -> None:
    text = edit(MINIMAL, "initial: incoming", "initial: nowhere")
    text = edit(text, "      es: Oprima 1 o 0.\n", "")
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert_errors(
        load_errors(path),
        path,
        [
            ("initial: nowhere", None, "initial", "names no state of this flow: 'nowhere'"),
            (DUP_LINE, "main_menu", "reprompt.es", "missing the 'es' text"),
        ],
    )


WITH_ENTRY = edit(
    edit(
        MINIMAL,
        "\ntransitions:\n",
        "  - name: ask_id\n    type: entry\n    gather: {finish_on_key: '#', timeout: 10}\n"
        "    prompt: {en: Enter your ID., es: Marque su número.}\n\ntransitions:\n",
    ),
    T_PRESS_1,
    T_PRESS_1
    + "  - {trigger: press_2, source: main_menu, dest: ask_id}\n"
    + "  - {trigger: entry, source: ask_id, dest: help}\n"
    + "  - {trigger: no_input, source: ask_id, dest: representative}\n",
)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [("10", 10), ("null", 10), ("3", 3), ("true", None), ("0", None), ("'5'", None)],
)
def test_gather_numbers_are_whole_numbers(tmp_path: Path, timeout: str, expected: int | None) -> None:
    path = tmp_path / "entry.yaml"
    path.write_text(edit(WITH_ENTRY, "timeout: 10}", f"timeout: {timeout}}}"), encoding="utf-8")
    if expected is None:
        assert_errors(load_errors(path), path, [("gather:", "ask_id", "gather.timeout", "whole number")])
    else:
        gather = load_flow(path).states["ask_id"].gather
        assert gather is not None and gather.timeout == expected and gather.max_digits == 20


def test_a_problem_in_the_parent_file_names_the_parent_and_its_line(tmp_path: Path) -> None:
    parent = tmp_path / "mini.yaml"
    parent.write_text(edit(MINIMAL, T_PRESS_1, T_PRESS_1.replace("dest: help", "dest: nowhere")))
    child = tmp_path / "night.yaml"
    child.write_text("extends: mini.yaml\nname: night\ncolour: red\n", encoding="utf-8")
    errors = load_errors(child)
    assert_errors(
        [e for e in errors if e.file == str(child)], child, [("colour: red", None, "colour", "unknown field")]
    )
    assert_errors(
        [e for e in errors if e.file == str(parent)],
        parent,
        [("dest: nowhere", "main_menu", T + "dest", "unknown target state")],
    )
    assert len(errors) == 2

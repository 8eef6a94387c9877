"""Lint checks that need no timing: what keys mean, and what the texts say and how."""

from __future__ import annotations

from collections import Counter

from ivr.engine.flow import KEY_TRIGGERS, LANGUAGE, MENU_TYPES, REPEAT, Edge, Flow, key_for_trigger

from .lint_text import bare_numbers, foreign_words, markup_for
from .listening import Hearing, Said

Problem = tuple[str, str | None, str]  # message, state, field

_KEY_NAMES = frozenset(KEY_TRIGGERS.values())
_LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
_KINDS = {
    "menu": "a menu",
    "info": "an information leaf",
    "entry": "an entry",
    "goodbye": "a goodbye",
    "closed": "the closed message",
    "start": "the start",
}


def key_field(flow: Flow, edge: Edge) -> tuple[str | None, str]:
    """Where a key's transition is written: the key map (`keys.9`) or the state's transitions."""
    key = key_for_trigger(edge.trigger)
    meaning = flow.keys.get(key or "")
    stays = meaning in (REPEAT, LANGUAGE) and edge.dest == edge.source
    if meaning is not None and (meaning == edge.dest or stays):
        return None, f"keys.{key}"
    return edge.source, f"transitions.{edge.trigger}"


def meaning(flow: Flow, edge: Edge) -> str:
    """What a key does, as a caller tells it apart: the type of where it leads."""
    dest = flow.states[edge.dest]
    if dest.type == "transfer":
        return "a person"
    key = key_for_trigger(edge.trigger)
    if flow.keys.get(key or "") == edge.dest:
        return f"the {dest.type} '{edge.dest}'"  # the key map's own: the same from everywhere
    if edge.dest == edge.source:
        return "stays"
    return _KINDS.get(dest.type, dest.type)


def check_keys(flow: Flow) -> list[Problem]:
    """No key ends the call; a key of the key map (and 0, 9, *, #) means one thing on a line."""
    problems: list[Problem] = []
    meanings: dict[str, list[tuple[str, Edge]]] = {}
    for state in flow.states:
        last: dict[str, Edge] = {}
        for edge in flow.edges_from(state):
            if edge.trigger not in _KEY_NAMES:
                continue
            last[edge.trigger] = edge
            if flow.states[edge.dest].type == "goodbye":
                key = key_for_trigger(edge.trigger)
                owner, where = key_field(flow, edge)
                problems.append(
                    (
                        f"key {key} ends the call ('{edge.dest}' says goodbye): no key ends "
                        "a call; a caller who is done hangs up",
                        owner,
                        where,
                    )
                )
        for trigger, edge in last.items():
            key = key_for_trigger(trigger)
            if key is not None and (key in flow.keys or key in "0*#9"):
                meanings.setdefault(key, []).append((meaning(flow, edge), edge))
    for key, found in meanings.items():
        counts = Counter(m for m, _ in found)
        if len(counts) < 2:
            continue
        usual = max(counts, key=lambda m: (counts[m], -[x for x, _ in found].index(m)))
        example = next(e for m, e in found if m == usual)
        for what, edge in found:
            if what != usual:
                owner, where = key_field(flow, edge)
                problems.append(
                    (
                        f"key {key} goes to {what} here, but to {usual} at "
                        f"'{example.source}': a key means one thing on a line",
                        owner,
                        where,
                    )
                )
    return problems


def check_texts(flow: Flow, hearing: Hearing) -> list[Problem]:
    """Numbers only in markup, one language per `<Say>`, re-prompts shorter than prompts."""
    return [*_numbers(flow), *_languages(flow, hearing), *_reprompts(flow, hearing)]


def _texts(flow: Flow) -> list[tuple[str | None, str, str]]:
    """Every text of a flow: (state, field, text)."""
    out: list[tuple[str | None, str, str]] = []
    for name, texts in (("greeting", flow.greeting), ("warning", flow.warning)):
        out += [(None, f"{name}.{lang}", text) for lang, text in texts.items()]
    for name, by_lang in flow.messages.items():
        out += [(None, f"messages.{name}.{lang}", text) for lang, text in by_lang.items()]
    for state, spec in flow.states.items():
        for name, texts in (("prompt", spec.prompt), ("confirm", spec.confirm)):
            out += [(state, f"{name}.{lang}", text) for lang, text in texts.items()]
        out += [
            (state, f"reprompt.{lang}", text)
            for lang, text in spec.reprompt.items()
            if text != spec.prompt.get(lang)
        ]
    return out


def _numbers(flow: Flow) -> list[Problem]:
    problems: list[Problem] = []
    for state, where, text in _texts(flow):
        for number in bare_numbers(text):
            problems.append(
                (
                    f"the bare number {number!r} is read as a quantity; write it in typed "
                    f"markup, e.g. {markup_for(number)}",
                    state,
                    where,
                )
            )
    return problems


def _heard(flow: Flow, hearing: Hearing) -> list[Said]:
    """Every `<Say>` a caller can hear on the line (notices and retries aside)."""
    out: list[Said] = []
    for lang in flow.languages:
        for state, spec in flow.states.items():
            if spec.type == "start":
                continue
            for greeting, confirm, reprompt in (
                (True, False, False),
                (False, True, False),
                (False, False, True),
            ):
                out += hearing.document(state, lang, greeting=greeting, confirm=confirm, reprompt=reprompt)
        for name in flow.messages:
            out += hearing.message(lang, name)
    return out


def _languages(flow: Flow, hearing: Hearing) -> list[Problem]:
    problems: list[Problem] = []
    done: set[tuple[str | None, str, str]] = set()
    for said in _heard(flow, hearing):
        if (said.state, said.field, said.lang) in done:
            continue
        done.add((said.state, said.field, said.lang))
        words = foreign_words(said.text, said.lang)
        if words:
            voice = _LANGUAGE_NAMES.get(said.lang, said.lang)
            problems.append(
                (
                    f"the {voice} voice says words of another language ({', '.join(words)}): "
                    "one language per <Say>; the other language's offer is a message "
                    "(language_offer) with its own voice",
                    said.state,
                    said.field,
                )
            )
    return problems


def _reprompts(flow: Flow, hearing: Hearing) -> list[Problem]:
    problems: list[Problem] = []
    for state, spec in flow.states.items():
        if spec.type not in MENU_TYPES and spec.type != "entry":
            continue
        for lang in flow.languages:
            prompt = _said(hearing.document(state, lang), f"prompt.{lang}")
            again = _said(hearing.document(state, lang, reprompt=True), f"reprompt.{lang}")
            if prompt is None or again is None or again.words < prompt.words:
                continue
            if spec.reprompt.get(lang) == spec.prompt.get(lang):
                message = (
                    f"no re-prompt: the whole prompt ({prompt.words} words) is said again "
                    "after a failed try; write a shorter `reprompt`"
                )
            else:
                message = (
                    f"the re-prompt is {again.words} words, the prompt {prompt.words}: a "
                    "caller who missed it needs less, not more"
                )
            problems.append((message, state, f"reprompt.{lang}"))
    return problems


def _said(doc: tuple[Said, ...], field: str) -> Said | None:
    return next((s for s in doc if s.field == field), None)

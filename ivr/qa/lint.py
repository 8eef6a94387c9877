"""`ivr lint`: a flow held to the prompt-writing standards (docs/prompt-writing.md).

The lint renders every document of a line with the engine's own Renderer, hears it as a caller
does, and reports per language what a prompt writer needs: options per menu, words and seconds
before the first choice, menu depth, seconds of listening to each destination. Each breach of a
budget or of the key map is a FlowError naming the file, the state and the field. Example:

    report = lint_flow(load_flow(Path("ivr/flows/main.yaml")), Budgets(max_options=6))
    for violation in report.violations: print(violation)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.engine.errors import FlowError
from ivr.engine.flow import KEY_TRIGGERS, MENU_TYPES, Flow
from ivr.qa.crawl.prompts import mentioned_keys

from .lint_budgets import Budgets, speaking_rate
from .lint_checks import check_keys, check_texts
from .lint_paths import CONFIRM, GREETING, EdgeTime, Paths, Reach, language_key, menu_depths, start_state
from .listening import Document, Hearing, Timer

#: Keys the key map reserves on every line: never counted as a menu's own options.
RESERVED_KEYS = frozenset("0*#9")
#: State types reported as destinations: where a call ends, is handed over, or is informed.
DESTINATION_TYPES = ("transfer", "info", "goodbye", "closed")


@dataclass
class LanguageReport:
    """One language of a line: the first choice, each document, the way to each state."""

    lang: str
    words_before_first_choice: int
    seconds_before_first_choice: float
    #: Seconds heard in the line's first language before the key that switches to this one.
    switch_seconds: float
    documents: dict[str, float]  # seconds of each state's own document (no greeting)
    reach: dict[str, Reach]
    edges: list[EdgeTime]


@dataclass
class LineReport:
    """What `ivr lint` found for one flow file."""

    name: str
    file: str
    measure: str  # espeak | words
    words_per_minute: float
    budgets: Budgets
    start: str
    options: dict[str, tuple[str, ...]]  # per menu, its own (topical) keys
    depth: dict[str, int]  # per menu, its level
    destinations: list[str]
    languages: dict[str, LanguageReport] = field(default_factory=dict)
    violations: list[FlowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "line": self.name,
            "file": self.file,
            "measure": self.measure,
            "words_per_minute": round(self.words_per_minute, 1),
            "budgets": self.budgets.to_dict(),
            "start": self.start,
            "depth": max(self.depth.values(), default=0),
            "menus": {
                s: {"options": len(k), "keys": list(k), "depth": self.depth.get(s)}
                for s, k in self.options.items()
            },
            "languages": {lang: _language_dict(r, self.destinations) for lang, r in self.languages.items()},
            "violations": [
                {"file": v.file, "state": v.state, "field": v.field, "message": v.detail}
                for v in self.violations
            ],
        }


def _language_dict(report: LanguageReport, destinations: list[str]) -> dict[str, Any]:
    return {
        "words_before_first_choice": report.words_before_first_choice,
        "seconds_before_first_choice": round(report.seconds_before_first_choice, 1),
        "switch_seconds": round(report.switch_seconds, 1),
        "documents": {s: round(v, 1) for s, v in report.documents.items()},
        "destinations": [
            {"state": s, "seconds": round(report.reach[s].seconds, 1), "inputs": list(report.reach[s].inputs)}
            for s in destinations
            if s in report.reach
        ],
        "reach": {
            s: {
                "before": round(r.before, 1),
                "seconds": round(r.seconds, 1),
                "inputs": list(r.inputs),
                "arrival": r.arrival,
            }
            for s, r in report.reach.items()
        },
        "edges": [
            {"source": e.source, "key": e.key, "dest": e.dest, "seconds": round(e.seconds, 1)}
            for e in report.edges
        ],
    }


def topical_keys(flow: Flow, state: str) -> tuple[str, ...]:
    """The keys that are a state's own options: not the key map's, nor 0, 9, * or #."""
    return tuple(k for k in flow.keys_at(state) if k not in flow.keys and k not in RESERVED_KEYS)


def lint_flow(flow: Flow, budgets: Budgets | None = None, measure: str = "auto") -> LineReport:
    """Lint one loaded flow; its own `lint:` section overrides `budgets` (raises FlowErrors)."""
    own = (budgets or Budgets()).override(flow.lint, flow.file, "lint")
    return _Linter(flow, own, measure).run()


class _Linter:
    def __init__(self, flow: Flow, budgets: Budgets, measure: str) -> None:
        self.flow = flow
        self.budgets = budgets
        self.hearing = Hearing(flow)
        self.timer = Timer(budgets.words_per_minute * speaking_rate(flow.pace.rate), measure)
        self.start = start_state(flow)
        depths = menu_depths(flow)
        self.report = LineReport(
            flow.name,
            flow.file,
            self.timer.method,
            self.timer.words_per_minute,
            budgets,
            self.start,
            options={s: topical_keys(flow, s) for s, spec in flow.states.items() if spec.type == "menu"},
            depth={s: level for s, (level, _) in depths.items() if flow.states[s].type == "menu"},
            destinations=[s for t in DESTINATION_TYPES for s, spec in flow.states.items() if spec.type == t],
        )
        self._depths = depths
        self._seen: set[str] = set()

    def add(self, message: str, state: str | None, field: str | None) -> None:
        error = FlowError(self.flow.file, message, state=state, field=field)
        if str(error) not in self._seen:
            self._seen.add(str(error))
            self.report.violations.append(error)

    def run(self) -> LineReport:
        self._options_and_depth()
        for lang in self.flow.languages:
            self._language(lang)
        for message, state, where in check_keys(self.flow) + check_texts(self.flow, self.hearing):
            self.add(message, state, where)
        return self.report

    # -- structure ---------------------------------------------------------------------------

    def _options_and_depth(self) -> None:
        b = self.budgets
        for state, keys in self.report.options.items():
            if len(keys) > b.max_options:
                self.add(
                    f"{len(keys)} options ({', '.join(keys)}); at most {b.max_options} per menu "
                    "(0, 9, * and # aside): split the menu or move options down a level",
                    state,
                    "transitions",
                )
        for state, level in self.report.depth.items():
            via = self._depths[state][1]
            if level > b.max_depth and via is not None:
                chain = self._chain(state)
                self.add(
                    f"leads to menu '{state}', {level} levels deep ({' > '.join(chain)}); at "
                    f"most {b.max_depth}: make it an information leaf or move it up",
                    via.source,
                    f"transitions.{via.trigger}",
                )

    def _chain(self, state: str) -> list[str]:
        chain = [state]
        via = self._depths[state][1]
        while via is not None and len(chain) < 50:
            chain.append(via.source)
            via = self._depths[via.source][1]
        return [s for s in reversed(chain) if self.flow.states[s].type == "menu"]

    # -- per language ------------------------------------------------------------------------

    def _language(self, lang: str) -> None:
        flow = self.flow
        first = flow.languages[0]
        switch = 0.0
        key = language_key(flow, self.start)
        if lang != first and key is not None:
            switch = self.timer.listen(self.hearing.document(self.start, first, greeting=True), key)
        paths = Paths(flow, self.hearing, self.timer, lang, switch)
        words, seconds = self._first_choice(lang)
        documents: dict[str, float] = {}
        for state, spec in flow.states.items():
            if spec.type == "start":
                continue
            reach = paths.reach.get(state)
            arrival = reach.arrival if reach else CONFIRM
            doc = self.hearing.document(state, lang, confirm=arrival == CONFIRM)
            own = tuple(s for s in doc if s.lang == lang or spec.type != "closed")
            documents[state] = self.timer.document(own)
            self._budget_seconds(state, lang, documents[state])
            full = self.hearing.document(
                state, lang, greeting=arrival == GREETING, confirm=arrival == CONFIRM
            )
            if spec.type in MENU_TYPES:
                self._keys_said(state, lang, full)
        self.report.languages[lang] = LanguageReport(
            lang, words, seconds, switch, documents, paths.reach, paths.edges
        )

    def _first_choice(self, lang: str) -> tuple[int, float]:
        """Words (not the other language's offer) and seconds before the first topical choice."""
        doc = self.hearing.document(self.start, lang, greeting=True)
        topical = set(topical_keys(self.flow, self.start))
        limit = self.budgets.max_words_before_first_choice
        words = 0
        seconds = 0.0
        crossed: tuple[str | None, str] | None = None
        for said in doc:
            offer = said.field.startswith("messages.language_offer.") and said.lang != lang
            for sentence in said.sentences:
                seconds += self.timer.speech(said.lang, sentence)
                if not offer:
                    words += len(sentence.split())
                    if words > limit and crossed is None:
                        crossed = (self.start, said.field)
                if topical & set(mentioned_keys(sentence)):
                    self._words_budget(words, crossed)
                    return words, seconds
            seconds += said.pause
        self._words_budget(words, crossed)
        return words, seconds

    def _words_budget(self, words: int, crossed: tuple[str | None, str] | None) -> None:
        if crossed is not None:
            limit = self.budgets.max_words_before_first_choice
            self.add(
                f"{words} words before the first choice; at most {limit}: the caller called to "
                f"do something, so shorten what comes before it",
                *crossed,
            )

    def _budget_seconds(self, state: str, lang: str, seconds: float) -> None:
        kind = self.flow.states[state].type
        b = self.budgets
        if kind in ("menu", "entry") and seconds > b.max_menu_seconds:
            self.add(
                f"the {kind} takes {seconds:.1f} s to hear; an instruction stays under "
                f"{b.max_menu_seconds:g} s",
                state,
                f"prompt.{lang}",
            )
        elif kind in ("info", "closed") and seconds > b.max_info_seconds:
            self.add(
                f"the information takes {seconds:.1f} s to hear; a leaf stays under {b.max_info_seconds:g} s",
                state,
                f"prompt.{lang}",
            )

    def _keys_said(self, state: str, lang: str, doc: Document) -> None:
        """Keys a document names must work; the keys that work must be named."""
        flow = self.flow
        works = set(flow.keys_at(state))
        named: set[str] = set()
        for said in doc:
            named.update(mentioned_keys(said.text))
        for said in (*doc, *self.hearing.document(state, lang, reprompt=True)):
            for key, sentence in mentioned_keys(said.text).items():
                if key not in works:
                    self.add(f"says {sentence!r}, but key {key} does nothing here", state, said.field)
        # Keys of the key map are the line's, said once on its first menu; the others, here.
        must = {k for k in works if k not in flow.keys}
        if state == self.start:
            must |= {k for k in works if k in flow.keys and flow.keys[k] != state}
        for key in sorted(must - named, key=list(KEY_TRIGGERS).index):
            where = "on the line's first menu, the key map is said once" if state == self.start else ""
            self.add(
                f"key {key} works here but the prompt never says it{'; ' + where if where else ''}",
                state,
                f"prompt.{lang}",
            )

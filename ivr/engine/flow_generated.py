"""Transitions a flow does not write out: its key map's keys and the retries of a failed try."""

from __future__ import annotations

from typing import Any

from ivr.engine.flow import KEY_TRIGGERS, LANGUAGE, MENU_TYPES, REPEAT, StateSpec
from ivr.engine.flow_checks import Problem


def generated_transitions(
    declared: set[tuple[str, str]],
    states: dict[str, StateSpec],
    keys: dict[str, str],
    ends: dict[str, str | None],
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Transitions the key map and the retry rules add to states that do not declare them.

    `declared` holds the (trigger, source) pairs the file writes itself. Each key of the key
    map means the same at every menu and information leaf; a failed try is retried, and the
    last one goes to `failover` (at an information leaf, silence means the caller is done:
    `finished`).
    """
    problems: list[Problem] = []
    wanted: dict[tuple[str, str, str | None], list[str]] = {}

    def want(trigger: str, state: str, dest: str, after: str | None = None) -> None:
        if (trigger, state) not in declared:
            wanted.setdefault((trigger, dest, after), []).append(state)

    retry: dict[tuple[str, str], list[str]] = {}
    for name, spec in states.items():
        if spec.type in MENU_TYPES:
            for key, meaning in keys.items():
                trigger = KEY_TRIGGERS[key]
                if meaning == REPEAT:
                    want(trigger, name, "=")
                elif meaning == LANGUAGE:
                    want(trigger, name, "=", "toggle_language")
                else:
                    want(trigger, name, meaning)
        if spec.type in MENU_TYPES or spec.type == "entry":
            for trigger in ("no_input", "invalid") if spec.type != "entry" else ("no_input",):
                if (trigger, name) in declared:
                    continue
                last = ends["finished"] if spec.type == "info" and trigger == "no_input" else None
                last = last or ends["failover"]
                if last is None:
                    problems.append(
                        (
                            f"has no '{trigger}' transition; declare one, or give the "
                            "flow a `failover` state for the last failed try",
                            name,
                            "transitions",
                        )
                    )
                    continue
                retry.setdefault((trigger, last), []).append(name)
    out: list[dict[str, Any]] = []
    for (trigger, dest, after), sources in wanted.items():
        item: dict[str, Any] = {"trigger": trigger, "source": sources, "dest": dest}
        if after:
            item["after"] = after
        out.append(item)
    for (trigger, last), sources in retry.items():
        out.append(
            {
                "trigger": trigger,
                "source": sources,
                "dest": "=",
                "conditions": "can_retry",
                "after": "count_failure",
            }
        )
        out.append({"trigger": trigger, "source": sources, "dest": last})
    return out, problems

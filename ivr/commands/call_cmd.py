"""`ivr call`: place one simulated call from the terminal, hearing each answer as a panel."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from ivr import PHONE_KEYS, Signer, shipped_numbers

from ..sim import Outcome, SimulatedCall, SimulationError, Step
from ..sim.twilio_errors import HTTP_CONNECTION_FAILURE
from .target import LINE, Target, open_target, target_options

HELP = "keys (0-9 * #) press them, 'say <words>' speaks, an empty line stays silent, 'q' or 'hangup' hangs up"
_STEP_TITLES = {
    "voice": "call answered",
    "action": "after {input}",
    "redirect": "redirected",
    "wait": "in the queue",
    "fallback": "fallback URL",
}
#: The title of a request nothing answered (no connection): Twilio's error 11205.
UNREACHED = f"not answered: the app could not be reached (Twilio error {HTTP_CONNECTION_FAILURE})"


@dataclass(frozen=True)
class Action:
    """One typed line, understood: press, say, silence, hangup, help, or not understood (bad)."""

    kind: str
    value: str = ""


def parse_input(line: str) -> Action:
    """Read one input line: '12#' presses keys, 'say billing' speaks, '' is silence, 'q' hangs up."""
    text = line.strip()
    lowered = text.lower()
    if not text:
        return Action("silence")
    if lowered in ("q", "quit", "exit", "hangup", "hang up"):
        return Action("hangup")
    if lowered in ("?", "h", "help"):
        return Action("help")
    if lowered == "say" or lowered.startswith("say "):
        words = text[3:].strip()
        return Action("say", words) if words else Action("bad", "say what? e.g. 'say billing'")
    keys = "".join(text.split())
    if all(key in PHONE_KEYS for key in keys):
        return Action("press", keys)
    return Action("bad", f"not understood: {text!r}. Type {HELP}.")


def run_call(call: SimulatedCall, lines: Iterable[str], console: Console) -> Outcome | None:
    """Dial (unless dialled), then show each answer and take one line per turn until the call ends.

    Runs out of lines = the caller hangs up. Prints the outcome and the transcript at the end.
    """
    shown = 0
    if not call.transcript.steps:
        call.dial()
    shown = _show_steps(call, console, shown)
    typed: Iterator[str] = iter(lines)
    while not call.ended:
        line = next(typed, None)
        action = parse_input("q" if line is None else line)
        try:
            if action.kind == "press":
                call.press(action.value)
            elif action.kind == "say":
                call.say(action.value)
            elif action.kind == "silence":
                call.silence()
            elif action.kind == "hangup":
                call.hangup()
            elif action.kind == "help":
                console.print(Text(f"Type {HELP}.", style="dim"))
            else:
                console.print(Text(action.value, style="yellow"))
        except SimulationError as exc:
            console.print(Text(f"cannot do that: {exc}", style="red"))
        shown = _show_steps(call, console, shown)
    _show_end(call, console)
    return call.outcome


def _show_steps(call: SimulatedCall, console: Console, shown: int) -> int:
    """Print a panel for each request made since `shown`, then where the call now is."""
    steps = call.transcript.steps
    for step in steps[shown:]:
        if step.kind != "status":
            console.print(_step_panel(step))
    if not call.ended:
        console.print(_where(call))
    return len(steps)


def _step_panel(step: Step) -> Panel:
    lines: list[Text] = []
    for heard in step.heard:
        if heard.kind == "say":
            lines.append(Text.assemble((f"[{heard.language or '?'}] ", "cyan"), heard.text))
        elif heard.kind == "pause":
            lines.append(Text(f"(pause {heard.text})", style="dim"))
        else:
            lines.append(Text(f"({heard.kind}: {heard.text})", style="dim"))
    if step.error:
        lines.append(Text(f"error: {step.error}", style="bold red"))
    if not lines:
        lines.append(Text("(nothing said)", style="dim"))
    title = _STEP_TITLES.get(step.kind, step.kind).format(input=step.input or "input")
    if _unreached(step):
        title = UNREACHED
    path = urlsplit(step.url).path
    subtitle = f"{step.method} {path} -> {step.status}" + (f" | state {step.state}" if step.state else "")
    return Panel(
        Group(*lines),
        title=title,
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style="red" if step.error else "blue",
    )


def _where(call: SimulatedCall) -> Text:
    gather = call.gather
    waits = "waiting"
    if gather is not None:
        inputs = gather.get("input", "dtmf").split()
        kinds = " or ".join({"dtmf": "keys", "speech": "speech"}.get(i, i) for i in inputs)
        waits = f"waiting for {kinds}"
        if gather.get("finishOnKey"):
            waits += f" (end with {gather.get('finishOnKey')})"
    return Text.assemble(
        ("state ", "dim"),
        (call.state or "?", "bold green"),
        ("  language ", "dim"),
        (call.language or "?", "cyan"),
        (f"  {waits}", "dim"),
    )


def _show_end(call: SimulatedCall, console: Console) -> None:
    outcome = call.outcome
    style = "bold red" if outcome is not None and outcome.kind == "error" else "bold green"
    console.rule(Text(f"outcome: {outcome or 'in progress'}", style=style))
    if outcome is not None and outcome.detail:
        console.print(Text(outcome.detail, style="red"))
    console.rule(Text("transcript", style="dim"), style="dim")
    # Unwrapped: the transcript is for copying into a bug report.
    console.print(Text(call.transcript.render()), soft_wrap=True)


def _typed_lines(console: Console) -> Iterator[str]:
    """Lines typed at the terminal; end of input (Ctrl-D) or Ctrl-C hangs up."""
    while True:
        try:
            yield console.input("[bold]you> [/]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return


def _unreached(step: Step) -> bool:
    """Say whether this request got no answer at all: no connection, so no HTTP status."""
    return step.kind != "status" and step.status == 0 and step.error is not None


def _numbers(target: Target) -> dict[str, str]:
    engine = target.engine()
    if engine is None:
        return shipped_numbers()
    return engine.flows.numbers()


@click.command("call")
@click.option(
    "--line",
    type=LINE,
    default=None,
    help="Which line to call (asked when neither --line nor --to is given).",
)
@click.option("--to", default=None, help="Call this number instead of a line (another app's number).")
@click.option(
    "--now",
    default=None,
    metavar="ISO-8601",
    help="A clock for this call (our app), e.g. 2026-11-23T21:30:00-06:00 for after hours.",
)
@click.option(
    "--auth-token",
    envvar="TWILIO_AUTH_TOKEN",
    default=None,
    help="Sign requests as Twilio does (default: $TWILIO_AUTH_TOKEN).",
)
@click.option(
    "--shared-key",
    envvar="TWILIO_WEBHOOK_SHARED_KEY",
    default=None,
    help="Without an auth token: sign with this webhook shared key, HMAC-SHA256, as Twilio does "
    "under a Webhook Rule (default: $TWILIO_WEBHOOK_SHARED_KEY).",
)
@target_options
def call_cmd(
    line: str | None,
    to: str | None,
    now: str | None,
    auth_token: str | None,
    shared_key: str | None,
    url: str | None,
    app_spec: str,
    database: str | None,
) -> None:
    """Place one simulated call in the terminal: hear each menu, type keys or words.

    At each prompt type digits, * or # to press keys (e.g. 2, or 10203040#), 'say billing' to
    speak, an empty line to stay silent, 'q' to hang up. The outcome and the transcript are
    printed at the end; the exit code is 1 when the call ended in an error. Examples:

    \b
        ivr call --line main
        ivr call --line tty --now 2026-11-23T21:30:00-06:00
        ivr call --line main --url http://127.0.0.1:5000
    """
    console = Console(highlight=False)
    if line is None and to is None:
        line = click.prompt("Line", type=click.Choice(sorted(shipped_numbers())), default="main")
    target = open_target(url, app_spec, database, freeze=True)
    try:
        number = to or _numbers(target)[line or "main"]
        call = SimulatedCall(
            target.transport,
            number,
            base_url=target.base_url,
            signer=Signer.from_config(
                {"TWILIO_AUTH_TOKEN": auth_token, "TWILIO_WEBHOOK_SHARED_KEY": shared_key}
            ),
            simulated_now=now,
            **target.call_options(),
        )
        where = "in-process" if target.in_process else target.base_url
        console.print(Text(f"Calling {line or number} ({number}, {where}). Type {HELP}.", style="dim"))
        outcome = run_call(call, _typed_lines(console), console)
    finally:
        _close(target)
    if any(_unreached(step) for step in call.transcript.steps[:1]):
        raise click.ClickException(
            f"the app at {target.base_url} could not be reached, so the call was never answered "
            f"(Twilio error {HTTP_CONNECTION_FAILURE}, HTTP connection failure): is the server "
            "running at that address? (`make run` serves ours at http://127.0.0.1:5000)"
        )
    if outcome is not None and outcome.kind == "error":
        raise SystemExit(1)


def _close(target: Target) -> None:
    engine: Any = target.engine()
    if engine is not None:
        engine.store.close()

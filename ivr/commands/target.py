"""Where simulated calls go: our app in-process (default) or any TwiML app over HTTP."""

from __future__ import annotations

import gc
import importlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import click

from ivr import FLOWS_DIR, Engine, Flow

from ..qa.clock import open_time
from ..sim import HttpTransport, Transport, WsgiTransport
from ..sim.fields import twilio_name
from ..sim.number import CALL_EVENTS, split_voice_url
from ..stores.memory_store import MEMORY

#: Where the number options (--voice-method, --field, ...) keep their values (ctx.meta).
NUMBER_META = "ivr.number"
FIELDS_META = "ivr.fields"

DEFAULT_APP = "app:create_app"


@dataclass
class Target:
    """A transport plus the URLs a simulated call starts from."""

    transport: Transport
    base_url: str
    in_process: bool
    app: Any = None
    #: The number's voice settings (SimulatedCall keywords: voice_url, voice_method, ...).
    number: dict[str, Any] | None = None
    #: Request fields to add or change (--field FromState=CA), in Twilio's names.
    fields: dict[str, str] | None = None

    def call_options(self) -> dict[str, Any]:
        """SimulatedCall keywords for the number's settings and request fields of this target."""
        options: dict[str, Any] = dict(self.number or {})
        if self.fields:
            options["fields"] = dict(self.fields)
        return options

    def engine(self) -> Engine | None:
        """Our engine when running in-process against our app, else None."""
        found = self.app.extensions.get("ivr") if self.app is not None else None
        return found if isinstance(found, Engine) else None


#: The start of our app's start-up warning about unsigned webhooks (app.py, logger ivr.app).
UNSIGNED_WARNING = "TWILIO_AUTH_TOKEN is not set"


def _not_the_unsigned_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(UNSIGNED_WARNING)


def load_app(spec: str = DEFAULT_APP, config: dict[str, Any] | None = None) -> Any:
    """Import `module:factory` and build the WSGI app (our app factory takes a test config).

    The app's warning that webhooks accept unsigned requests is left out: an app built here
    serves simulated calls in this process and is reachable from nowhere else. Every other
    record of the app's start-up is logged as usual, and a real server still warns.
    """
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr or "create_app")
    logger = logging.getLogger("ivr.app")
    logger.addFilter(_not_the_unsigned_warning)
    try:
        return factory(config) if config is not None else factory()
    finally:
        logger.removeFilter(_not_the_unsigned_warning)


def _check_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a --url that is not http(s)://host..., before any call is placed."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return value
    rest = value.split("://", 1)[-1].lstrip("/")
    raise click.BadParameter(
        f"{value!r} is not an http:// or https:// URL; use e.g. --url http://{rest or '127.0.0.1:5000'}"
    )


def open_target(
    url: str | None,
    app_spec: str = DEFAULT_APP,
    database: str | None = None,
    extra_config: dict[str, Any] | None = None,
    *,
    freeze: bool = False,
) -> Target:
    """Build the target of a command: `--url` over HTTP, else the app in-process.

    In-process runs keep their calls in memory (ivr's MemoryStore: no file, no commit per step,
    gone at exit) unless `database` names an SQLite file, so a test run never mixes with the
    calls of a running server. `ivr test --jobs` gives its processes one shared file instead.
    """
    number, fields = _number_options()
    if url:
        base, voice_path = split_voice_url(url)
        if voice_path is not None:
            # The console's voice URL, requested as it is; no status callback unless set.
            number = {"voice_url": voice_path, "status_callback": None, **number}
        return Target(HttpTransport(), base, in_process=False, number=number, fields=fields)
    if database is None:
        database = MEMORY
    # No trainer page in-process: nothing can reach it, and a real number's app (a Twilio
    # token in the environment) would otherwise need IVR_TRAINER_PASSWORD to start.
    config = {"DATABASE": database, "TRAINER": "0", **(extra_config or {})}
    try:
        app = load_app(app_spec, config)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is the user's to read
        raise click.ClickException(f"cannot start the app {app_spec!r}: {exc}") from exc
    if freeze:
        freeze_start_up()
    return Target(
        WsgiTransport(app), "http://localhost", in_process=True, app=app, number=number, fields=fields
    )


def freeze_start_up(*, again: bool = False) -> None:
    """Keep what start-up built out of every later garbage collection (gc.freeze).

    A command's app, its flows and the imported modules live until the process exits, yet each
    full collection walked them again (some 60,000 objects, about 10 ms) every few hundred
    steps: frozen, a crawl or a test run is a few percent faster, and the forked workers of
    `ivr test --jobs` share those pages instead of copying them when the collector touches
    them. Only the commands freeze (the pytest plugin runs in someone else's process), and only
    once per process unless `again`: a program that runs commands in-process, as a test suite
    does, keeps out of collection only what it had when the first one ran, which is never freed
    if it turns into garbage with cycles later.
    """
    if gc.get_freeze_count() and not again:
        return
    gc.collect()
    gc.freeze()


def _number_options() -> tuple[dict[str, Any], dict[str, str]]:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}, {}
    return dict(ctx.meta.get(NUMBER_META, {})), dict(ctx.meta.get(FIELDS_META, {}))


def _keep(name: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value == ():
            return
        if name == "status_callback_events":
            value = tuple(e for item in value for e in item.replace(",", " ").split())
            bad = [e for e in value if e not in CALL_EVENTS]
            if bad:
                raise click.BadParameter(f"{bad[0]!r} is not a call event; use {', '.join(CALL_EVENTS)}")
        elif name.endswith("_method"):
            value = value.upper()
        ctx.meta.setdefault(NUMBER_META, {})[name] = value

    return callback


def _keep_field(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    for item in value:
        key, sep, field_value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE; write e.g. --field FromState=CA")
        ctx.meta.setdefault(FIELDS_META, {})[twilio_name(key.strip())] = field_value


def fixed_clock(target: Target, line: str | None, number: str) -> str | None:
    """The fixed open time (ivr.qa.clock) for a call to a line with opening hours, else None.

    None as well when our app in-process has a frozen clock of its own (IVR_NOW): that one is
    meant. The line's flow is the app's in-process, else the shipped flow of `line` or `number`.
    """
    engine = target.engine()
    if engine is not None:
        if target.app.config.get("NOW"):
            return None
        flow: Flow | None = engine.flows.get(line or engine.line_for(number)).flow
    else:
        flow = _shipped_flow(line, number)
    return open_time(flow.hours) if flow is not None and flow.hours is not None else None


@lru_cache(maxsize=32)
def _shipped_flow(line: str | None, number: str) -> Flow | None:
    from ivr import IvrError, load_all

    try:
        flows = [fm.flow for fm in load_all(FLOWS_DIR).values()]
    except IvrError:
        return None
    for flow in flows:
        if flow.name == line or (line is None and number in flow.numbers):
            return flow
    return None


def target_options(func: Any) -> Any:
    """The shared --url / --app / --database options of commands that place calls."""
    func = click.option(
        "--database",
        default=None,
        help="SQLite file for in-process runs (default: in memory, for this run only).",
    )(func)
    func = click.option(
        "--app",
        "app_spec",
        default=DEFAULT_APP,
        show_default=True,
        help="WSGI app factory for in-process runs.",
    )(func)
    method = click.Choice(["GET", "POST"], case_sensitive=False)
    number_options: list[tuple[str, dict[str, Any]]] = [
        ("--voice-method", {"type": method, "help": "The number's voice URL method (default POST)."}),
        ("--status-callback", {"help": "The number's status callback URL (relative to the base URL)."}),
        ("--status-callback-method", {"type": method, "help": "Status callback method (default POST)."}),
        (
            "--status-callback-event",
            {
                "multiple": True,
                "help": f"Status callback events to send (repeatable: {', '.join(CALL_EVENTS)}; "
                "default completed).",
            },
        ),
        ("--fallback-url", {"help": "The number's fallback URL, requested when the voice URL fails."}),
        ("--fallback-method", {"type": method, "help": "Fallback URL method (default POST)."}),
    ]
    for flag, extra in reversed(number_options):
        name = flag.lstrip("-").replace("-", "_")
        name = "status_callback_events" if name == "status_callback_event" else name
        func = click.option(flag, name, expose_value=False, callback=_keep(name), **extra)(func)
    func = click.option(
        "--field",
        "fields",
        multiple=True,
        metavar="NAME=VALUE",
        expose_value=False,
        callback=_keep_field,
        help="A request field to add or change on every webhook (repeatable), e.g. --field FromState=CA.",
    )(func)
    func = click.option(
        "--voice-url",
        "voice_url",
        default=None,
        expose_value=False,
        callback=_keep("voice_url"),
        help="The number's voice URL (a path on the base URL); default /voice, or the path of --url.",
    )(func)
    func = click.option(
        "--url",
        default=None,
        callback=_check_url,
        is_eager=True,
        help="Call a running server (any TwiML app) over HTTP instead: a bare host "
        "(http://127.0.0.1:5000) means this app, a URL with a path (http://host/ivr/welcome) "
        "is the number's voice URL as the console sets it.",
    )(func)
    return func


class LineName(click.ParamType):  # type: ignore[type-arg]
    """One of the lines the shipped flow files define, checked when used (not at import)."""

    name = "line"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ivr import IvrError, shipped_numbers

        try:
            lines = shipped_numbers()
        except IvrError as exc:
            self.fail(f"the flow files do not load, so no line can be called:\n{exc}", param, ctx)
        if value not in lines:
            self.fail(f"{value!r} is not a line; choose one of: {', '.join(sorted(lines))}", param, ctx)
        return str(value)


LINE = LineName()

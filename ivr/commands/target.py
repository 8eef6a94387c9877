"""Where simulated calls go: our app in-process (default) or any TwiML app over HTTP."""

from __future__ import annotations

import importlib
import logging
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from ivr import FLOWS_DIR, Engine, Flow

from ..qa.clock import open_time
from ..sim import HttpTransport, Transport, WsgiTransport

DEFAULT_APP = "app:create_app"


@dataclass
class Target:
    """A transport plus the URLs a simulated call starts from."""

    transport: Transport
    base_url: str
    in_process: bool
    app: Any = None

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
) -> Target:
    """Build the target of a command: `--url` over HTTP, else the app in-process.

    In-process runs use a fresh temporary database unless `database` is given, so a test run
    never mixes with the calls of a running server.
    """
    if url:
        return Target(HttpTransport(), url.rstrip("/"), in_process=False)
    if database is None:
        database = str(Path(tempfile.mkdtemp(prefix="ivr-sim-")) / "ivr.sqlite3")
    config = {"DATABASE": database, **(extra_config or {})}
    try:
        app = load_app(app_spec, config)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is the user's to read
        raise click.ClickException(f"cannot start the app {app_spec!r}: {exc}") from exc
    return Target(WsgiTransport(app), "http://localhost", in_process=True, app=app)


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
        "--database", default=None, help="SQLite file for in-process runs (default: a fresh temporary file)."
    )(func)
    func = click.option(
        "--app",
        "app_spec",
        default=DEFAULT_APP,
        show_default=True,
        help="WSGI app factory for in-process runs.",
    )(func)
    func = click.option(
        "--url",
        default=None,
        callback=_check_url,
        help="Call a running server (any TwiML app) over HTTP instead, e.g. http://127.0.0.1:5000.",
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

"""Where simulated calls go: our app in-process (default) or any TwiML app over HTTP."""

from __future__ import annotations

import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..engine import Engine
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


def load_app(spec: str = DEFAULT_APP, config: dict[str, Any] | None = None) -> Any:
    """Import `module:factory` and build the WSGI app (our app factory takes a test config)."""
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr or "create_app")
    return factory(config) if config is not None else factory()


def open_target(
    url: str | None, app_spec: str = DEFAULT_APP, database: str | None = None,
    extra_config: dict[str, Any] | None = None,
) -> Target:  # fmt: skip
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


def target_options(func: Any) -> Any:
    """The shared --url / --app / --database options of commands that place calls."""
    func = click.option("--database", default=None, help="SQLite file for in-process runs "
                        "(default: a fresh temporary file).")(func)  # fmt: skip
    func = click.option("--app", "app_spec", default=DEFAULT_APP, show_default=True,
                        help="WSGI app factory for in-process runs.")(func)  # fmt: skip
    func = click.option("--url", default=None, help="Call a running server (any TwiML app) "
                        "over HTTP instead, e.g. http://127.0.0.1:5000.")(func)  # fmt: skip
    return func


class LineName(click.ParamType):  # type: ignore[type-arg]
    """One of the lines the shipped flow files define, checked when used (not at import)."""

    name = "line"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ..errors import IvrError
        from ..flow_registry import shipped_numbers

        try:
            lines = shipped_numbers()
        except IvrError as exc:
            self.fail(f"the flow files do not load, so no line can be called:\n{exc}", param, ctx)
        if value not in lines:
            self.fail(f"{value!r} is not a line; choose one of: {', '.join(sorted(lines))}", param, ctx)
        return str(value)


LINE = LineName()

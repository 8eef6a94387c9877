"""`ivr purge`: delete what the retention says is old, now, in the store the server uses."""

from __future__ import annotations

import time

import click

from ivr import Engine, IvrError, plural

from .errors import click_error
from .target import DEFAULT_APP, load_app


@click.command("purge")
@click.option("--app", "app_spec", default=DEFAULT_APP, show_default=True, help="module:factory of the app")
def purge_cmd(app_spec: str) -> None:
    """Delete expired sessions, and the records and paths of calls older than IVR_RETENTION_DAYS.

    The server purges by itself when calls start, at most once every few minutes per worker;
    this does it now, on the store the app's settings name (IVR_DATABASE or IVR_REDIS_URL),
    after lowering the retention say. Example, run with the server's environment:

        IVR_DATABASE=/var/lib/ivr/ivr.sqlite3 IVR_RETENTION_DAYS=7 ivr purge --app app:create_app
    """
    app = load_app(app_spec)
    engine: Engine = app.extensions["ivr"]
    try:
        purged = engine.purge(time.time())
    except IvrError as exc:
        raise click_error(exc, f"nothing was purged: {exc}") from exc
    finally:
        engine.store.close()
    click.echo(
        f"purged {plural(purged.sessions, 'expired session')}, "
        f"{plural(purged.records, 'call record')} older than "
        f"{plural(engine.config.retention_days, 'day')}, {plural(purged.page_calls, 'page call')}"
    )

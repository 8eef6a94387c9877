"""The `ivr` command: validate flows and connect a Twilio number (more faces come as commands)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ivr import FLOWS_DIR, FlowErrors, IvrError, load_flow, plural, reachable_states

from .commands.call_cmd import call_cmd
from .commands.crawl_cmd import crawl_cmd
from .commands.errors import IvrGroup, click_error
from .commands.graph_cmd import graph_cmd
from .commands.lint_cmd import lint_cmd
from .commands.purge_cmd import purge_cmd
from .commands.test_cmd import test_cmd


@click.group(cls=IvrGroup)
@click.version_option(package_name="ivr-simulator")
def main() -> None:
    """IVR phone-menu simulator: flows, Twilio numbers and simulated calls.

    Example:

    \b
        ivr validate
        ivr configure-number +15551234567 https://abc123.ngrok.app
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check flow files (default: every file in ivr/flows) with the start-up checks.

    Example: ivr validate ivr/flows/main.yaml
    """
    files: list[Path] = []
    for path in paths or (FLOWS_DIR,):
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    if not files:
        raise click.ClickException("no flow files (*.yaml) found")
    failed = 0
    for file in files:
        try:
            flow = load_flow(file)
        except FlowErrors as exc:
            failed += 1
            for error in exc.errors:
                click.echo(f"error: {error}", err=True)
            continue
        except IvrError as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
            continue
        click.echo(
            f"ok: {file}: line '{flow.name}', {plural(len(flow.states), 'state')}, "
            f"{plural(len(flow.edges), 'transition')}, {len(reachable_states(flow))} reachable, "
            f"languages {', '.join(flow.languages)}"
        )
    if failed:
        verb = "is" if failed == 1 else "are"
        raise click.ClickException(f"{failed} of {plural(len(files), 'flow file')} {verb} invalid")


@main.command("configure-number")
@click.argument("phone_number")
@click.argument("base_url")
def configure_number_cmd(phone_number: str, base_url: str) -> None:
    """Point a Twilio number's voice, status-callback and fallback URLs at BASE_URL.

    Credentials come from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and
    TWILIO_API_SECRET). Example:

        ivr configure-number +15005550006 https://my-tunnel.example.com
    """
    from .twilio_number import ConfigureError, client_from_env, configure_number

    try:
        client = client_from_env(os.environ)
        result = configure_number(client, phone_number, base_url)
    except ConfigureError as exc:
        raise click_error(exc) from exc
    click.echo(f"configured {result.phone_number} ({result.sid})")
    click.echo(f"  voice URL        POST {result.voice_url}")
    click.echo(f"  status callback  POST {result.status_callback}")
    click.echo(f"  fallback URL     POST {result.fallback_url}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


# Subcommands that place calls or draw diagrams live in ivr/commands, one module each.
for _command in (call_cmd, test_cmd, crawl_cmd, graph_cmd, lint_cmd, purge_cmd):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`ivr graph`: draw a line's menu as Mermaid, DOT, SVG or PNG."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from ivr import FLOWS_DIR, Flow, FlowErrors, load_flow

from ..diagram import DETAILS, GraphvizError, render_graphviz, to_dot, to_mermaid, to_svg
from .errors import click_error
from .target import LINE

FORMATS = ("mermaid", "dot", "svg", "png")
_SUFFIXES = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
}


def _format_of(output: Path | None, fmt: str | None) -> str:
    """The format to write: --format, else the -o suffix; a suffix must agree with --format."""
    if output is None:
        return fmt or "mermaid"
    suffix = output.suffix.lower()
    implied = _SUFFIXES.get(suffix)
    if fmt is None and implied is None:
        known = ", ".join(f"{s} ({f})" for s, f in _SUFFIXES.items())
        raise click.BadParameter(
            f"cannot tell the format of {output.name!r} from its suffix; use one of {known}, "
            "or give --format",
            param_hint="-o/--output",
        )
    if fmt is not None and implied is not None and implied != fmt:
        wanted = ", ".join(s for s, f in _SUFFIXES.items() if f == fmt)
        raise click.BadParameter(
            f"{output.name!r} is named as {implied} but --format is {fmt}; name it {wanted}, "
            "or drop --format",
            param_hint="-o/--output",
        )
    return fmt or implied or "mermaid"


def find_flow(line: str, flows_dir: Path = FLOWS_DIR) -> Flow:
    """The flow named `line` among the flow files of `flows_dir`."""
    for path in sorted(flows_dir.glob("*.yaml")):
        try:
            flow = load_flow(path)
        except FlowErrors as exc:
            if path.stem == line:
                raise click_error(exc, f"the {line} flow is not valid:\n{exc}") from exc
            continue
        if flow.name == line:
            return flow
    raise click.ClickException(f"no flow named {line!r} in {flows_dir}")


@click.command("graph")
@click.option("--line", type=LINE, default="main", show_default=True, help="Which line's menu to draw.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format [default: from the -o suffix (.mmd .mermaid .dot .gv .svg .png), "
    "else mermaid]. svg uses Graphviz "
    "when installed, else a built-in layout; png needs Graphviz.",
)
@click.option(
    "--detail",
    type=click.Choice(DETAILS),
    default="menu",
    show_default=True,
    help="menu: choices as arrows, keys every menu shares (0 * # 9) and retries as "
    "badges; full: every transition as an arrow.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def graph_cmd(line: str, fmt: str | None, detail: str, output: Path | None) -> None:
    """Draw a line's menu: states as boxes, the keys that lead from one to another as arrows.

    Examples:

    \b
        ivr graph --line main > main.mmd
        ivr graph --line main --format svg -o main.svg
        ivr graph --line tty --format png --detail full -o tty.png
    """
    fmt = _format_of(output, fmt)
    flow = find_flow(line)
    data: str | bytes
    if fmt == "mermaid":
        data = to_mermaid(flow, detail)
    elif fmt == "dot":
        data = to_dot(flow, detail)
    elif fmt == "svg" and shutil.which("dot") is None:
        click.echo(
            "note: Graphviz is not installed, so the SVG uses the built-in layout "
            "(install graphviz for dot's layout)",
            err=True,
        )
        data = to_svg(flow, detail)
    else:
        if fmt == "png" and output is None and sys.stdout.isatty():
            raise click.UsageError("a PNG is binary: give -o FILE, e.g. -o main.png")
        try:
            data = render_graphviz(to_dot(flow, detail), fmt)
        except GraphvizError as exc:
            raise click_error(exc) from exc
    if output is None:
        click.echo(data, nl=False)  # bytes go to the binary stream
        return
    if isinstance(data, bytes):
        output.write_bytes(data)
    else:
        output.write_text(data, encoding="utf-8")
    click.echo(f"wrote {output} ({fmt}, {line} line, {detail} view)", err=True)

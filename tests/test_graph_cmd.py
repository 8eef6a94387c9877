"""`ivr graph -o FILE`: the format comes from --format or the suffix, and the two must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main

SUFFIXES = ".mmd (mermaid), .mermaid (mermaid), .dot (dot), .gv (dot), .svg (svg), .png (png)"


@pytest.mark.parametrize("name", ["main.jpg", "main.txt", "main"])
def test_an_unknown_suffix_without_format_is_a_usage_error(
    runner: CliRunner, tmp_path: Path, name: str
) -> None:
    result = runner.invoke(main, ["graph", "-o", str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for -o/--output" in result.stderr
    assert f"cannot tell the format of {name!r} from its suffix; use one of {SUFFIXES}, or give --format" in (
        " ".join(result.stderr.split())
    )
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    ("name", "fmt", "named", "wanted"),
    [
        pytest.param("main.svg", "png", "svg", ".png", id="svg-as-png"),
        pytest.param("main.png", "mermaid", "png", ".mmd, .mermaid", id="png-as-mermaid"),
        pytest.param("main.MMD", "dot", "mermaid", ".dot, .gv", id="upper-case-suffix"),
    ],
)
def test_a_suffix_that_contradicts_format_is_an_error(
    runner: CliRunner, tmp_path: Path, name: str, fmt: str, named: str, wanted: str
) -> None:
    result = runner.invoke(main, ["graph", "--format", fmt, "-o", str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    assert f"{name!r} is named as {named} but --format is {fmt}; name it {wanted}, or drop --format" in (
        " ".join(result.stderr.split())
    )
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    ("args", "name", "marker"),
    [
        pytest.param([], "main.mmd", "stateDiagram-v2", id="suffix-mmd"),
        pytest.param([], "main.gv", "digraph", id="suffix-gv"),
        pytest.param(["--format", "dot"], "main.dot", "digraph", id="agreeing"),
        pytest.param(["--format", "mermaid"], "main.txt", "stateDiagram-v2", id="explicit-format-any-name"),
        pytest.param(["--format", "svg"], "diagram", "<svg", id="explicit-format-no-suffix"),
    ],
)
def test_a_known_suffix_or_an_explicit_format_writes_that_format(
    runner: CliRunner, tmp_path: Path, args: list[str], name: str, marker: str
) -> None:
    result = runner.invoke(main, ["graph", *args, "-o", str(tmp_path / name)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert marker in (tmp_path / name).read_text(encoding="utf-8")[:400]

"""RELOAD_FLOWS: an edited flow file reaches the next new call without a restart; a broken
edit keeps the last good flow (and says so in the log); with reloading off nothing changes."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from ivr.engine.config import FLOWS_DIR

from .phone import MAIN, TTY, Phone

OLD = "For refills or delivery status, press 1."
NEW = "For refills, renewals and every delivery question, press 1."  # not the same length
REGISTRY_LOGGER = "ivr.engine.flow_registry"


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    copy = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, copy)
    return copy


@pytest.fixture
def start(make_app: Callable[..., Flask], flows: Path) -> Iterator[Callable[[bool], Flask]]:
    apps: list[Flask] = []

    def build(reload: bool) -> Flask:
        app = make_app(FLOWS_DIR=str(flows), RELOAD_FLOWS=reload)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["ivr"].store.close()


def edit_file(path: Path, old: str, new: str) -> None:
    """Rewrite `path` with `old` replaced, and move its mtime on so even a coarse clock sees it."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    before = path.stat()
    path.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))


def main_menu_heard(app: Flask, to: str = MAIN) -> str:
    phone = Phone(app, to=to).dial()
    assert phone.gather is not None, phone.history[-1]
    return phone.heard


def test_an_edit_reaches_the_next_new_call_without_a_restart(
    start: Callable[[bool], Flask], flows: Path
) -> None:
    app = start(True)
    assert OLD in main_menu_heard(app)

    edit_file(flows / "main.yaml", OLD, NEW)

    heard = main_menu_heard(app)
    assert NEW in heard and OLD not in heard
    # tty.yaml extends main.yaml, so the TTY line's main menu changed too
    assert NEW in main_menu_heard(app, to=TTY)


def test_a_call_in_progress_goes_on_after_an_edit(start: Callable[[bool], Flask], flows: Path) -> None:
    app = start(True)
    phone = Phone(app, to=MAIN).dial()
    edit_file(flows / "main.yaml", OLD, NEW)
    phone.press("2")  # billing, on the reloaded flow
    assert "billing discrepancy" in phone.heard
    phone.press("*")
    assert "billing discrepancy" in phone.heard
    phone.press("#")  # back to the main menu: the new text
    assert NEW in phone.heard


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param("initial: incoming", "initial: [incoming", "line ", id="yaml-syntax-error"),
        pytest.param(
            "{trigger: press_2, source: billing_menu, dest: billing_cost}",
            "{trigger: press_2, source: billing_menu, dest: billing_costs}",
            "unknown target state 'billing_costs'",
            id="unknown-target",
        ),
    ],
)
def test_a_broken_edit_keeps_the_last_good_flow_and_logs_an_error(
    start: Callable[[bool], Flask],
    flows: Path,
    caplog: pytest.LogCaptureFixture,
    old: str,
    new: str,
    problem: str,
) -> None:
    caplog.set_level(logging.INFO, logger=REGISTRY_LOGGER)
    app = start(True)
    main_yaml = flows / "main.yaml"
    edit_file(main_yaml, OLD, NEW)
    assert NEW in main_menu_heard(app)  # the last good flow now has the new text
    caplog.clear()

    edit_file(main_yaml, old, new)
    assert NEW in main_menu_heard(app)
    assert NEW in main_menu_heard(app)

    errors = [r for r in caplog.records if r.name == REGISTRY_LOGGER and r.levelno == logging.ERROR]
    assert len(errors) == 1, "one error for one broken edit, not one per call"
    message = errors[0].getMessage()
    assert "keeping the last good flows" in message
    assert str(main_yaml) in message and problem in message

    # mending the file is picked up again
    edit_file(main_yaml, new, old)
    edit_file(main_yaml, NEW, OLD)
    assert OLD in main_menu_heard(app)
    assert any(
        r.name == REGISTRY_LOGGER and r.levelno == logging.INFO and "reloaded" in r.getMessage()
        for r in caplog.records
    )


def test_without_reload_flows_an_edit_is_not_picked_up(start: Callable[[bool], Flask], flows: Path) -> None:
    app = start(False)
    assert OLD in main_menu_heard(app)
    edit_file(flows / "main.yaml", OLD, NEW)
    heard = main_menu_heard(app)
    assert OLD in heard and NEW not in heard


def test_the_edit_is_read_by_a_new_app_even_without_reload(
    start: Callable[[bool], Flask], flows: Path
) -> None:
    """Control for the test above: the edited copy is what a restarted app serves."""
    edit_file(flows / "main.yaml", OLD, NEW)
    assert NEW in main_menu_heard(start(False))


def test_two_flows_with_one_name_are_refused(tmp_path: Path) -> None:
    import shutil

    from ivr.engine.config import FLOWS_DIR
    from ivr.engine.errors import FlowErrors
    from ivr.engine.flow_registry import load_all

    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    (flows / "zz_copy.yaml").write_text("extends: main.yaml\nname: main\n", encoding="utf-8")
    with pytest.raises(FlowErrors) as caught:
        load_all(flows)
    [error] = caught.value.errors
    assert error.file.endswith("zz_copy.yaml") and error.field == "name"
    assert "already defined in" in str(error) and "main.yaml" in str(error)

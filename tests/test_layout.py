"""The layers hold: the engine imports no face and no Flask, faces use only ivr's public API."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import ivr

ROOT = Path(__file__).resolve().parent.parent
FACES = [
    ROOT / "app.py",
    ROOT / "ivr" / "cli.py",
    ROOT / "ivr" / "pytest_plugin.py",
    ROOT / "ivr" / "twilio_number.py",
    *sorted((ROOT / "webhooks").glob("*.py")),
    *sorted((ROOT / "web").glob("*.py")),
    *sorted((ROOT / "ivr" / "commands").glob("*.py")),
    *sorted((ROOT / "load").glob("*.py")),
]
#: What each layer may import of ivr (a layer imports only those below it).
BELOW = {
    "engine": {"ivr.engine"},
    "stores": {"ivr.engine", "ivr.stores"},
    "sim": {"ivr.engine", "ivr.sim"},
    "diagram": {"ivr.engine", "ivr.diagram"},
    "qa": {"ivr.engine", "ivr.stores", "ivr.sim", "ivr.diagram", "ivr.qa"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "." * node.level + (node.module or "")))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize("face", FACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_faces_use_only_the_public_api(face: Path) -> None:
    for line, module in _imports(face):
        assert not module.startswith("ivr."), f"{face.name}:{line} imports {module}; use `from ivr import …`"


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_each_layer_imports_only_the_layers_below(layer: str) -> None:
    for path in sorted((ROOT / "ivr" / layer).rglob("*.py")):
        for line, module in _imports(path):
            if module.startswith("ivr."):
                assert any(module == ok or module.startswith(ok + ".") for ok in BELOW[layer]), (
                    f"{path.relative_to(ROOT)}:{line} imports {module}"
                )
            if layer in ("engine", "stores"):  # the request path knows no HTTP framework
                assert module.split(".")[0] not in ("flask", "werkzeug"), f"{path.name}:{line}: {module}"


def test_every_public_name_resolves() -> None:
    for name in ivr.__all__:
        assert getattr(ivr, name) is not None, name
    with pytest.raises(AttributeError):
        ivr.not_a_name  # noqa: B018


def test_importing_ivr_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ivr; print(sorted(m for m in sys.modules if m.startswith(('ivr.', 'flask', 'twilio'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
    assert importlib.import_module("ivr").__doc__

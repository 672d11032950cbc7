"""The code base stays lint-clean (ruff, configured in pyproject.toml) and layered: the engine side
imports nothing from Textual."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    try:
        r = subprocess.run([*cmd, "check", "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:  # pragma: no cover - ruff is in the test extra
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    assert r.returncode == 0, r.stdout + r.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_engine_side_never_imports_textual() -> None:
    pkg = REPO / "tui_trader"
    offenders = [
        str(p.relative_to(REPO))
        for p in pkg.rglob("*.py")
        if "ui" not in p.relative_to(pkg).parts[:1] and {"textual", "textual_plotext"} & _imports(p)
    ]
    assert offenders == []
    # and the check itself would notice one
    assert "textual" in _imports(pkg / "ui" / "app.py")

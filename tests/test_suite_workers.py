"""The suite's ``-n auto``: one pytest-xdist worker more than the cores (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import conftest
import pytest


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - no affinity call here
        return os.cpu_count() or 1


def test_auto_is_one_worker_more_than_the_cores(monkeypatch: pytest.MonkeyPatch, pytestconfig) -> None:
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) == _cores() + 1


def test_the_xdist_variable_still_decides(monkeypatch: pytest.MonkeyPatch, pytestconfig) -> None:
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "1")
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) is None  # xdist's own rule then reads it


def test_a_session_started_with_auto_has_that_many_workers(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook is found where pytest-xdist looks for it (a conftest of the test paths)."""
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    shutil.copy(conftest.__file__, tmp_path / "conftest.py")
    (tmp_path / "test_one.py").write_text("def test_x():\n    pass\n")
    res = subprocess.run([sys.executable, "-m", "pytest", "-n", "auto", "-p", "no:cacheprovider"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"created: {_cores() + 1}/{_cores() + 1} workers" in res.stdout, res.stdout

"""A configuration is read up to 1 MiB: ``--config /dev/zero`` (or a kline dump given by mistake)
was read whole into memory and ended in a MemoryError traceback, or took all the machine's memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import CONFIG_MAX_BYTES


def test_the_limit_is_one_mebibyte() -> None:
    assert CONFIG_MAX_BYTES == 1 << 20


def test_a_file_over_the_limit_is_one_line(tmp_path: Path, capsys) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# padding\n" * (CONFIG_MAX_BYTES // 10 + 1))
    assert main(["config", "check", str(big)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: config file {big} is too large for a configuration (over 1 MiB): is it the right file?"
    ]


def test_a_file_at_the_limit_is_read(tmp_path: Path, capsys) -> None:
    ok = tmp_path / "ok.toml"
    ok.write_bytes(b"#" * (CONFIG_MAX_BYTES - 1) + b"\n")
    assert main(["config", "check", str(ok)]) == 0, capsys.readouterr()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_dev_zero_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    env = {**os.environ, "TUI_TRADER_LOG_FILE": "off", "XDG_CONFIG_HOME": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "tui_trader", "run", "--config", "/dev/zero"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2 and r.stderr.splitlines() == [
        "error: config file /dev/zero is too large for a configuration (over 1 MiB): is it the right file?"
    ], r.stderr

"""``config show`` with stdout closed (``>&-``) ended in an AttributeError traceback; ``--live
--data DIR`` without ``--interval`` was told about DIR's interval before being told that live
trading takes no replay at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_config_show_with_stdout_closed_says_so_without_a_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[signal_generation]\nz_score_threshold = 2.0\n")
    r = subprocess.run(
        [sys.executable, "-m", "tui_trader", "config", "show", str(cfg)],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(1),  # stdout closed, as `>&-` does it
    )
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: config show: stdout is closed: nothing to print the configuration to"
    ]
    assert r.returncode == 1


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "k" * 16)
    monkeypatch.setenv("BINANCE_API_SECRET", "s" * 16)


@pytest.mark.parametrize(
    "data",
    [
        "good",  # a replay folder whose only interval is 1h (the default feed.interval is 1m)
        "missing",  # no such folder
    ],
)
def test_live_with_data_is_refused_as_live_before_the_data_is_checked(
    tmp_path: Path, keys: None, capsys, data: str
) -> None:
    folder = tmp_path / "klines"
    if data == "good":
        (folder / "BTCUSDT" / "1h").mkdir(parents=True)
        (folder / "BTCUSDT" / "1h" / "2024-01-01.json").write_text("[]")
    rc = main(["--live", "--data", str(folder), "--db", str(tmp_path / "live.db")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith(
        'error: --live: live trading needs the Binance market feed, not "replay"'
    ), err

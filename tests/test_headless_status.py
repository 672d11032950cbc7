"""A long quiet ``run --headless`` logged nothing after its start-up: an operator tailing the log
could not tell a live run from a hung one. It now logs a status line every ``--status-every`` of
wall time (default 15 min, 0: none), read from the engine's snapshot only, changing no trade."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from engine_helpers import TRADING_SIM
from rich.console import Console

from tui_trader.cli import main
from tui_trader.config import Config
from tui_trader.headless import STATUS_EVERY_S, parse_status_every, run_headless, status_line
from tui_trader.runtime import build_engine

LINE = re.compile(
    r"status: (?P<state>[a-z_]+) · (?P<periods>[\d,]+) periods? · equity (?P<equity>[\d,]+\.\d\d) USDT "
    r"\((?P<ret>[+-]\d+\.\d\d) %\) · (?P<positions>\d+) positions? · feed (?P<feed>.+)$"
)


def _status_lines(text: str) -> list[re.Match[str]]:
    found = [LINE.search(line) for line in text.splitlines() if "status: " in line]
    assert all(found), text  # every status line has the documented form
    return [m for m in found if m is not None]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_interval_is_a_duration_or_zero_for_none() -> None:
    assert STATUS_EVERY_S == 15 * 60
    assert parse_status_every("30s") == 30.0
    assert parse_status_every("15m") == 900.0
    assert parse_status_every("1h") == 3600.0
    assert parse_status_every("0") == parse_status_every("0s") == parse_status_every("off") == 0.0
    assert parse_status_every("0.0") == parse_status_every("0m") == parse_status_every("0ms") == 0.0
    for bad in ("5x", "-1s", "nan", "", "m", ".", "-0"):
        with pytest.raises(ValueError):
            parse_status_every(bad)


async def test_the_status_line_says_what_the_summary_says(tmp_path: Path) -> None:
    cfg = Config.model_validate({**TRADING_SIM, "storage": {"path": str(tmp_path / "book.db")}})
    engine = build_engine(cfg, session_kind="run", autostart=True, max_klines=300)
    await engine.run()
    try:
        summary = engine.summary()
        m = LINE.search(status_line(engine.snapshot()))
    finally:
        await engine.stop()
    assert m is not None
    assert summary["fills"] > 0 and summary["return_pct"] != 0  # a run that traded: the figures are not all 0
    assert int(m["periods"].replace(",", "")) == summary["periods"]
    assert m["equity"] == f"{summary['final_equity']:,.2f}"
    assert m["ret"] == f"{summary['return_pct']:+.2f}"
    assert int(m["positions"]) == summary["open_positions"]


def _run(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--headless",
        "--feed",
        "sim",
        "--speed",
        "max",
        "--n-symbols",
        "5",
        "--duration",
        "1.5s",
        "--db",
        str(tmp_path / "run.db"),
        *extra,
    ]


def test_a_run_logs_status_lines_at_its_interval_and_none_when_off(quiet: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("tui_trader.cli.STATUS_EVERY_MIN_S", 0.1)  # two lines inside this short run
    # 4 s: a start-up of over a second under load left too little of a 1.5 s run for two lines
    assert main(_run(quiet, "--status-every", "0.2s", "--json", "--duration", "4s")) == 0
    captured = capsys.readouterr()
    lines = _status_lines(captured.err)
    assert len(lines) >= 2, captured.err
    assert all(" INFO " in line for line in captured.err.splitlines() if "status: " in line)
    import json

    summary = json.loads(captured.out.strip().splitlines()[-1])
    periods = [int(m["periods"].replace(",", "")) for m in lines]
    assert periods == sorted(periods) and periods[-1] <= summary["periods"]
    start = summary["starting_balance"]
    for m in lines:  # each line's return is its own equity's against the book's starting balance
        assert _number(m["ret"]) == pytest.approx((_number(m["equity"]) / start - 1) * 100, abs=0.006)
        assert m["state"] == "running" and m["feed"] == "ok"
    assert main(_run(quiet, "--status-every", "0", "--json")) == 0
    assert "status: " not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["5x", "=-1s", "=nan"])
def test_a_bad_interval_exits_2_naming_the_option(value: str, quiet: Path, capsys) -> None:
    flag = ["--status-every" + value] if value.startswith("=") else ["--status-every", value]
    assert main(_run(quiet, *flag)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --status-every: "), err
    assert not (quiet / "run.db").exists()  # refused before anything ran


def test_the_option_is_in_the_help(capsys) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--status-every T" in text and "0 for none (default: 15m)" in text


async def test_status_lines_change_no_trade(klines_dir: Path, tmp_path: Path, caplog) -> None:
    def cfg(name: str) -> Config:
        return Config.model_validate(
            {
                "feed": {
                    "kind": "replay",
                    "interval": "1h",
                    "speed": "max",
                    "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
                    "replay": {"path": str(klines_dir), "start": "2024-03-01", "end": "2024-06-01"},
                },
                "storage": {"path": str(tmp_path / name)},
            }
        )

    quiet_console = Console(stderr=True, quiet=True)
    plain = await run_headless(cfg("plain.db"), None, quiet_console, status_every_s=0)
    with caplog.at_level(logging.INFO, logger="tui_trader.headless"):
        watched = await run_headless(cfg("watched.db"), None, quiet_console, status_every_s=0.001)
    assert _status_lines(caplog.text)  # the lines were taken during the run
    for key in (
        "periods",
        "signals",
        "orders",
        "fills",
        "final_equity",
        "cash",
        "fees_paid",
        "open_positions",
    ):
        assert watched[key] == plain[key], key


async def test_the_status_line_names_what_is_not_healthy() -> None:
    from engine_helpers import make_engine

    from tui_trader.events import HealthCheck

    async with make_engine() as h:
        snap = h.engine.snapshot()
        assert status_line(snap).endswith(" · 0 positions · feed ok")
        snap.health.feed = {**snap.health.feed, "prices_dropped": 1200, "late_dropped": 0}
        snap.health.checks.append(HealthCheck("database", "warning", "writer failing: disk full", True))
        snap.health.checks.append(HealthCheck("broker", "unhealthy", "paper · order circuit open", True))
        assert status_line(snap).endswith(
            " · feed ok (1,200 price update(s) dropped) · database warning, broker unhealthy"
        )
        feed = next(c for c in snap.health.checks if c.name == "feed")
        feed.status, feed.message = "warning", "stale: scripted"
        assert " · feed warning: stale: scripted · database warning" in status_line(snap)

"""A bad ``--start`` / ``--end`` told only "expected YYYY-MM-DD": ``backtest``'s wrapper and
``data download``'s ``parse_date_ms`` dropped the clock's specific reason (ten digits are epoch
seconds), ``data download`` took an epoch-ms time past the year 9999 (then failed on it), and its
"bad start date" / "end must be after start" named no flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


def _backtest(tmp: Path, *flags: str) -> list[str]:
    (tmp / "k").mkdir(exist_ok=True)
    return [
        "backtest",
        "--data",
        str(tmp / "k"),
        "--interval",
        "1h",
        "--no-charts",
        "--db",
        str(tmp / "b.db"),
        *flags,
    ]


def _download(tmp: Path, *flags: str) -> list[str]:
    return ["data", "download", "--symbols", "BTCUSDT", "--interval", "1h", "--out", str(tmp / "out"), *flags]


@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_backtest_passes_on_the_epoch_seconds_reason(quiet: Path, capsys, flag: str) -> None:
    assert main(_backtest(quiet, flag, "1704067200")) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {flag}: ")
    assert "ten digits are epoch seconds" in err[0] and "1704067200000" in err[0]


@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_download_passes_on_the_epoch_seconds_reason(quiet: Path, capsys, flag: str) -> None:
    other = ["--start", "2024-01-01"] if flag == "--end" else []
    assert main(_download(quiet, *other, flag, "1704067200")) == 2
    err = capsys.readouterr().err
    assert f"{flag}: " in err and "ten digits are epoch seconds" in err


@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_download_refuses_a_time_past_the_year_9999(quiet: Path, capsys, flag: str) -> None:
    other = ["--start", "2024-01-01"] if flag == "--end" else []
    assert main(_download(quiet, *other, flag, "99999999999999999999")) == 2
    err = capsys.readouterr().err
    assert f"{flag}: '99999999999999999999' is out of range" in err and "9999-12-31" in err
    assert not (quiet / "out").exists()


def test_download_bad_date_names_the_flag(quiet: Path, capsys) -> None:
    assert main(_download(quiet, "--start", "2025-13-01")) == 2
    assert "error: --start: bad time '2025-13-01'" in capsys.readouterr().err


def test_download_end_before_start_names_both_flags(quiet: Path, capsys) -> None:
    assert main(_download(quiet, "--start", "2025-02-02", "--end", "2025-01-01")) == 2
    assert "error: --end must be after --start" in capsys.readouterr().err

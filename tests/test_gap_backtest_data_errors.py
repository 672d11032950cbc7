"""A backtest's (and a sweep's) refusal of its data named no setting: ``no 1m klines in DIR`` for
the default interval (``run --feed replay`` says ``feed.interval: … choose one with --interval``),
``no kline files found in DIR`` without the flag or the files looked for, and for symbols the data
lacks a stray ``replay: no 1h data for FOOUSDT`` line before an error naming neither ``--symbols``
nor the symbols there are. Now they are checked before the run, said as ``run`` says them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


def _data(tmp_path: Path) -> Path:
    d = tmp_path / "klines"
    for sym in ("AAAUSDT", "BBBUSDT"):
        (d / sym / "1h").mkdir(parents=True)
        (d / sym / "1h" / "2024-01.json").write_text("[]")
    return d


@pytest.mark.parametrize("sweep", [[], ["sweep", "--param", "signal_generation.z_score_threshold=1,2"]],
                         ids=["backtest", "sweep"])
def test_the_default_interval_missing_names_the_setting(tmp_path: Path, quiet: Path, capsys, sweep) -> None:
    data = _data(tmp_path)
    assert main(["backtest", *sweep, "--data", str(data), "--db", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: feed.interval: no 1m klines in {data} (intervals found: 1h; choose one with --interval)\n"


def test_a_given_interval_missing_names_the_flag(tmp_path: Path, quiet: Path, capsys) -> None:
    data = _data(tmp_path)
    assert main(["backtest", "--data", str(data), "--interval", "4h", "--db", str(tmp_path / "b.db")]) == 2
    assert capsys.readouterr().err == f"error: --interval: no 4h klines in {data} (intervals found: 1h)\n"


def test_no_kline_files_names_the_flag_and_the_files_looked_for(tmp_path: Path, quiet: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["backtest", "--data", str(tmp_path / "empty"), "--db", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --data: no kline files found in {tmp_path / 'empty'} (SYMBOL/INTERVAL/"), err
    assert err.count("\n") == 1


def test_symbols_the_data_lacks_name_the_flag_and_the_symbols_found(tmp_path: Path, quiet: Path, capsys) -> None:
    data = _data(tmp_path)
    args = ["backtest", "--data", str(data), "--interval", "1h", "--symbols", "FOOUSDT", "--db", str(tmp_path / "b.db")]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: --symbols: none of FOOUSDT has 1h klines in {data} (symbols found: AAAUSDT, BBBUSDT)\n"
    )

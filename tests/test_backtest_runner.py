"""Backtests on real Binance klines through the paper-trading engine: warm-up before the
start, figures consistent with the fills, baselines from the closes, determinism, storage."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.metrics import METRIC_KEYS
from tui_trader.backtest.report import report_json
from tui_trader.backtest.runner import backtest_config, run_backtest, sweep_runner, warmup_klines_needed
from tui_trader.backtest.sweep import run_sweep
from tui_trader.config import Config
from tui_trader.market.replay import ReplayError, load_klines, parse_time
from tui_trader.models import Side

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
START = parse_time("2024-03-01")
END = parse_time("2024-03-15")
H = 3_600_000

pytestmark = pytest.mark.shared_data


def cfg_for_tests() -> Config:
    # a low entry threshold so the engine trades within two weeks of hourly data
    return Config.model_validate(
        {"signal_generation": {"z_score_threshold": 1.0, "moving_average_period": 50,
                               "confidence_threshold": 0.0}}
    )  # fmt: skip


@pytest.fixture(scope="module")
def result(klines_dir: Path) -> BacktestResult:
    seen: list[tuple[int, int]] = []
    res = asyncio.run(run_backtest(
        cfg_for_tests(), klines_dir, "1h", SYMS, START, END, store=False,
        progress=lambda d, t: seen.append((d, t)), run_id="bt-test",
    ))  # fmt: skip
    res.config["_progress"] = seen  # carried to the tests below
    return res


async def test_span_warmup_and_progress(result):
    assert result.symbols == SYMS
    assert result.start_ms == START and result.end_ms == END
    assert result.equity_ts[0] == START and result.equity[0] == 10_000.0
    assert result.equity_ts[-1] == END
    assert np.all(np.diff(result.equity_ts) == H)  # one sample per hourly rating period
    assert result.n_klines == 14 * 24 * len(SYMS)  # warm-up klines are not counted
    progress = result.config.pop("_progress")
    assert progress[-1] == (14 * 24, 14 * 24)
    assert result.config["feed"]["kind"] == "replay" and result.config["broker"]["kind"] == "paper"


async def test_the_engine_traded_and_figures_match_the_fills(result):
    m = result.metrics
    assert tuple(m) == METRIC_KEYS
    buys = [f for f in result.fills if f.side == Side.BUY]
    assert buys, "the test config should make the engine trade"
    assert all(START <= f.ts_ms <= END for f in result.fills)
    assert m["fees_paid"] == pytest.approx(float(sum(f.fee for f in result.fills)))
    assert m["n_trades"] + m["open_trades"] == len(result.trades)
    # cash from the fills + open positions at the last close == the engine's last equity
    cash = Decimal(10_000)
    held: dict[str, Decimal] = {}
    for f in result.fills:
        sign = 1 if f.side == Side.BUY else -1
        cash -= sign * f.price * f.quantity + f.fee
        held[f.symbol] = held.get(f.symbol, Decimal(0)) + sign * f.quantity
    data = load_klines(result_path(result), "1h", SYMS, END - H, END)
    last = {SYMS[s]: c for s, c in zip(data.klines.sym.tolist(), data.klines.close.tolist(), strict=True)}
    marked = float(cash) + sum(float(q) * last[s] for s, q in held.items())
    assert result.equity[-1] == pytest.approx(marked, rel=1e-9)
    assert m["end_equity"] == result.equity[-1]
    # every closed trade's pnl adds up to the realised part of the result
    open_pnl = sum(float(t.pnl) for t in result.trades if not t.closed)
    assert m["trades_pnl"] + open_pnl == pytest.approx(m["pnl"], abs=1e-6)
    assert result.position_counts is not None and result.position_counts.shape == result.equity.shape
    assert 0 < m["exposure"] <= 1


def result_path(result: BacktestResult) -> str:
    return result.config["feed"]["replay"]["path"]


async def test_buy_and_hold_from_the_closes(result):
    data = load_klines(result_path(result), "1h", SYMS, START, END)
    kl = data.klines
    first = {SYMS[s]: None for s in range(len(SYMS))}
    last = {}
    for s, c in zip(kl.sym.tolist(), kl.close.tolist(), strict=True):
        if first[SYMS[s]] is None:
            first[SYMS[s]] = c
        last[SYMS[s]] = c
    fee = 0.001
    notional = 2_500 / (1 + fee)  # each slice pays the paper broker's fee, fee x notional
    expected = sum(notional * last[s] / first[s] for s in SYMS)
    bh = result.baselines["buy_and_hold"]
    assert bh["end_equity"] == pytest.approx(expected, rel=1e-12)
    assert bh["start_equity"] == 10_000.0 and bh["fees_paid"] == pytest.approx(4 * notional * fee)
    bts, beq = result.baseline_curves["buy_and_hold"]
    assert bts[0] == START and bts[-1] == END and len(bts) == len(result.equity_ts)
    assert result.baselines["cash"]["total_return"] == 0.0


async def test_report_json_of_a_real_run(result):
    j = json.loads(json.dumps(report_json(result), allow_nan=False))
    assert j["run_id"] == "bt-test" and j["final_state"] in (
        "running",
        "reducing",
        "paused",
        "emergency_stopped",
    )
    assert j["metrics"]["n_trades"] == result.metrics["n_trades"]


async def test_deterministic_and_stored(klines_dir, tmp_path, result):
    db = tmp_path / "bt.db"
    again = await run_backtest(
        cfg_for_tests(), klines_dir, "1h", SYMS, START, END, db_path=db, run_id="bt-again"
    )
    np.testing.assert_array_equal(again.equity, result.equity)
    assert again.fills == result.fills
    from tui_trader.storage import Database

    d = await Database.open(db)
    try:
        stored = await d.load_backtest_run("bt-again")
    finally:
        await d.close()
    assert stored is not None
    assert len(stored["trades"]) == len(result.fills)
    np.testing.assert_array_equal(np.asarray(stored["equity"]), result.equity)
    # the report screen's trades show why each order was placed and what each sell realised
    assert all(t.reason for t in stored["trades"]), [t.reason for t in stored["trades"]][:5]
    sells = [t for t in stored["trades"] if t.side.value == "SELL"]
    booked = sum((t.realized_pnl for t in stored["trades"]), Decimal(0))
    assert sells and all(t.realized_pnl == 0 for t in stored["trades"] if t.side.value == "BUY")
    assert float(booked) == pytest.approx(result.metrics["trades_pnl"], abs=1e-6)


async def test_warmup_comes_from_before_the_start(klines_dir):
    cfg = cfg_for_tests()
    need = warmup_klines_needed(backtest_config(cfg, klines_dir, "1h"), H)
    assert need == 51  # (moving_average_period 50 + 1) hourly periods
    # data starts 2024-01-01: a start at 01-02 00:00 has only 24 hours of warm-up, still runs
    res = await run_backtest(
        cfg, klines_dir, "1h", ["BTCUSDT"], parse_time("2024-01-02"), parse_time("2024-01-03"), store=False
    )
    assert res.start_ms == parse_time("2024-01-02") and res.n_klines == 24


async def test_bad_arguments(klines_dir):
    with pytest.raises(ValueError, match=r"end 2024-\d\d-\d\d \d\d:\d\d UTC must be after start 2024-"):
        await run_backtest(Config(), klines_dir, "1h", SYMS, END, START, store=False)  # dates, not ms
    with pytest.raises(ReplayError, match="none of the symbols NOPEUSDT"):
        await run_backtest(Config(), klines_dir, "1h", ["NOPEUSDT"], START, END, store=False)
    # a span outside the data says which span it was
    with pytest.raises(ReplayError, match=r"no 1h klines to replay from 2030-01-01 00:00 UTC on: check --start"):
        await run_backtest(Config(), klines_dir, "1h", SYMS, parse_time("2030-01-01"), None, store=False)
    with pytest.raises(ReplayError, match=r"from 2020-01-01 00:00 to 2020-02-01 00:00 UTC: check --start"):
        await run_backtest(Config(), klines_dir, "1h", SYMS, parse_time("2020-01-01"), parse_time("2020-02-01"),
                           store=False)


async def test_data_loaded_beyond_the_span_is_cut_to_it(result, klines_dir):
    # a sweep hands every run the klines it loaded once: the run keeps its own warm-up and span,
    # the end exclusive (the kline opening at END is not replayed)
    data = load_klines(klines_dir, "1h", SYMS, START - 30 * 24 * H, END + 48 * H)
    assert int(data.klines.open_time.max()) > END
    again = await run_backtest(cfg_for_tests(), klines_dir, "1h", SYMS, START, END, store=False, data=data)
    assert again.n_klines == result.n_klines == 14 * 24 * len(SYMS)
    assert again.equity_ts[-1] == END
    np.testing.assert_array_equal(again.equity, result.equity)
    assert again.fills == result.fills


def test_sweep_runner_in_two_processes(klines_dir):
    spec = {"path": str(klines_dir), "interval": "1h", "symbols": SYMS[:2],
            "start_ms": START, "end_ms": parse_time("2024-03-05")}  # fmt: skip
    rows = run_sweep(
        cfg_for_tests(),
        [("signal_generation.z_score_threshold", [1.0, 2.0])],
        sweep_runner,
        processes=2,
        data_spec=spec,
    )
    assert [r["error"] for r in rows] == [None, None]
    for r in rows:
        assert set(METRIC_KEYS) <= set(r["metrics"])
        assert r["metrics"]["start_ms"] == START
        assert r["metrics"]["warnings"] == []  # two months of data before the start: a full warm-up
    # the same buy-and-hold for both points: it does not depend on the strategy
    assert rows[0]["metrics"]["buy_and_hold_return"] == rows[1]["metrics"]["buy_and_hold_return"]
    with pytest.raises(ValueError, match="needs 'path'"):
        sweep_runner(Config().model_dump(mode="json"), {"interval": "1h"})


def test_sweep_runner_keeps_its_warnings_with_the_run(klines_dir, capsys, caplog):
    """A run's warnings come back in its metrics instead of the console, where a sweep's workers
    would interleave them under the progress bar with nothing to say which point they are from."""
    spec = {"path": str(klines_dir), "interval": "1h", "symbols": SYMS[:2],
            "start_ms": parse_time("2024-01-01"), "end_ms": parse_time("2024-01-20")}  # fmt: skip
    with caplog.at_level("WARNING"):
        out = sweep_runner(cfg_for_tests().model_dump(mode="json"), spec)
    assert out["warnings"] == [
        "backtest warm-up: 0 of 51 klines before the start (the data begins 2024-01-01 00:00 UTC): "
        "ratings and z-scores settle inside the run"
    ]
    assert "warm-up" not in capsys.readouterr().err and not caplog.records
    # outside a sweep run the same warning is logged as before
    with caplog.at_level("WARNING"):
        asyncio.run(run_backtest(cfg_for_tests(), klines_dir, "1h", SYMS[:2], spec["start_ms"], spec["end_ms"],
                                 store=False))  # fmt: skip
    assert any("0 of 51 klines" in r.getMessage() for r in caplog.records)


async def test_a_run_longer_than_the_engine_curve_keeps_every_sample(result, klines_dir, monkeypatch):
    # the engine's equity curve is a ring of 20,000 samples (a console's chart); a longer backtest
    # (15m klines over 7 months, 5m over 10 weeks) lost its start and its figures began with a
    # jump from the starting balance to the oldest sample kept. Here a ring of 100 samples
    # stands in for it, against the 337 of two weeks of hourly periods.
    from tui_trader.portfolio.portfolio import Portfolio

    monkeypatch.setattr(Portfolio.__init__, "__kwdefaults__", {"clock": None, "curve_capacity": 100})
    short = await run_backtest(cfg_for_tests(), klines_dir, "1h", SYMS, START, END, store=False)
    assert short.equity_ts.tolist() == result.equity_ts.tolist()
    assert short.equity.tolist() == result.equity.tolist()
    assert short.metrics == result.metrics


async def test_data_ending_inside_a_rating_period_is_measured_to_its_last_close(klines_dir):
    # with 4-hour rating periods on hourly klines, an end 3 hours into a period left those hours
    # out of the strategy's equity (and a stop loss filled in them out of its figures), while
    # buy-and-hold was measured to the last close
    cfg = Config.model_validate({**cfg_for_tests().model_dump(mode="json"),
                                 "data_processing": {"rating_calculation_interval_ms": 4 * H}})
    end = END + 3 * H
    res = await run_backtest(cfg, klines_dir, "1h", SYMS, START, end, store=False)
    assert res.end_ms == end and res.equity_ts[-1] == end
    assert res.metrics["end_ms"] == res.baselines["buy_and_hold"]["end_ms"] == end
    assert np.all(np.diff(res.equity_ts[:-1]) == 4 * H) and res.equity_ts[-2] == END
    assert res.position_counts is not None and res.position_counts.size == res.equity_ts.size

"""The README's picture of the console is the default run at 00:58 (first trade ZIUSDT at 00:55):
its status bar, position row and signal result are what the engine holds then. The picture had
kept a BUY 178.6 and an equity of 9,999.59 after the default run's first trade became 177.5."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_trader.config import load_config
from tui_trader.runtime import build_engine
from tui_trader.ui.format import fmt_exact_price, fmt_last_price

README = Path(__file__).resolve().parent.parent / "README.md"


def console_picture() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("```\n PAPER ")
    return text[start : text.index("```", start + 3)]


def test_the_console_picture_is_the_default_runs_figures(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-user-config"))
    cfg, _ = load_config(None)
    cfg = cfg.model_copy(update={"feed": cfg.feed.model_copy(update={"speed": "max"})})
    # the shipped sim from 00:00: the klines opening 00:00 to 00:57, so the prices are 00:58's
    engine = build_engine(
        cfg, db_path=str(tmp_path / "r.db"), mode="paper", session_kind="tui", autostart=True, max_klines=58
    )

    async def run():  # returns the snapshot, with the book closed after it
        try:
            await engine.run()
            return engine.snapshot()
        finally:
            await engine.stop()  # (a book left open: its connection's thread outlived this loop)

    snap = asyncio.run(run())
    assert engine.db is None or engine.db.closed
    pic = console_picture()
    pf = snap.portfolio
    assert f"│ Eq {pf.equity:,.2f} USDT │ Day {pf.daily_pnl:+.2f} " in pic
    assert f"│ DD {pf.drawdown_pct:.2f}% │ Pos {len(snap.positions)} │ 2025-01-01 00:58:" in pic
    (pos,) = snap.positions
    # the entry with the exchange's digits, the last price on the tick, as the positions pane shows them
    entry, last = fmt_exact_price(pos.avg_entry), fmt_last_price(float(pos.last_price), pos.price_decimals)
    row = (
        f"│{pos.symbol}  {pos.quantity}  {entry:>7} {last:>7}  {pos.value:.2f} "
        f"{pos.unrealized_pnl:.2f} {pos.unrealized_pct:.2f}%"
    )
    assert row in pic
    first = snap.signals[0]
    assert first.outcome.startswith(f"executed: BUY {pos.quantity} @ ")
    assert (
        f" BUY  {first.symbol}  entry {first.strength:.2f}  {first.confidence:.2f} {first.z_score:+.2f} "
        in pic
    )
    assert f"executed: BUY {pos.quantity} @ …" in pic

"""A symbol the operator locked (``l``) is marked in every pane that lists it, at 80 columns too.

The leaderboard marked it (``L``), but the positions pane, where ``l`` is pressed on a held symbol,
showed nothing (nor a distance to a profit target the strategy no longer takes on it), and the
prices pane nothing either: a locked position looked like any other."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.events import ManualBuy
from tui_trader.ui.format import fmt_pct
from tui_trader.ui.widgets.leaderboard import LeaderboardTable
from tui_trader.ui.widgets.positions import LOCKED, PositionsTable
from tui_trader.ui.widgets.prices import PricesTable


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


def row_of(app, table, symbol: str) -> str:
    """The screen text of ``symbol``'s row inside ``table``."""
    r = table.region
    lines = [line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom]]
    found = [line for line in lines if symbol in line.split()]
    assert len(found) == 1, (symbol, lines)
    return found[0]


def _to_target(p) -> str:
    last = float(p.last_price)
    return fmt_pct((float(p.target_price) - last) / last * 100, 1, sign=False)


def fits(table) -> bool:
    return (
        sum(c.get_render_width(table) for c in table.ordered_columns) <= table.scrollable_content_region.width
    )


async def _show(app, pilot, key: str) -> None:
    await pilot.press(key)
    await pilot.pause()
    app.refresh_from_engine()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)])
async def test_a_locked_symbol_is_marked_in_the_positions_prices_and_leaderboard(tmp_path, size):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        await engine.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(300)))
        await asyncio.create_task(engine.run())  # its own task: stop() at exit waits for it
        await _show(app, pilot, "3")
        positions = app.main_screen.query_one(PositionsTable)
        assert positions.has_focus
        positions.move_to_key("ETHUSDT")
        await pilot.pause()
        await pilot.press("l")  # the operator's lock, on the positions pane
        await commands_done(app)
        assert engine.snapshot().locked == {"ETHUSDT"}
        await _show(app, pilot, "3")
        eth, btc = row_of(app, positions, "ETHUSDT"), row_of(app, positions, "BTCUSDT")
        pos = {p.symbol: p for p in engine.snapshot().positions}
        assert LOCKED in eth.split() and _to_target(pos["ETHUSDT"]) not in eth.split(), eth
        assert LOCKED not in btc.split() and _to_target(pos["BTCUSDT"]) in btc.split(), btc
        assert fits(positions), size

        await _show(app, pilot, "1")
        prices = app.main_screen.query_one(PricesTable)
        assert row_of(app, prices, "ETHUSDT").split()[:2] == ["ETHUSDT", "L"]
        assert row_of(app, prices, "BTCUSDT").split()[1] != "L"
        assert fits(prices), size

        await _show(app, pilot, "2")
        board = app.main_screen.query_one(LeaderboardTable)
        eth_cells = row_of(app, board, "ETHUSDT").split()
        assert eth_cells[eth_cells.index("ETHUSDT") + 1] == "L●", eth_cells  # locked, held

        # unlocked again (l on the prices pane): every mark goes
        await _show(app, pilot, "1")
        prices.move_to_key("ETHUSDT")
        await pilot.pause()
        await pilot.press("l")
        await commands_done(app)
        assert engine.snapshot().locked == frozenset()
        app.refresh_from_engine()
        await pilot.pause()
        assert row_of(app, prices, "ETHUSDT").split()[1] != "L"
        await _show(app, pilot, "3")
        assert LOCKED not in row_of(app, positions, "ETHUSDT")

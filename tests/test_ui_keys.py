"""Pilot tests of every key and dialog of the console, asserting the REAL engine's state.

The engine is the real TradingEngine on a seeded sim feed (40 symbols); the
app starts it up but does not run the feed loop (``run_engine=False``), so
state changes come only from the keys pressed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Checkbox, Input
from ui_support import (
    commands_done,
    make_app,
    make_engine,
    notifications,
    open_orders,
    ready,
    select_symbol,
    ui_config,
    until,
)

from tui_trader.models import EngineState
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.help import HelpScreen
from tui_trader.ui.screens.modals import (
    BuyScreen,
    ConfirmScreen,
    EmergencyStopScreen,
    SellScreen,
    ThresholdScreen,
)
from tui_trader.ui.widgets.leaderboard import LeaderboardTable
from tui_trader.ui.widgets.prices import PricesTable

LIQUID = "BTCUSDT"  # the sim gives real names their real liquidity


@pytest.fixture
def cfg():
    return ui_config()


async def _open_buy(app, pilot, sym: str = LIQUID) -> Input:
    """``b`` on ``sym``: the buy dialog is open; returns its amount field."""
    select_symbol(app, sym)
    await pilot.press("b")
    await pilot.pause()
    assert isinstance(app.screen, BuyScreen)
    return app.screen.query_one("#amount", Input)


async def _buy(app, pilot, engine, sym: str = LIQUID, amount: str | None = None, override: bool = False):
    field = await _open_buy(app, pilot, sym)
    if amount is not None:
        field.value = amount
    if override:
        app.screen.query_one("#override", Checkbox).value = True
    await pilot.press("enter")
    await commands_done(app)


async def test_start_and_pause_resume_keys(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert engine.state == EngineState.STOPPED
        await pilot.press("s")
        await commands_done(app)
        assert engine.state == EngineState.RUNNING
        await pilot.press("p")
        await commands_done(app)
        assert engine.state == EngineState.PAUSED
        assert "PAUSED" in str(app.main_screen.query_one("#status").render())
        await pilot.press("p")
        await commands_done(app)
        assert engine.state == EngineState.RUNNING


async def test_emergency_stop_modal_stops_and_closes(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine)
        assert LIQUID in engine.portfolio.positions
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        reason = app.screen.query_one("#reason", Input)
        reason.value = ""
        await pilot.press(*"fat finger")
        app.screen.query_one("#close", Checkbox).value = True
        await pilot.click("#confirm")
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        assert engine.state_reason == "fat finger"
        assert open_orders(engine) == []
        assert engine.portfolio.positions == {}
        app.refresh_from_engine()
        await pilot.pause()
        banner = app.main_screen.query_one("#banner")
        assert banner.display and "EMERGENCY STOP" in str(banner.render())
        # R + confirm resets to stopped
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        assert engine.state == EngineState.STOPPED


async def test_emergency_stop_escape_cancels_and_enter_confirms_keeping_positions(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine)
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("escape")
        await commands_done(app)
        assert engine.state == EngineState.RUNNING
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("enter")  # Enter in the reason field confirms; positions stay
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        assert open_orders(engine) == []
        assert LIQUID in engine.portfolio.positions


async def test_buy_with_default_amount_opens_a_position(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine)
        pos = engine.portfolio.positions[LIQUID]
        # default = max_position_percent (5 %) of 10,000 equity, less fees/rounding
        value = pos.quantity * pos.avg_entry
        assert Decimal(400) < value <= Decimal(500)
        assert any("Manual buy" in n for n in notifications(app))
        app.refresh_from_engine()
        await pilot.pause()
        assert app.main_screen.query_one("#positions").row_count == 1
        # the pane's title gives the count and the total uPnL in words, not by its colour alone
        upnl = engine.snapshot().positions[0].unrealized_pnl
        title = str(app.main_screen.pane("positions").border_title)
        assert title == f"Positions 1 · uPnL {upnl:+,.2f}"


async def test_refused_buy_shows_the_risk_reason(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine, amount="2000")
        assert engine.portfolio.positions == {}
        shown = notifications(app)
        assert any("refused" in n and "above 5% of equity" in n for n in shown), shown
        res = app.command_results[-1][1]
        assert not res.ok and res.message in shown[-1]


async def test_buy_dialog_rejects_bad_amount_and_override_passes_risk(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        (await _open_buy(app, pilot)).value = "lots"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)  # stays open
        assert "not a number" in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        await _buy(app, pilot, engine, amount="800", override=True)
        pos = engine.portfolio.positions[LIQUID]
        assert pos.quantity * pos.avg_entry > Decimal(700)


COMMA = "use a point for decimals and no thousands separators: 100.5"


async def test_dialog_tick_boxes_show_their_state_without_colour(tmp_path, cfg):
    """"Override risk checks" and "Also close all positions" read ticked or not on a monochrome
    terminal: the mark itself changes, not only its colour."""
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        for key, box in (("E", "#close"), ("b", "#override")):
            select_symbol(app, LIQUID)
            await pilot.press(key)
            await pilot.pause()
            tick = app.screen.query_one(box, Checkbox)
            unticked = str(tick.render())
            await pilot.press("tab")  # from the text field to the box, as the operator would
            await pilot.press("space")
            await pilot.pause()
            assert tick.value is True
            ticked = str(tick.render())
            assert "Override risk checks" in ticked or "Also close all positions" in ticked
            assert ticked != unticked and "X" in ticked and "X" not in unticked
            await pilot.press("escape")
            await pilot.pause()


async def test_a_comma_in_any_number_dialog_is_refused_not_read_as_a_thousands_separator(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        field = await _open_buy(app, pilot)
        field.value = ""
        await pilot.press(*"100,5")
        app.screen.query_one("#override", Checkbox).value = True  # the risk checks would not catch 1005
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)  # not submitted
        assert COMMA in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        await commands_done(app)
        assert engine.portfolio.positions == {} and not app.command_results
        await _buy(app, pilot, engine)
        qty0 = engine.portfolio.positions[LIQUID].quantity
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#qty", Input).value = "0,001"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SellScreen)
        assert COMMA in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        await commands_done(app)
        assert engine.portfolio.positions[LIQUID].quantity == qty0
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one("#value", Input).value = "1,5"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdScreen)  # the same message as the other dialogs
        assert COMMA in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        await pilot.pause()
        assert engine.threshold == 2.5


async def test_sell_key_partial_then_close(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine)
        qty0 = engine.portfolio.positions[LIQUID].quantity
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, SellScreen)
        half = (qty0 / 2).quantize(Decimal("0.00001"))
        app.screen.query_one("#qty", Input).value = str(half)
        await pilot.press("enter")
        await commands_done(app)
        assert engine.portfolio.positions[LIQUID].quantity == qty0 - half
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")  # blank quantity = close it all
        await commands_done(app)
        assert LIQUID not in engine.portfolio.positions
        # nothing to sell now: a warning, no dialog
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, SellScreen)
        assert any(f"no open position in {LIQUID}" in n for n in notifications(app))


async def test_flatten_all_closes_every_position(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine, LIQUID)
        await _buy(app, pilot, engine, "ETHUSDT")
        assert len(engine.portfolio.positions) == 2
        await pilot.press("F")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing happens
        await commands_done(app)
        assert len(engine.portfolio.positions) == 2
        await pilot.press("F")
        await pilot.pause()
        await pilot.press("y")
        await commands_done(app)
        assert engine.portfolio.positions == {}


async def test_lock_key_toggles_and_marks_the_leaderboard(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        select_symbol(app, "ETHUSDT")
        await pilot.press("l")
        await commands_done(app)
        assert "ETHUSDT" in engine.locked
        app.refresh_from_engine()
        lb = app.main_screen.query_one(LeaderboardTable)
        assert str(lb.cell_of("ETHUSDT", "flags")).startswith("L")
        await pilot.press("l")
        await commands_done(app)
        assert "ETHUSDT" not in engine.locked
        app.refresh_from_engine()
        assert not str(lb.cell_of("ETHUSDT", "flags")).startswith("L")


async def test_threshold_modal_sets_engine_threshold_and_validates(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdScreen)
        field = app.screen.query_one("#value", Input)
        assert field.value == "2.5"
        field.value = "-1"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdScreen)
        assert "above 0" in str(app.screen.query_one("#error").render())
        field.value = "3.25"
        await pilot.press("enter")
        # the dialog's callback submits once it has closed: commands_done() alone could look before
        # the command's worker existed (the test failed once on a loaded machine)
        assert await until(lambda: engine.threshold == 3.25)
        await commands_done(app)
        await pilot.press("2")  # the leaderboard pane (compact layout: panes off screen are not updated)
        app.refresh_from_engine()
        assert app.main_screen.query_one(LeaderboardTable).threshold == 3.25


async def test_quit_with_positions_asks_and_no_keeps_running(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy(app, pilot, engine)
        app.refresh_from_engine()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "1 position(s) are open" in str(app.screen.query_one(".dialog-text").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and engine.db is not None
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.3)
    assert engine.db is None  # engine.stop() flushed and closed storage
    assert app.return_code == 0


async def test_quit_without_positions_stops_engine_and_persists_state(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("s")
        await commands_done(app)
        await pilot.press("q")
        await pilot.pause(0.3)
    assert engine.db is None
    # a new engine on the same database recovers the running state the UI set
    again = make_engine(tmp_path, cfg)
    await again.start_up()
    try:
        assert again.state == EngineState.RUNNING
    finally:
        await again.stop()


async def test_filter_sort_and_header_click(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        prices = app.main_screen.query_one(PricesTable)
        assert prices.row_count == len(engine.symbols)
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused.id == "filter"
        await pilot.press(*"usdt", "b", "t", "c")  # substring, case-insensitive: "usdtbtc" matches nothing
        await pilot.pause()
        assert prices.row_count == 0
        app.focused.value = "eth"
        await pilot.pause()
        expected = [s for s in engine.symbols if "ETH" in s]
        assert prices.row_count == len(expected) >= 1
        assert app.main_screen.query_one(LeaderboardTable).row_count == len(expected)
        await pilot.press("escape")
        await pilot.pause()
        assert prices.row_count == len(engine.symbols)
        # sort by last price, descending, with the o key
        await pilot.press("o")
        await pilot.pause()
        assert prices.sort_key == "last" and prices.sort_reverse
        snap = engine.snapshot()
        top = str(prices.get_row_at(0)[0])
        assert top == snap.market.symbols[int(snap.market.price.argmax())]
        # a header click on "Volume" sorts by volume
        await pilot.click("#prices", offset=(40, 0))
        await pilot.pause()
        assert prices.sort_key == "vol"
        assert str(prices.get_row_at(0)[0]) == snap.market.symbols[int(snap.market.quote_volume.argmax())]


@pytest.mark.parametrize("pane", ["prices", "leaderboard"])
async def test_a_filter_that_hides_the_selected_symbol_selects_the_row_under_the_cursor(tmp_path, cfg, pane):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        hidden = next(s for s in engine.symbols if "ETH" not in s and s != engine.symbols[0])
        select_symbol(app, hidden)
        if pane == "leaderboard":
            lb = app.main_screen.query_one(LeaderboardTable)
            lb.focus()
            lb.move_to_key(lb.key_for_symbol(hidden))
        await pilot.pause()
        assert app.selected_symbol == hidden
        await pilot.press("slash", *"eth", "enter")
        await pilot.pause()
        table = app.main_screen.query_one(f"#{pane}")
        shown = table.symbol_for_key(table.selected_key)
        assert shown is not None and "ETH" in shown
        assert app.selected_symbol == shown  # not the hidden one
        asked: list[str] = []
        history = engine.symbol_history
        engine.symbol_history = lambda sym: (asked.append(sym), history(sym))[1]
        app.refresh_charts()
        assert asked == [shown]  # the charts pane draws the visible symbol
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen) and app.screen.symbol == shown
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen) and app.screen.symbol == shown
        await pilot.press("escape")
        await pilot.pause()
        # a filter that matches nothing leaves nothing selected (b says so) rather than a hidden symbol
        await pilot.press("slash", *"zzz", "enter")
        await pilot.pause()
        assert app.selected_symbol is None
        app.refresh_from_engine()
        assert app.selected_symbol is None
        await pilot.press("b")
        await pilot.pause()
        assert not isinstance(app.screen, BuyScreen)
        assert any("select a symbol first" in n for n in notifications(app))
        # clearing the filter selects the row under the cursor again
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.selected_symbol is not None and app.selected_symbol == table.symbol_for_key(table.selected_key)


async def test_keys_act_on_the_row_under_the_cursor_of_the_pane_switched_to(tmp_path, cfg):
    """A symbol chosen in the leaderboard stayed selected after `1` went back to the prices, whose
    cursor showed another symbol: `b` then bought the leaderboard's one (and `l` locked it)."""
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        prices = app.main_screen.query_one(PricesTable)
        await pilot.press("down", "down")
        in_prices = prices.symbol_for_key(prices.selected_key)
        await pilot.press("2", "down", "down", "down", "down")
        board = app.main_screen.query_one(LeaderboardTable)
        in_board = board.symbol_for_key(board.selected_key)
        assert in_board != in_prices and app.selected_symbol == in_board
        await pilot.press("1")
        await pilot.pause()
        assert app.selected_symbol == in_prices
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen) and app.screen.symbol == in_prices


async def test_keys_typed_ahead_act_on_the_row_the_cursor_moved_to(tmp_path, cfg):
    """Down then b (or l) arriving together, as typed ahead over a slow SSH link: the selection
    followed the cursor only once the table's RowHighlighted message reached the app, after
    the b, so the dialog (and the lock) took the symbol before the Down."""
    from textual import events

    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        prices = app.main_screen.query_one(PricesTable)
        start = prices.symbol_for_key(prices.selected_key)
        for key in ("down", "down", "b"):
            app.post_message(events.Key(key, None if len(key) > 1 else key))
        await pilot.pause()
        await pilot.pause()
        moved_to = prices.symbol_for_key(prices.selected_key)
        assert moved_to != start
        assert isinstance(app.screen, BuyScreen) and app.screen.symbol == moved_to
        await pilot.press("escape")
        await pilot.pause()
        for key in ("down", "l"):
            app.post_message(events.Key(key, None if len(key) > 1 else key))
        await pilot.pause()
        await commands_done(app)
        locked = prices.symbol_for_key(prices.selected_key)
        assert engine.snapshot().locked == {locked} and locked != moved_to


async def test_tab_moves_between_panes_and_m_maximises(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        main = app.main_screen
        assert main.compact and main.active == "prices"
        await pilot.press("tab")
        await pilot.pause()
        assert main.active == "leaderboard" and app.focused.id == "leaderboard"
        assert main.pane("leaderboard").display and main.is_visible("leaderboard")
        assert not main.is_visible("prices")
        await pilot.press("shift+tab", "shift+tab")
        await pilot.pause()
        assert main.active == "logs"
        await pilot.press("3")
        await pilot.pause()
        assert main.active == "positions"
        await pilot.press("m")
        await pilot.pause()
        assert main.maximized is main.pane("positions")
        await pilot.press("m")
        await pilot.pause()
        assert main.maximized is None


def _side_by_side(keys, width: int) -> bool:
    """Footer keys all inside ``width`` and none under another (the palette key is docked right)."""
    spans = sorted((k.region.x, k.region.right) for k in keys)
    return spans[-1][1] <= width and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


async def test_the_footer_keeps_help_quit_and_e_stop_on_screen_in_small_terminals(tmp_path, cfg):
    """Textual's footer let its last keys run off the right edge: below ~120 columns `? Help`
    and `q Quit` were not on screen. Each key shown must fit, and those three always show."""
    from textual.widgets._footer import FooterKey

    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        for width, height in ((80, 24), (100, 30), (160, 45)):  # (below 80x24: test_ui_too_small)
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            await pilot.pause()
            keys = {k.key: k for k in app.main_screen.query(FooterKey)}
            assert {"E", "question_mark", "q"} <= set(keys), (width, sorted(keys))
            assert _side_by_side(keys.values(), width), (width, sorted(keys))
            if width >= 100:  # room for every key of the bar
                assert {"s", "p", "b", "x", "F", "l", "t", "slash", "m"} <= set(keys), (width, sorted(keys))
        assert "ctrl+p" in keys  # the widest has the palette key too
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        await pilot.press("m")  # a key left out of the footer still works
        await pilot.pause()
        assert app.main_screen.maximized is not None
        app.action_detail(LIQUID)  # the symbol detail's footer too
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen)
        keys = {k.key: k for k in app.screen.query(FooterKey)}
        assert {"escape", "E", "question_mark"} <= set(keys) and _side_by_side(keys.values(), 80)


async def test_wide_layout_shows_every_pane(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        main = app.main_screen
        assert not main.compact
        for key in ("prices", "leaderboard", "positions", "signals", "charts", "health", "logs"):
            region = main.pane(key).region
            assert region.width > 20 and region.height >= 8, key


async def test_help_detail_theme_and_log_level_keys(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        select_symbol(app, "ETHUSDT")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen) and app.screen.symbol == "ETHUSDT"
        await pilot.pause(0.2)
        assert "ETHUSDT" in str(app.screen.query_one("#detail-info").render())
        assert app.screen.query_one("#detail-z").draws >= 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        first = app.theme
        await pilot.press("T")
        await pilot.pause()
        assert app.theme != first and app.theme in app.trader_themes
        logs = app.main_screen.query_one("#logs")
        level = logs.level
        await pilot.press("v")
        assert logs.level != level


async def test_command_palette_runs_actions(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Pause / resume")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        await commands_done(app)
        assert engine.state == EngineState.PAUSED


async def test_refusal_is_shown_with_the_engine_message(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("y")
        await commands_done(app)
        assert engine.state == EngineState.STOPPED
        assert any("Reset emergency refused" in n and "not emergency-stopped" in n for n in notifications(app))


async def test_accept_account_key_asks_on_a_live_book_and_shows_the_engine_answer(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("A")  # a paper book: no question, the engine says why it does not apply
        await commands_done(app)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("Accept account refused" in n and "only a live book" in n for n in notifications(app))
    live = make_engine(tmp_path, cfg, mode="live", name="live.db")  # paper broker, live labelling
    app = make_app(live, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # live: it asks first
        await pilot.press("y")
        await commands_done(app)
        assert any("Accept account refused" in n and "nothing to accept" in n for n in notifications(app))

"""Money exactness across the paper broker, the book, sizing and the breakers (property tests).

Each property drives the real components together: what the paper broker accepts is booked
by the portfolio, and the two must agree to the last decimal at every step.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import MS_PER_DAY, ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError
from tui_trader.execution.filters import is_multiple
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import Fill, OrderRequest, OrderType, Side, SymbolFilters
from tui_trader.portfolio import Portfolio
from tui_trader.risk.breakers import RiskBreakers

D = Decimal
JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000


# ============================================================ daily loss across midnight


def test_a_loss_over_the_period_straddling_midnight_trips_the_daily_breaker():
    # Before: the first mark of a UTC day reset the day's start to the equity AT that mark, so a
    # fall between the last mark before midnight and the first one after counted for neither day:
    # an 18 % loss in the hour ending at 00:00 left the daily PnL at 0 and the breaker silent.
    p = Portfolio(D(10000))
    breakers = RiskBreakers(Config.model_validate({"risk_management": {"max_drawdown_percent": 50}}))
    p.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(90), D(0), "USDT", JAN1 + 23 * HOUR, "t1"))
    p.mark({"XUSDT": 100.0}, ts_ms=JAN1 + 23 * HOUR)
    assert breakers.update(JAN1 + 23 * HOUR, p.equity, p.day_start_equity, p.peak_equity) == []
    p.mark({"XUSDT": 80.0}, ts_ms=JAN1 + MS_PER_DAY)  # 00:00 on Jan 2: the position lost 1800
    assert p.equity == 8200.0
    assert p.day_start_equity == 10000.0 and p.daily_pnl == -1800.0
    trips = breakers.update(JAN1 + MS_PER_DAY, p.equity, p.day_start_equity, p.peak_equity)
    assert [t.code for t in trips] == ["daily_loss"] and trips[0].value_pct == pytest.approx(18.0)


def test_the_day_start_after_a_gap_of_days_or_a_restart_is_the_first_mark():
    # Marks two days apart: the last one is no estimate of the new day's start (the loss is
    # the days' in between), nor is anything after a restart (no mark known yet).
    p = Portfolio(D(1000))
    p.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(5), D(0), "USDT", JAN1, "t1"))
    p.mark({"XUSDT": 100.0}, ts_ms=JAN1)
    p.mark({"XUSDT": 50.0}, ts_ms=JAN1 + 2 * MS_PER_DAY)
    assert p.day_start_equity == 750.0 and p.daily_pnl == 0
    q = Portfolio.from_state(p.to_state() | {"last_mark_ms": None, "marks": {}}, list(p.positions.values()))
    q.mark({"XUSDT": 40.0}, ts_ms=JAN1 + 3 * MS_PER_DAY)
    assert q.day_start_equity == 700.0 and q.daily_pnl == 0


# ============================================================ paper broker + book, any sequence


@st.composite
def markets(draw):
    """A symbol's filters and a price path over prices from 1e-8 to 1e6, on and off the tick."""
    exp = draw(st.integers(-8, 6))  # the price's order of magnitude
    tick = D(10) ** max(-8, min(-2, exp - 4)) if draw(st.booleans()) else D(0)
    step = D(10) ** max(-8, min(0, -exp - 1 + draw(st.integers(-2, 2))))
    min_qty = step * draw(st.sampled_from([1, 1, 3]))
    max_qty = draw(st.sampled_from([D(0), step * 1000, D(10) ** 12]))
    min_notional = draw(st.sampled_from([D(0), D(5), D(10)]))
    market_max = draw(st.sampled_from([D(0), step * 500]))
    f = SymbolFilters("XUSDT", "X", "USDT", tick, step, min_qty, max_qty, min_notional,
                      max_notional=D(9_000_000), market_max_qty=market_max)
    base = D(draw(st.integers(1, 9999))) * D(10) ** (exp - 3)
    path = draw(st.lists(st.integers(-300, 300), min_size=1, max_size=12))  # moves in 0.1 %
    prices = []
    for move in path:
        base = max(D("1e-8"), base * (1 + D(move) / 1000))
        px = float(base) if draw(st.booleans()) else float(round(base / tick) * tick if tick else base)
        prices.append(px if px > 0 else 1e-8)
    return f, prices


@settings(max_examples=300, deadline=None)
@given(
    market=markets(),
    start=st.sampled_from([D("5"), D("10.00000001"), D("11"), D("1000"), D("10000"), D("1e9")]),
    fee_rate=st.sampled_from([0.0, 0.00075, 0.001, 0.05, 0.0999]),
    slip=st.sampled_from([(0.0, 0.0, 0.0), (2.0, 0.1, 0.5), (50.0, 5.0, 3.0), (900.0, 0.0, 10.0)]),
    actions=st.lists(
        st.tuples(st.sampled_from(["buy", "buy", "sell", "close"]),
                  st.sampled_from([1000, 1000, 999, 500, 100]) | st.integers(1, 1000), st.booleans()),
        min_size=1, max_size=12),
)
def test_the_book_and_the_paper_account_agree_exactly_for_any_accepted_sequence(
    market, start, fee_rate, slip, actions
):
    f, prices = market
    bps, impact, cap = slip
    cfg = Config.model_validate({"broker": {"fee_rate": fee_rate, "slippage_bps": bps, "slippage_impact": impact,
                                            "starting_balance": float(start)},
                                 "order_execution": {"max_slippage_percent": cap}})
    last = {"XUSDT": prices[0]}
    broker = PaperBroker(cfg, ManualClock(JAN1), last.get, {"XUSDT": f}, quote_volume_fn=lambda s: 1e7,
                         balances={"USDT": start})
    book = Portfolio(start)
    fills: list[Fill] = []
    mf = f.for_market_orders()
    for n, (kind, per_mille, limit) in enumerate(actions):
        last["XUSDT"] = prices[n % len(prices)]
        px = D(repr(last["XUSDT"]))
        held = book.quantity("XUSDT")
        if kind == "buy":  # a share of the cash, up to all of it after the worst fee and slippage
            qty = book.cash * per_mille / 1000 / px / (1 + D(repr(fee_rate))) / (1 + D(repr(cap)) / 100)
        else:
            qty = held if kind == "close" else held * per_mille / 1000
        if mf.max_qty:
            qty = min(qty, mf.max_qty)  # as the engine cuts an order to the lot's maximum
        qty = (qty // mf.step_size) * mf.step_size if mf.step_size else qty
        if qty <= 0:
            continue
        price = None
        if limit:
            t = f.tick_size or D("1e-8")
            price = max(t, (px * (D("1.01") if kind == "buy" else D("0.99")) // t) * t)
        req = OrderRequest(f"tt-{n}", "XUSDT", Side.BUY if kind == "buy" else Side.SELL,
                           OrderType.LIMIT if limit else OrderType.MARKET, qty, price)
        before = dict(broker._balances)
        try:
            res = asyncio.run(broker.submit(req))
        except BrokerError:
            assert broker._balances == before  # a refused order changes nothing
            continue
        for fl in res.fills:
            # every fill obeys the filters: quantity on the step and within the lot, price on the tick
            assert is_multiple(fl.quantity, mf.step_size if not limit else f.step_size)
            assert fl.quantity >= f.min_qty and (f.max_qty == 0 or fl.quantity <= f.max_qty)
            assert is_multiple(fl.price, f.tick_size or D("1e-8"))
            # NOTIONAL: at the limit price (a LIMIT order), at the last price (a MARKET order)
            assert fl.quantity * (price if limit else px) >= f.min_notional
            book.apply_fill(fl)  # the book accepts whatever the broker filled
            fills.append(fl)
        # the two agree to the last decimal; nothing negative; a full close leaves no dust
        bal = asyncio.run(broker.balances())
        assert bal["USDT"] == book.cash >= 0
        assert bal.get("X", D(0)) == book.quantity("XUSDT") >= 0
        if kind == "close" and res.fills and qty == held:  # (a lot's maximum may cut a close short)
            assert "XUSDT" not in book.positions and bal.get("X", D(0)) == 0
    # exact replay and conservation: cash = start - buys(notional + fee) + sells(notional - fee)
    with localcontext() as ctx:
        ctx.prec = 100  # the sums themselves exact
        flow = sum(((fl.price * fl.quantity) * (1 if fl.side is Side.SELL else -1) - fl.fee for fl in fills), D(0))
        assert book.cash == start + flow
    replayed = Portfolio.replay_fills(start, fills)
    assert (replayed.cash, replayed.realized_pnl, replayed.fees_paid) == (book.cash, book.realized_pnl, book.fees_paid)
    assert replayed.positions == book.positions
    open_cost = sum((p.cost for p in book.positions.values()), D(0))
    assert book.cash + open_cost == start + book.realized_pnl
    assert book.fees_paid == sum((fl.fee for fl in fills), D(0))


def test_without_a_price_filter_a_last_price_of_more_than_8_decimals_fills_on_8():
    # A symbol with no PRICE_FILTER whose last price (a float) has more than 8 decimals: the fill
    # was left unrounded at 28 digits, and the book and the paper account then drifted apart in
    # the last digit (money no longer exact). Binance prices have at most 8 decimals.
    bare = SymbolFilters("XUSDT", "X", "USDT", D(0), D("0.1"), D("0.1"), D(0), D(0))
    cfg = Config.model_validate({"broker": {"fee_rate": 0.00075}})
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": 0.001002001}.get, {"XUSDT": bare},
                    quote_volume_fn=lambda s: 1e7, balances={"USDT": D("10.00000001")})
    book = Portfolio(D("10.00000001"))
    for n, (side, q) in enumerate([(Side.BUY, "9.9"), (Side.BUY, "9.9"), (Side.SELL, "19.8")]):
        res = asyncio.run(b.submit(OrderRequest(f"tt-{n}", "XUSDT", side, OrderType.MARKET, D(q))))
        for fl in res.fills:
            assert fl.price == fl.price.quantize(D("1e-8"))
            assert (fl.price > D("0.001002001")) if side is Side.BUY else (fl.price < D("0.001002001"))
            book.apply_fill(fl)
    assert not book.positions
    assert asyncio.run(b.balances())["USDT"] == book.cash == book.starting_cash + book.realized_pnl


# ============================================================ breakers over marks, days and a restart


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(1, 30), st.integers(-150, 150)), min_size=1, max_size=40),
    restart_at=st.integers(0, 40),
    daily=st.sampled_from([2.0, 5.0, 10.0]),
    dd=st.sampled_from([3.0, 8.0, 15.0]),
)
def test_breakers_trip_exactly_when_the_book_crosses_its_limits_across_days_and_a_restart(
    steps, restart_at, daily, dd
):
    import json

    cfg = Config.model_validate({"risk_management": {"max_daily_loss_percent": daily, "max_drawdown_percent": dd}})
    book = Portfolio(D(10_000))
    book.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(80), D(0), "USDT", JAN1, "t1"))
    breakers = RiskBreakers(cfg)
    price, ts = 100.0, JAN1
    marks: list[tuple[int, float]] = [(JAN1, 10_000.0)]  # (ts, equity) at the start and every mark
    tripped_days: set[int] = set()
    for n, (hours, move) in enumerate(steps):
        if n == restart_at:  # a restart: the book comes back from its stored state (peak included)
            state = json.loads(json.dumps(book.to_state()))
            book = Portfolio.from_state(state, list(book.positions.values()))
            assert book.peak_equity == max(eq for _, eq in marks)
        ts += hours * HOUR
        price = max(1.0, price * (1 + move / 1000))
        eq = book.mark({"XUSDT": price}, ts_ms=ts)
        marks.append((ts, eq))
        # the peak is the highest equity ever marked, unrealised PnL included
        peak = max(e for _, e in marks)
        assert book.peak_equity == peak and book.equity == eq == 2000.0 + 80 * price
        trips = breakers.update(ts, eq, book.day_start_equity, book.peak_equity)
        codes = [t.code for t in trips]
        day = ts // MS_PER_DAY
        loss = (book.day_start_equity - eq) / book.day_start_equity * 100
        assert ("daily_loss" in codes) == (day not in tripped_days and loss >= daily - 1e-9)
        if "daily_loss" in codes:
            tripped_days.add(day)
        # the drawdown trips once, the first time the fall from the peak reaches the limit
        first = all((max(e for _, e in marks[: i + 1]) - e) / max(e for _, e in marks[: i + 1]) * 100 < dd - 1e-9
                    for i, (_, e) in enumerate(marks[:-1]))
        assert ("drawdown" in codes) == (first and (peak - eq) / peak * 100 >= dd - 1e-9)
        # the day starts from the last equity before midnight when the previous mark was yesterday
        if n > 0 and marks[-2][0] // MS_PER_DAY == day - 1 and n != restart_at:
            assert book.day_start_equity == marks[-2][1]


# ============================================================ pre-trade filters = the broker's


def test_a_limit_sell_is_held_to_the_minimum_notional_at_its_limit_price():
    # With use_limit_orders a sell of 0.1 at a last price of 100.05 is worth 10.005 (above the
    # minimum of 10) but its limit price is 0.1 % lower, 99.95: 9.995. The pre-trade check passed
    # it, then the broker (and Binance) refused it with a NOTIONAL filter failure, period after
    # period. A buy's maximum notional is likewise the exchange's at the limit price.
    from tui_trader.execution.filters import limit_price
    from tui_trader.risk.checks import PreTradeChecks

    f = SymbolFilters("XUSDT", "X", "USDT", D("0.01"), D("0.01"), D("0.01"), D("9000"), D("10"),
                      max_notional=D("1000"))
    cfg = Config.model_validate({"order_execution": {"use_limit_orders": True}})
    last, qty = D("100.05"), D("0.1")
    reasons = PreTradeChecks(cfg).check_exit("XUSDT", qty, last, D(1), f)
    assert reasons == ["order value 9.99 at its limit price below the minimum notional 10.00"]
    lp = limit_price(last, Side.SELL, cfg.order_execution.limit_order_buffer_percent, f)
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": float(last)}.get, {"XUSDT": f},
                    balances={"USDT": D(0), "X": D(1)})
    with pytest.raises(BrokerError, match="NOTIONAL"):
        asyncio.run(b.submit(OrderRequest("tt-1", "XUSDT", Side.SELL, OrderType.LIMIT, qty, lp)))
    # a MARKET sell of it is fine for both (at the last price), whatever the setting
    assert PreTradeChecks(Config()).check_exit("XUSDT", qty, last, D(1), f) == []
    # a LIMIT buy of 9.99 at 100.05 is worth 999.50 at the last price, 1000.50 at its limit 100.15
    buy = PreTradeChecks(cfg)._filters(_ctx("XUSDT", D("9.99"), last, f), exit_=False)
    assert buy == ["order value 1000.50 at its limit price above the maximum notional 1000.00"]


def _ctx(symbol: str, qty: Decimal, price: Decimal, f: SymbolFilters):
    from tui_trader.risk.checks import TradeContext

    return TradeContext(symbol=symbol, quantity=qty, price=price, fee_rate=D("0.001"), cash=D(10**6),
                        equity=D(10**6), filters=f)


@settings(max_examples=300, deadline=None)
@given(
    price_units=st.integers(1, 10**7),
    tick=st.sampled_from(["0.01", "0.0001", "0.00000001"]),
    qty_units=st.integers(1, 10**5),
    min_notional=st.sampled_from(["0", "5", "10"]),
    max_notional=st.sampled_from(["0", "1000", "9000000"]),
    limit=st.booleans(),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_an_order_the_pre_trade_filters_pass_is_not_refused_by_the_broker_filters(
    price_units, tick, qty_units, min_notional, max_notional, limit, side
):
    from tui_trader.execution.broker import BrokerErrorKind
    from tui_trader.execution.filters import limit_price
    from tui_trader.risk.checks import PreTradeChecks

    t = D(tick)
    f = SymbolFilters("XUSDT", "X", "USDT", t, D("0.001"), D("0.001"), D(0), D(min_notional),
                      max_notional=D(max_notional))
    price, qty = D(price_units) * t, D(qty_units) / 1000
    cfg = Config.model_validate({"order_execution": {"use_limit_orders": limit, "max_slippage_percent": 0.5}})
    reasons = PreTradeChecks(cfg)._filters(_ctx("XUSDT", qty, price, f), exit_=side is Side.SELL)
    if reasons:
        return
    lp = limit_price(price, side, cfg.order_execution.limit_order_buffer_percent, f) if limit else None
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": float(price)}.get, {"XUSDT": f},
                    balances={"USDT": D(10) ** 20, "X": qty})
    req = OrderRequest("tt-1", "XUSDT", side, OrderType.LIMIT if limit else OrderType.MARKET, qty, lp)
    try:
        asyncio.run(b.submit(req))
    except BrokerError as exc:
        assert exc.kind is not BrokerErrorKind.FILTER_FAILURE, str(exc)


def test_a_balance_as_large_as_the_config_allows_is_booked_to_the_last_decimal():
    # broker.starting_balance goes up to 1e15; an 8-decimal price times an 8-decimal quantity has
    # 16 decimals, so the cash needs 31 digits - the default 28-digit context rounded it, in the
    # book and in the paper account alike (booked money was no longer exact)
    start = D("1e15")
    f = SymbolFilters("XUSDT", "X", "USDT", D("0.00000001"), D("0.00000001"), D("0.00000001"), D(0), D(0))
    cfg = Config.model_validate({"broker": {"starting_balance": 1e15, "fee_rate": 0.001, "slippage_bps": 0}})
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": 10.01234567}.get, {"XUSDT": f}, balances={"USDT": start})
    book = Portfolio(start)
    res = asyncio.run(b.submit(OrderRequest("tt-1", "XUSDT", Side.BUY, OrderType.MARKET, D("0.12345678"))))
    (fl,) = res.fills
    book.apply_fill(fl)
    with localcontext() as ctx:
        ctx.prec = 100
        want = start - fl.price * fl.quantity - fl.fee
    assert fl.price == D("10.01234567") and fl.fee == D("0.00123610")
    assert book.cash == want == asyncio.run(b.balances())["USDT"]
    res = asyncio.run(b.submit(OrderRequest("tt-2", "XUSDT", Side.SELL, OrderType.MARKET, D("0.12345678"))))
    (sell,) = res.fills
    book.apply_fill(sell)
    with localcontext() as ctx:
        ctx.prec = 100
        want += sell.price * sell.quantity - sell.fee
    assert book.cash == want == asyncio.run(b.balances())["USDT"] == start + book.realized_pnl


def test_the_cash_check_of_a_huge_buy_is_as_exact_as_the_broker():
    # a cost of ~1e15 with 16 decimals: the check rounded it to 28 digits and let pass a buy the
    # (exact) paper broker then refused for a cash 1e-16 short
    from tui_trader.execution.broker import BrokerErrorKind
    from tui_trader.risk.checks import PreTradeChecks

    f = SymbolFilters("XUSDT", "X", "USDT", D("0.00000001"), D("0.00000001"), D("0.00000001"), D(0), D(0))
    cfg = Config.model_validate({"broker": {"starting_balance": 1e15}, "order_execution": {"max_slippage_percent": 0}})
    price, qty = D("10.01234567"), D("99999999999999.12345678")
    with localcontext() as ctx:
        ctx.prec = 80
        need = qty * price + (qty * price * D("0.001")).quantize(D("1e-8"), rounding="ROUND_CEILING")
        cash = need - D("1e-16")
    checks = PreTradeChecks(cfg)
    entry = _ctx("XUSDT", qty, price, f)
    entry.fee_rate, entry.volatility, entry.recent_quote_volume = D("0.001"), 0.01, D(10) ** 30
    entry.equity = D(10) ** 20
    assert checks.worst_buy_cost(entry)[0] == need
    entry.cash = cash
    assert [r for r in checks.check_entry(entry) if r.startswith("insufficient cash")]
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": float(price)}.get, {"XUSDT": f}, balances={"USDT": cash})
    with pytest.raises(BrokerError) as ei:
        asyncio.run(b.submit(OrderRequest("tt-1", "XUSDT", Side.BUY, OrderType.MARKET, qty)))
    assert ei.value.kind is BrokerErrorKind.INSUFFICIENT_BALANCE
    entry.cash = need  # exactly enough: both let it through
    assert checks.check_entry(entry) == []
    b.set_balances({"USDT": need})
    assert asyncio.run(b.submit(OrderRequest("tt-2", "XUSDT", Side.BUY, OrderType.MARKET, qty))).fills

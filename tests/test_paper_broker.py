"""PaperBroker: exact fee and slippage maths, filters, IOC, balances, order memory, fault injection."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import Broker, BrokerError, BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side, SymbolFilters
from tui_trader.portfolio import Portfolio

D = Decimal
BTC = SymbolFilters("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("9000"), D("10"))
ETH = SymbolFilters("ETHUSDT", "ETH", "USDT", D("0.01"), D("0.0001"), D("0.0001"), D("9000"), D("5"))
TINY = SymbolFilters("TINYUSDT", "TINY", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("0"), D("0"))
FILTERS = {f.symbol: f for f in (BTC, ETH, TINY)}


def make(
    prices: dict[str, float | None] | None = None,
    qv: dict[str, float] | None = None,
    balances: dict[str, Decimal] | None = None,
    **broker_cfg: float,
) -> PaperBroker:
    cfg = Config.model_validate({"broker": broker_cfg}) if broker_cfg else Config()
    px = {"BTCUSDT": 42283.58, "ETHUSDT": 2281.87, "TINYUSDT": 42283.58} if prices is None else prices
    return PaperBroker(
        cfg,
        ManualClock(1_700_000_000_000),
        px.get,
        FILTERS,
        quote_volume_fn=None if qv is None else (lambda s: qv.get(s, 0.0)),
        balances=balances,
    )


def req(cid: str, side: Side = Side.BUY, qty: str = "0.01", symbol: str = "BTCUSDT", price: str | None = None):
    return OrderRequest(
        cid, symbol, side, OrderType.LIMIT if price else OrderType.MARKET, D(qty), D(price) if price else None
    )


async def test_is_a_broker_and_starts_with_configured_cash():
    b = make()
    assert isinstance(b, Broker) and b.name == "paper"
    await b.start()
    assert await b.balances() == {"USDT": D("10000.0")}


async def test_market_buy_fixed_slippage_and_fee_hand_computed():
    b = make()
    res = await b.submit(req("tt-1"))
    # 42283.58 * (1 + 2/10000) = 42292.036716 -> buy rounds up to the tick: 42292.04
    assert res.status == OrderStatus.FILLED
    (fill,) = res.fills
    assert fill.price == D("42292.04")
    assert fill.quantity == D("0.01") and res.executed_qty == D("0.01")
    assert res.quote_qty == D("422.9204")
    assert fill.fee == D("0.42292040") and fill.fee_asset == "USDT"  # 0.1 %
    assert fill.ts_ms == 1_700_000_000_000
    bal = await b.balances()
    assert bal["USDT"] == D("10000.0") - D("422.9204") - D("0.4229204")
    assert bal["BTC"] == D("0.01")
    # sell back: 42283.58 * (1 - 0.0002) = 42275.123284 -> sell rounds down: 42275.12
    res2 = await b.submit(req("tt-2", Side.SELL))
    assert res2.fills[0].price == D("42275.12")
    assert res2.fills[0].fee == D("0.42275120")
    bal = await b.balances()
    assert "BTC" not in bal
    assert bal["USDT"] == D("10000.0") - D("422.9204") - D("0.4229204") + D("422.7512") - D("0.4227512")


async def test_fee_rounds_up_to_8_decimals():
    b = make()
    res = await b.submit(req("tt-1", qty="0.00001", symbol="TINYUSDT"))
    # 0.00001 * 42292.04 = 0.4229204 ; * 0.001 = 0.0004229204 -> up to 0.00042293
    assert res.fills[0].fee == D("0.00042293")


async def test_numpy_prices_from_the_feed_are_accepted():
    b = PaperBroker(Config(), ManualClock(0), {"BTCUSDT": np.float64(42283.58)}.get, FILTERS)
    assert (await b.submit(req("tt-1"))).fills[0].price == D("42292.04")


async def test_size_dependent_slippage_hand_computed():
    b = make(prices={"ETHUSDT": 100.0}, qv={"ETHUSDT": 20_000.0})
    res = await b.submit(req("tt-1", qty="10", symbol="ETHUSDT"))
    # notional 1000 = 5 % of 20000 -> 0.1 bps * 5 = 0.5 bps; 2 + 0.5 = 2.5 bps; 100 * 1.00025 = 100.025 -> 100.03
    assert b.slippage_for("ETHUSDT", D(1000)) == D("2.5")
    assert res.fills[0].price == D("100.03")
    assert res.fills[0].fee == D("1.00030000")


async def test_slippage_is_capped():
    b = make(prices={"ETHUSDT": 100.0}, qv={"ETHUSDT": 1000.0}, slippage_impact=10.0)
    buy = await b.submit(req("tt-1", qty="10", symbol="ETHUSDT"))
    # 100 % of the volume * 10 bps = 1000 bps + 2 -> capped at max_slippage_percent 0.5 % = 50 bps
    assert b.slippage_for("ETHUSDT", D(1000)) == D("50.0")
    assert buy.fills[0].price == D("100.50")
    sell = await b.submit(req("tt-2", Side.SELL, qty="10", symbol="ETHUSDT"))
    assert sell.fills[0].price == D("99.50")


async def test_unknown_liquidity_means_worst_allowed_slippage():
    b = make(prices={"ETHUSDT": 100.0}, qv={})  # volume 0 for ETH
    res = await b.submit(req("tt-1", qty="1", symbol="ETHUSDT"))
    assert res.fills[0].price == D("100.50")


@given(
    price=st.floats(min_value=0.05, max_value=1e5),
    qty_steps=st.integers(min_value=1, max_value=100_000),
    qv=st.floats(min_value=0.0, max_value=1e9),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
@settings(max_examples=150, deadline=None)
def test_fill_price_never_beyond_cap_and_always_against_trader(price, qty_steps, qv, side):
    b = make(prices={"ETHUSDT": price}, qv={"ETHUSDT": qv})
    last = D(repr(price))
    qty = D(qty_steps) * ETH.step_size
    px = b.fill_price("ETHUSDT", side, qty, last)
    assert px % ETH.tick_size == 0
    cap = D("0.005")
    tick = ETH.tick_size
    if side == Side.BUY:
        assert px >= last  # never better than the last price
        # within the cap - or on the first tick at or above the last price when the cap is closer
        assert px <= max(last * (1 + cap), (last / tick).to_integral_value(rounding=ROUND_CEILING) * tick)
    else:
        assert px <= last
        assert px >= min(last * (1 - cap), (last / tick).to_integral_value(rounding=ROUND_FLOOR) * tick)


async def test_a_cap_within_one_tick_never_fills_better_than_the_last_price():
    cfg = Config.model_validate({"broker": {"slippage_bps": 0.0, "slippage_impact": 0.0},
                                 "order_execution": {"max_slippage_percent": 0.0}})
    b = PaperBroker(cfg, ManualClock(1_700_000_000_000), {"ETHUSDT": 100.005}.get, FILTERS)
    buy = await b.submit(req("tt-1", qty="1", symbol="ETHUSDT"))
    sell = await b.submit(req("tt-2", Side.SELL, qty="1", symbol="ETHUSDT"))
    assert buy.fills[0].price == D("100.01") and sell.fills[0].price == D("100.00")  # no round-trip gain


async def test_min_notional_rejected_with_filter_failure_and_not_stored():
    b = make()
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1", qty="0.0001"))  # 4.23 USDT < 10
    assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE and "min_notional" in str(ei.value)
    assert await b.query("BTCUSDT", "tt-1") is None
    assert (await b.balances())["USDT"] == D("10000.0")


async def test_quantity_off_step_is_a_filter_failure():
    b = make()
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1", qty="0.012345"))
    assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE and "step_size" in str(ei.value)


async def test_limit_ioc_fills_only_when_it_crosses():
    b = make()
    crossed = await b.submit(req("tt-1", price="42292.04"))  # == fill price
    assert crossed.status == OrderStatus.FILLED and crossed.fills[0].price == D("42292.04")
    missed = await b.submit(req("tt-2", price="42292.03"))
    assert missed.status == OrderStatus.EXPIRED
    assert missed.executed_qty == 0 and missed.fills == []
    assert "did not cross" in missed.reason
    sell_miss = await b.submit(req("tt-3", Side.SELL, price="42275.13"))
    assert sell_miss.status == OrderStatus.EXPIRED
    sell_hit = await b.submit(req("tt-4", Side.SELL, price="42275.12"))
    assert sell_hit.status == OrderStatus.FILLED
    assert "BTC" not in await b.balances()
    assert (await b.query("BTCUSDT", "tt-2")).status == OrderStatus.EXPIRED


async def test_limit_price_off_tick_is_a_filter_failure():
    b = make()
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1", price="42292.045"))
    assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE and "tick_size" in str(ei.value)


async def test_insufficient_cash_and_cash_never_negative():
    b = make(balances={"USDT": D("422.9204")})  # the cost without the fee
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1"))
    assert ei.value.kind == BrokerErrorKind.INSUFFICIENT_BALANCE
    assert await b.balances() == {"USDT": D("422.9204")}
    b2 = make(balances={"USDT": D("423.3433204")})  # exactly cost + fee
    await b2.submit(req("tt-1"))
    assert (await b2.balances())["USDT"] == 0


async def test_oversell_rejected():
    b = make()
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1", Side.SELL))
    assert ei.value.kind == BrokerErrorKind.INSUFFICIENT_BALANCE
    await b.submit(req("tt-2", qty="0.01"))
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-3", Side.SELL, qty="0.01001"))
    assert ei.value.kind == BrokerErrorKind.INSUFFICIENT_BALANCE
    assert (await b.balances())["BTC"] == D("0.01")


async def test_query_and_duplicate_client_id():
    b = make()
    res = await b.submit(req("tt-1"))
    assert await b.query("BTCUSDT", "tt-1") == res
    assert await b.query("BTCUSDT", "tt-404") is None
    assert await b.query("ETHUSDT", "tt-1") is None  # wrong symbol: unknown like on Binance
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1"))
    assert ei.value.kind == BrokerErrorKind.REJECTED and "duplicate client order id" in str(ei.value)
    assert (await b.balances())["BTC"] == D("0.01")  # not executed twice
    # the stored result is a copy: callers cannot corrupt it
    res.fills.clear()
    assert len((await b.query("BTCUSDT", "tt-1")).fills) == 1


async def test_no_price_and_unknown_symbol_rejected():
    b = make(prices={"BTCUSDT": None, "ETHUSDT": math.nan})
    for sym, qty in (("BTCUSDT", "0.01"), ("ETHUSDT", "1")):
        with pytest.raises(BrokerError) as ei:
            await b.submit(req(f"tt-{sym}", symbol=sym, qty=qty))
        assert ei.value.kind == BrokerErrorKind.REJECTED and "no price" in str(ei.value)
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-x", symbol="NOPEUSDT"))
    assert ei.value.kind == BrokerErrorKind.REJECTED
    with pytest.raises(BrokerError):
        await b.submit(req("bad id!"))


async def test_fault_injection_before_and_after_fill():
    b = make()
    b.fail_next(BrokerErrorKind.NETWORK)
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1"))
    assert ei.value.kind == BrokerErrorKind.NETWORK
    assert await b.query("BTCUSDT", "tt-1") is None  # never reached the exchange
    b.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-1"))
    assert ei.value.kind == BrokerErrorKind.TIMEOUT
    found = await b.query("BTCUSDT", "tt-1")
    assert found is not None and found.status == OrderStatus.FILLED  # it did execute
    assert (await b.balances())["BTC"] == D("0.01")
    b.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=3.0, op="query")
    with pytest.raises(BrokerError) as ei:
        await b.query("BTCUSDT", "tt-1")
    assert ei.value.retry_after_s == 3.0
    with pytest.raises(ValueError):
        b.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True, op="query")


async def test_held_order_stays_open_until_canceled():
    b = make()
    b.hold_next()
    res = await b.submit(req("tt-1"))
    assert res.status == OrderStatus.NEW and res.executed_qty == 0
    assert [r.client_order_id for r in await b.open_orders()] == ["tt-1"]
    canceled = await b.cancel("BTCUSDT", "tt-1")
    assert canceled.status == OrderStatus.CANCELED
    assert await b.open_orders() == []
    assert (await b.query("BTCUSDT", "tt-1")).status == OrderStatus.CANCELED
    with pytest.raises(BrokerError) as ei:
        await b.cancel("BTCUSDT", "tt-1")
    assert ei.value.kind == BrokerErrorKind.UNKNOWN_ORDER
    assert await b.balances() == {"USDT": D("10000.0")}


async def test_set_balances_restores_an_account():
    b = make()
    b.set_balances({"USDT": D("500"), "BTC": D("0.02")})
    await b.submit(req("tt-1", Side.SELL, qty="0.02"))
    assert "BTC" not in await b.balances()
    with pytest.raises(ValueError):
        b.set_balances({"USDT": D("-1")})
    with pytest.raises(ValueError):
        make(balances={"USDT": D("NaN")})
    assert (await b.balances())["USDT"] > D("500")  # unchanged by the refused call


async def test_exchange_filters():
    b = make()
    assert await b.exchange_filters(["BTCUSDT"]) == {"BTCUSDT": BTC}
    with pytest.raises(BrokerError):
        await b.exchange_filters(["BTCUSDT", "NOPE"])


async def _run_script(b: PaperBroker) -> list:
    out = []
    script = [
        ("BUY", "0.01", "BTCUSDT", None),
        ("BUY", "1.5", "ETHUSDT", None),
        ("SELL", "0.004", "BTCUSDT", None),
        ("BUY", "0.5", "ETHUSDT", "2200.00"),
        ("SELL", "2", "ETHUSDT", "2270.00"),
        ("SELL", "0.006", "BTCUSDT", None),
    ]
    for i, (side, qty, sym, price) in enumerate(script):
        try:
            out.append(await b.submit(req(f"tt-{i}", Side(side), qty, sym, price)))
        except BrokerError as exc:
            out.append(str(exc))
    return out


async def test_deterministic_and_consistent_with_portfolio():
    a, b = make(qv={"BTCUSDT": 5e6, "ETHUSDT": 2e6}), make(qv={"BTCUSDT": 5e6, "ETHUSDT": 2e6})
    ra, rb = await _run_script(a), await _run_script(b)
    assert ra == rb
    assert await a.balances() == await b.balances()
    # the broker's account equals the book built from its fills
    pf = Portfolio.replay_fills(D("10000.0"), [f for r in ra if not isinstance(r, str) for f in r.fills])
    bal = await a.balances()
    assert pf.cash == bal["USDT"]
    for sym, pos in pf.positions.items():
        assert bal[FILTERS[sym].base_asset] == pos.quantity
    assert {FILTERS[s].base_asset for s in pf.positions} == set(bal) - {"USDT"}


async def test_a_market_sell_above_max_notional_fills_as_on_binance():
    # Binance spot's NOTIONAL filter has applyMaxToMarket false: a MARKET order is not held to
    # maxNotional. A position bought at the cap (as sizing cuts it) whose price then rose must
    # still sell by MARKET in paper mode - it was refused, leaving a position no exit could close.
    capped = SymbolFilters("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("9000"), D("5"),
                           max_notional=D("9000000"))
    px = {"BTCUSDT": 60000.0}
    b = PaperBroker(Config(), ManualClock(1_700_000_000_000), px.get, {"BTCUSDT": capped},
                    balances={"USDT": D("1e9")})
    await b.submit(req("tt-1", qty="150"))  # 9,000,000 at the last price
    px["BTCUSDT"] = 75000.0  # now worth 11,250,000
    sold = await b.submit(req("tt-2", Side.SELL, qty="150"))
    assert sold.status == OrderStatus.FILLED and "BTC" not in await b.balances()
    # a LIMIT order is held to maxNotional (as on Binance)
    await b.submit(req("tt-3", qty="149"))
    with pytest.raises(BrokerError) as ei:
        await b.submit(req("tt-4", Side.SELL, qty="149", price="74000.00"))
    assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE and "max_notional" in str(ei.value)


async def test_without_a_price_filter_fills_are_priced_to_8_decimals_and_book_exactly():
    # exchangeInfo without PRICE_FILTER (tick 0): the slipped fill price had 28 digits, so the
    # book's cash missed starting cash + realised PnL in the last digit after a round trip
    bare = SymbolFilters("XUSDT", "X", "USDT", D(0), D(0), D(0), D(0), D(0))
    px = {"XUSDT": 1.0}
    b = PaperBroker(Config(), ManualClock(1_700_000_000_000), px.get, {"XUSDT": bare},
                    quote_volume_fn=lambda s: 3.0, balances={"USDT": D(5)})
    p = Portfolio(D(5))
    for cid, side in (("tt-1", Side.BUY), ("tt-2", Side.SELL)):
        res = await b.submit(req(cid, side, qty="0.05", symbol="XUSDT"))
        assert res.fills[0].price == res.fills[0].price.quantize(D("1e-8"))
        for f in res.fills:
            p.apply_fill(f)
    assert res.fills[0].price < D(1) < (await b.query("XUSDT", "tt-1")).fills[0].price  # slipped
    assert not p.positions and p.cash == (await b.balances())["USDT"] == D(5) + p.realized_pnl


async def test_finished_orders_are_forgotten_beyond_a_bound_open_ones_never():
    # every order of a session stayed in memory: ~4 MB a day for a console left on the paced sim
    b = make(balances={"USDT": D("1000000")})
    b.kept_orders = 5
    b.hold_next()
    await b.submit(req("tt-open"))  # the oldest, and still open
    for i in range(1, 9):
        assert (await b.submit(req(f"tt-{i}", qty="0.001"))).status == OrderStatus.FILLED
    assert len(b._orders) == 5 and len(b._symbol_of) == 5
    assert (await b.query("BTCUSDT", "tt-open")).status == OrderStatus.NEW  # kept while open
    assert [r.client_order_id for r in await b.open_orders()] == ["tt-open"]
    assert await b.query("BTCUSDT", "tt-4") is None  # forgotten, oldest first
    for i in (5, 6, 7, 8):
        assert (await b.query("BTCUSDT", f"tt-{i}")).status == OrderStatus.FILLED
    assert (await b.cancel("BTCUSDT", "tt-open")).status == OrderStatus.CANCELED

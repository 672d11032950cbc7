"""Market-data validation: every rule rejects exactly the bad rows and counts its reason."""

from __future__ import annotations

import logging
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.market import validation as v
from tui_trader.market.validation import (
    FUTURE_SLACK_MS,
    RejectCounter,
    kline_batch_from_arrays,
    validate_kline_batch,
    validate_price_batch,
)
from tui_trader.models import KlineBatch, PriceBatch

IV = 60_000


def good_batch(n: int = 6, n_sym: int = 3, t0: int = 1_699_999_980_000) -> KlineBatch:
    """n clean closed klines: symbol k % n_sym, one open time per row (increasing)."""
    sym = np.arange(n) % n_sym
    ot = t0 + np.arange(n) * IV
    vals = np.tile([100.0, 110.0, 90.0, 105.0, 10.0, 1000.0, 4.0], (n, 1))
    return kline_batch_from_arrays(IV, sym, ot, ot + IV - 1, vals, np.full(n, 7))


def last_arr(n_sym: int = 3) -> np.ndarray:
    return np.full(n_sym, -1, dtype=np.int64)


CORRUPTIONS = {
    "non_finite": [("close", np.nan), ("volume", np.inf), ("high", -np.inf), ("taker_buy_base", np.nan)],
    "non_positive_price": [("open", 0.0), ("low", -1.0)],
    "negative_volume": [("volume", -1.0), ("quote_volume", -0.5), ("taker_buy_base", -0.1)],
    "taker_above_volume": [("taker_buy_base", 10.5)],
    "high_below_low": [("high", 80.0)],  # also makes open/close outside: high_below_low comes first
    "open_outside_range": [("open", 111.0), ("open", 89.0)],
    "close_outside_range": [("close", 110.5), ("close", 50.0)],
    "unknown_symbol": [("sym", 3), ("sym", -1)],
    "malformed": [("close_time", 0), ("trades", -3), ("open_time", -5)],
}


@pytest.mark.parametrize(
    "reason,field,value", [(r, f, x) for r, cs in CORRUPTIONS.items() for f, x in cs]
)
def test_each_rule_rejects_exactly_the_bad_row(reason: str, field: str, value: float) -> None:
    b = good_batch()
    getattr(b, field)[2] = value
    c = RejectCounter()
    last = last_arr()
    out = validate_kline_batch(b, 3, last, c)
    assert len(out) == 5
    assert 2 not in set(np.flatnonzero(np.isin(b.open_time, out.open_time)).tolist())
    assert c.by_reason == {reason: 1}
    assert c.total == 1


def test_clean_batch_passes_and_records_last_open_time() -> None:
    b = good_batch(9)
    last = last_arr()
    c = RejectCounter()
    out = validate_kline_batch(b, 3, last, c)
    assert len(out) == 9 and c.total == 0
    assert last.tolist() == [int(b.open_time[6]), int(b.open_time[7]), int(b.open_time[8])]


def test_row_breaking_several_rules_counts_once_under_the_first() -> None:
    b = good_batch()
    b.close[1] = np.nan
    b.volume[1] = -1.0
    b.sym[1] = 99
    c = RejectCounter()
    out = validate_kline_batch(b, 3, last_arr(), c)
    assert len(out) == 5
    assert c.by_reason == {"unknown_symbol": 1}


def test_duplicate_and_out_of_order_against_last_and_inside_batch() -> None:
    # one symbol; last accepted open time = 5*IV
    t = np.array([6, 5, 7, 7, 4, 8, 6]) * IV
    n = t.size
    vals = np.tile([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5], (n, 1))
    b = kline_batch_from_arrays(IV, np.zeros(n), t, t + IV - 1, vals, np.ones(n))
    last = np.array([5 * IV], dtype=np.int64)
    c = RejectCounter()
    out = validate_kline_batch(b, 1, last, c)
    assert out.open_time.tolist() == [6 * IV, 7 * IV, 8 * IV]
    # 5 == last -> duplicate; second 7 -> duplicate; 4 -> out of order; final 6 equals an earlier row -> duplicate
    assert c.by_reason == {"duplicate": 3, "out_of_order": 1}
    assert last.tolist() == [8 * IV]


def test_interleaved_symbols_are_judged_independently() -> None:
    t = np.array([3, 1, 2, 2, 4, 1]) * IV
    s = np.array([0, 1, 0, 1, 0, 1])
    vals = np.tile([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5], (6, 1))
    b = kline_batch_from_arrays(IV, s, t, t + IV - 1, vals, np.ones(6))
    last = last_arr(2)
    c = RejectCounter()
    out = validate_kline_batch(b, 2, last, c)
    assert list(zip(out.sym.tolist(), (out.open_time // IV).tolist(), strict=True)) == [(0, 3), (1, 1), (1, 2), (0, 4)]
    assert c.by_reason == {"out_of_order": 1, "duplicate": 1}
    assert (last // IV).tolist() == [4, 2]


def test_closed_klines_with_times_that_do_not_fit_the_interval_are_bad_time() -> None:
    b = good_batch(6)
    now = int(b.close_time.max()) + 1
    b.open_time[1] += 1  # off the minute grid (and so also not closing at open + IV - 1)
    b.close_time[2] -= 1000  # closes before its minute is over
    b.open_time[4] += 3_000 * IV  # two days ahead of the clock ...
    b.close_time[4] += 3_000 * IV  # ... otherwise a well-formed kline
    last = last_arr()
    c = RejectCounter()
    out = validate_kline_batch(b, 3, last, c, now_ms=now)
    assert out.open_time.tolist() == [int(b.open_time[k]) for k in (0, 3, 5)]
    assert c.by_reason == {"bad_time": 3}
    assert last.max() < now  # the future kline did not become the symbol's last open time
    # without a clock (replays of history) only the future rule is skipped
    c2 = RejectCounter()
    assert len(validate_kline_batch(b, 3, last_arr(), c2)) == 4 and c2.by_reason == {"bad_time": 2}
    # a local clock a few minutes slow (no NTP) still takes the klines that just closed
    assert len(validate_kline_batch(good_batch(6), 3, last_arr(), RejectCounter(), now_ms=now - 5 * IV)) == 6
    # in-progress klines are not judged on their grid or close time (the current one closes in the
    # future), only on opening after the clock's slack: the one two days ahead
    b.closed[:] = False
    c3 = RejectCounter()
    out = validate_kline_batch(b, 3, last_arr(), c3, now_ms=now)
    assert out.open_time.tolist() == [int(b.open_time[k]) for k in (0, 1, 2, 3, 5)]
    assert c3.by_reason == {"bad_time": 1}
    assert len(validate_kline_batch(b, 3, last_arr(), RejectCounter())) == 6  # without a clock: all


def test_in_progress_kline_is_checked_for_values_but_not_recorded() -> None:
    b = good_batch(3)
    b.closed[:] = False
    last = last_arr()
    c = RejectCounter()
    out = validate_kline_batch(b, 3, last, c)
    assert len(out) == 3 and last.tolist() == [-1, -1, -1]
    # an in-progress kline older than the last closed one is not an ordering error
    last[:] = b.open_time.max() + IV
    assert len(validate_kline_batch(b, 3, last, c)) == 3
    b.high[0] = 1.0
    out = validate_kline_batch(b, 3, last, c)
    assert len(out) == 2 and c.by_reason == {"high_below_low": 1}


def test_rejected_values_do_not_advance_last_open_time() -> None:
    b = good_batch(1)
    b.close[0] = np.nan
    last = last_arr(3)
    validate_kline_batch(b, 3, last, RejectCounter())
    assert last.tolist() == [-1, -1, -1]


def test_empty_batch() -> None:
    c = RejectCounter()
    out = validate_kline_batch(KlineBatch.empty(IV), 3, last_arr(), c)
    assert len(out) == 0 and c.total == 0


def _reference(rows: list[dict], n_sym: int, last: list[int]) -> tuple[list[int], dict[str, int]]:
    """Row-by-row reference implementation of the rules."""
    acc: list[int] = []
    counts: dict[str, int] = {}
    seen: dict[int, set[int]] = {}
    before = list(last)  # the newest open time accepted before this batch

    def bump(r: str) -> None:
        counts[r] = counts.get(r, 0) + 1

    for i, r in enumerate(rows):
        o, h, lo, c, vol, qv, tb = (r[k] for k in ("o", "h", "l", "c", "v", "q", "tb"))
        if not 0 <= r["s"] < n_sym:
            bump("unknown_symbol")
        elif not all(np.isfinite(x) for x in (o, h, lo, c, vol, qv, tb)):
            bump("non_finite")
        elif min(o, h, lo, c) <= 0:
            bump("non_positive_price")
        elif min(vol, qv, tb) < 0:
            bump("negative_volume")
        elif tb > vol:
            bump("taker_above_volume")
        elif h < lo:
            bump("high_below_low")
        elif not lo <= o <= h:
            bump("open_outside_range")
        elif not lo <= c <= h:
            bump("close_outside_range")
        else:
            s, t = r["s"], r["t"]
            prev = seen.setdefault(s, set())
            if t <= max(last[s], max(prev, default=-1)):
                bump("duplicate" if (t == before[s] or t in prev) else "out_of_order")
            else:
                acc.append(i)
                last[s] = t
            prev.add(t)
    return acc, counts


row_st = st.fixed_dictionaries(
    {
        "s": st.integers(-1, 3),
        "t": st.integers(0, 6),
        "o": st.sampled_from([1.0, 2.0, 3.0, -1.0, np.nan]),
        "h": st.sampled_from([2.0, 3.0, 4.0]),
        "l": st.sampled_from([0.5, 1.0, 2.0]),
        "c": st.sampled_from([1.0, 2.0, 3.0, np.inf]),
        "v": st.sampled_from([5.0, 0.0, -1.0]),
        "q": st.sampled_from([10.0, 0.0]),
        "tb": st.sampled_from([0.0, 2.0, 6.0]),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(row_st, min_size=1, max_size=25), st.lists(st.integers(-1, 4), min_size=3, max_size=3))
def test_vectorised_rules_match_row_by_row_reference(rows: list[dict], last0: list[int]) -> None:
    n = len(rows)
    vals = np.array([[r["o"], r["h"], r["l"], r["c"], r["v"], r["q"], r["tb"]] for r in rows], dtype=float)
    t = np.array([r["t"] for r in rows], dtype=np.int64)
    b = kline_batch_from_arrays(1, [r["s"] for r in rows], t, t, vals, np.zeros(n))
    last = np.array(last0, dtype=np.int64)
    c = RejectCounter()
    out = validate_kline_batch(b, 3, last, c)
    ref_last = list(last0)
    acc, counts = _reference(rows, 3, ref_last)
    assert c.by_reason == counts
    assert len(out) == len(acc)
    assert out.open_time.tolist() == [rows[i]["t"] for i in acc]
    assert out.sym.tolist() == [rows[i]["s"] for i in acc]
    assert last.tolist() == ref_last
    assert c.total == n - len(acc)


# ---------------------------------------------------------------- prices


def price_batch(n: int = 4) -> PriceBatch:
    return PriceBatch(
        sym=np.arange(n, dtype=np.int32),
        event_time=np.full(n, 1_700_000_000_000, dtype=np.int64),
        price=np.full(n, 10.0),
        open_24h=np.full(n, 9.0),
        high_24h=np.full(n, 11.0),
        low_24h=np.full(n, 8.0),
        volume_24h=np.full(n, 100.0),
        quote_volume_24h=np.full(n, 1000.0),
    )


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("sym", 7, "unknown_symbol"),
        ("event_time", -1, "malformed"),
        ("price", np.nan, "non_finite"),
        ("high_24h", np.inf, "non_finite"),
        ("price", 0.0, "non_positive_price"),
        ("low_24h", -2.0, "non_positive_price"),
        ("volume_24h", -1.0, "negative_volume"),
        ("high_24h", 7.0, "high_below_low"),
    ],
)
def test_price_rules(field: str, value: float, reason: str) -> None:
    b = price_batch()
    getattr(b, field)[1] = value
    c = RejectCounter()
    out = validate_price_batch(b, 4, c)
    assert len(out) == 3 and 1 not in out.sym.tolist()
    assert c.by_reason == {reason: 1}


def test_price_unknown_24h_fields_are_allowed() -> None:
    b = price_batch()
    b.open_24h[:] = np.nan
    b.high_24h[:] = np.nan
    b.quote_volume_24h[:] = np.nan
    c = RejectCounter()
    assert len(validate_price_batch(b, 4, c)) == 4 and c.total == 0


def test_a_price_stamped_past_the_clock_s_slack_is_a_bad_time() -> None:
    b = price_batch()
    now = int(b.event_time[0])
    b.event_time[1] = now + FUTURE_SLACK_MS + 1  # past the slack
    b.event_time[2] = now + FUTURE_SLACK_MS  # a clock up to ten minutes slow: still taken
    c = RejectCounter()
    out = validate_price_batch(b, 4, c, now_ms=now)
    assert out.sym.tolist() == [0, 2, 3] and c.by_reason == {"bad_time": 1}
    assert len(validate_price_batch(b, 4, RejectCounter())) == 4  # without a clock: not judged


# ---------------------------------------------------------------- counter


def test_counter_counts_exactly_and_rate_limits_logging(caplog, monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(v.time, "monotonic", lambda: now[0])
    c = RejectCounter()
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        for _ in range(50):
            c.reject("duplicate")
        c.reject("non_finite", 3, "close")
        c.reject("duplicate", 0)  # ignored
        now[0] += 5.0
        c.reject("duplicate", 2)
        assert c.total == 55 and c.by_reason == {"duplicate": 52, "non_finite": 3}
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2
        assert "duplicate" in lines[0] and "non_finite" in lines[1] and "close" in lines[1]
        now[0] += 10.0
        c.reject("duplicate")
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 3
        assert "+51 more" in lines[2]


def test_klinebatch_concat_keeps_row_order_and_skips_empty_batches() -> None:
    def one(sym: int, t: int) -> KlineBatch:
        vals = np.array([[1.0, 2.0, 0.5, 1.5, 10.0, 15.0, 4.0]])
        return kline_batch_from_arrays(60_000, np.array([sym]), np.array([t]), np.array([t + 59_999]), vals,
                                       np.array([7]), np.array([t < 120_000]))

    a, b = one(0, 0), one(3, 120_000)
    both = KlineBatch.concat([a, KlineBatch.empty(60_000), b], 60_000)
    assert both.sym.tolist() == [0, 3] and both.open_time.tolist() == [0, 120_000]
    assert both.closed.tolist() == [True, False] and both.trades.tolist() == [7, 7]
    assert KlineBatch.concat([a], 60_000) is a
    assert len(KlineBatch.concat([], 60_000)) == 0


_ODD = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e-13, 1e-12, 1e12, 2e12, 5.0, 11.0, 8.0]
_PRICE_FIELDS = st.sampled_from(["price", "open_24h", "high_24h", "low_24h", "volume_24h", "quote_volume_24h",
                                 "sym", "event_time"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_PRICE_FIELDS, st.integers(0, 3), st.sampled_from(_ODD)),
        max_size=4,
    ),
    st.booleans(),
)
def test_the_plain_batch_shortcut_judges_every_batch_as_the_rules_do(changes, with_now) -> None:
    # the usual batch skips the rule-by-rule masks; it must pass exactly the batches they pass
    b = price_batch()
    for field, row, value in changes:
        arr = getattr(b, field)
        if field == "sym":
            arr[row] = 7 if value != value or value < 0 else row
        elif field == "event_time":
            arr[row] = -1 if value != value or value <= 0 else 1_700_000_000_000 + 10**9 * int(value > 5)
        else:
            arr[row] = value
    now = 1_700_000_000_000 if with_now else None
    shortcut = v.prices_plainly_ok(b.sym, b.event_time, b.price, b.open_24h, b.high_24h, b.low_24h,
                                    b.volume_24h, b.quote_volume_24h, 4, now)
    c = RejectCounter()
    with mock.patch.object(v, "prices_plainly_ok", return_value=False):  # the rules alone
        kept = validate_price_batch(b, 4, c, now_ms=now)
    assert shortcut == (c.total == 0), (changes, c.by_reason)
    assert len(kept) == 4 - c.total


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        # (field, the update (row) changed - the 24h open is every update's -, symbol, value)
        st.tuples(_PRICE_FIELDS, st.integers(0, 2), st.integers(0, 3), st.sampled_from(_ODD)),
        max_size=4,
    ),
)
def test_the_figures_of_several_price_updates_pass_together_exactly_when_each_update_passes(changes) -> None:
    # the simulated market judges a candle's M price updates at once, from its (M, N) figures
    m, n = 3, 4
    b = price_batch(n)
    sym, o24 = b.sym.copy(), b.open_24h.copy()
    figs = {f: np.tile(getattr(b, f), (m, 1)) for f in ("event_time", "price", "high_24h", "low_24h", "volume_24h",
                                                         "quote_volume_24h")}
    for field, row, col, value in changes:
        if field == "sym":
            sym[col] = 7 if value != value or value < 0 else col
        elif field == "open_24h":
            o24[col] = value
        elif field == "event_time":
            figs[field][row, col] = -1 if value != value or value <= 0 else 1_700_000_000_000
        else:
            figs[field][row, col] = value
    together = v.prices_plainly_ok(sym, figs["event_time"], figs["price"], o24, figs["high_24h"], figs["low_24h"],
                                   figs["volume_24h"], figs["quote_volume_24h"], n)
    each = []
    for j in range(m):
        c = RejectCounter()
        row = PriceBatch(sym=sym, event_time=figs["event_time"][j], price=figs["price"][j], open_24h=o24,
                         high_24h=figs["high_24h"][j], low_24h=figs["low_24h"][j], volume_24h=figs["volume_24h"][j],
                         quote_volume_24h=figs["quote_volume_24h"][j])
        with mock.patch.object(v, "prices_plainly_ok", return_value=False):  # the rules alone
            validate_price_batch(row, n, c)
        each.append(c.total == 0)
    assert together == all(each), (changes, each)

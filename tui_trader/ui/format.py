"""Text formatting of numbers, money, times and ages for the console.

Pure functions (no Textual): prices with a magnitude-dependent number of
decimals, percentages, compact volumes, UTC clock strings from engine
milliseconds and human ages. ``None``/NaN/inf always render as ``"—"`` so
a missing value is never shown as a number, and a value rounded to zero reads as zero does
(``0.00``, ``+0.00%``), never ``-0.00``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from itertools import chain

import numpy as np

from tui_trader.clock import MS_PER_DAY, UTC_SHORT, utc_text

MISSING = "—"
#: Cells a price takes at most: the panes' price columns hold this and a one-cell gap.
PRICE_WIDTH = 10
#: Below this magnitude a price in fixed notation (8 decimals at most) keeps fewer than three
#: significant digits (``0.00000001`` for 1.4e-8, ``0.00000000`` for 1.2e-9): it is shown in
#: scientific notation instead.
TINY_PRICE = 1e-6


def _bad(x: float | None) -> bool:
    return x is None or not math.isfinite(x)


def shown_zero(text: str) -> bool:
    """Whether a formatted number reads as zero (``0.00``, ``+0.00%``): no digit but 0 before any
    exponent. A colour for its sign (profit, loss) then says nothing either."""
    mant = text.partition("e")[0]
    return any(c == "0" for c in mant) and not any(c in "123456789" for c in mant)


def _no_minus_zero(text: str, sign: bool = False) -> str:
    """``text`` without the minus of a negative value rounded to zero: ``-0.00`` (a loss of
    nothing, -0.001 rounded) reads as exactly zero does, ``0.00`` or with ``sign`` ``+0.00``."""
    if text.startswith("-") and shown_zero(text):
        return ("+" if sign else "") + text[1:]
    return text


#: The powers of ten at which a price takes one decimal fewer (8 under 0.01, none from 100,000 up),
#: as the floats their text reads. A price's decimals count those it reaches, by exact comparison, in
#: :func:`price_decimals` and vectorised in :func:`fmt_prices` alike: ``floor(log10(p))`` rounded
#: some prices a few ulps under a power of ten up to it, math's and numpy's not the same ones, and
#: the prices table showed 1,000.000 where the symbol's detail read 1,000.00.
_DECIMALS_DROP_AT = (1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5)
_DECIMALS_DROP_AT_NP = np.array(_DECIMALS_DROP_AT)


def price_decimals(p: float) -> int:
    """Decimals that show about 6 significant digits of a price (0..8)."""
    if _bad(p) or p == 0:
        return 2
    return 8 - bisect_right(_DECIMALS_DROP_AT, abs(p))


def fmt_sci(x: float, width: int = PRICE_WIDTH, sign: bool = False, digits: int = 6) -> str:
    """``x`` in scientific notation with as many significant digits (``digits`` at most) as fit
    in ``width`` cells: ``1.23457e9``, ``1.2345e-8``. Never cut: when even one digit does not
    fit, the shortest form (``1e9``) is returned, longer than ``width``."""
    if _bad(x):
        return MISSING
    text = ""
    for d in range(max(0, digits - 1), -1, -1):
        mant, _, exp = f"{x:{'+' if sign else ''}.{d}e}".partition("e")
        text = f"{mant}e{int(exp)}"
        if len(text) <= width:
            break
    return _no_minus_zero(text, sign)


def _price_text(f: float, decimals: int, width: int) -> str:
    if f != 0 and abs(f) < TINY_PRICE:
        return fmt_sci(f, width)
    text = _no_minus_zero(f"{f:,.{decimals}f}")
    return text if len(text) <= width else fmt_sci(f, width)


def fmt_price(p: float | Decimal | None, width: int = PRICE_WIDTH) -> str:
    """A price with about 6 significant digits, thousands separated, in at most ``width`` cells:
    one too large (``1.234568e9``) or too small (``1.2e-8``) for that is shown in scientific
    notation, never cut to its first digits nor rounded to zero."""
    if p is None:
        return MISSING
    f = float(p)
    if _bad(f):
        return MISSING
    return _price_text(f, price_decimals(f), width)


def fmt_exact_price(p: Decimal | float | None, width: int = PRICE_WIDTH) -> str:
    """A price the exchange set - a fill's, an order's, an entry's (an exact Decimal), a last
    trade's (a float read from the exchange's text) - with every digit it has (trailing zeros
    dropped), thousands separated, when that fits ``width`` cells: :func:`fmt_price`'s six
    significant digits read a fill at 60,414.28 as 60,414.3 (not the price on the exchange's
    tick) and one at 151.17 as 151.170. Else (an average entry's long division, more than 8
    decimals) as :func:`fmt_price` shows it."""
    if isinstance(p, float) and math.isfinite(p):
        p = Decimal(repr(p))  # the shortest text that reads back as this float: the exchange's
    if not isinstance(p, Decimal) or not p.is_finite() or p == 0:
        return fmt_price(p, width)
    exact = p.normalize()
    decimals = max(0, -int(exact.as_tuple().exponent))
    if decimals > 8:
        return fmt_price(p, width)
    text = f"{exact:,.{decimals}f}"
    return text if len(text) <= width else fmt_price(p, width)


def fmt_tick_price(p: float | Decimal | None, tick_decimals: int, width: int = PRICE_WIDTH) -> str:
    """A market price as the exchange shows it: with the decimals of its symbol's tick
    (``tick_decimals``, from :func:`~tui_trader.execution.filters.tick_decimals`): BTCUSDT's
    54,765.63 and 54,765.60 on its 0.01 tick (:func:`fmt_price`'s six significant digits read
    54,765.6 for both), ADAUSDT's 0.42743 on 0.00001 (not 0.427430). A price off its tick (an
    average) gets :func:`fmt_price`'s decimals if more; no tick known (-1), a tiny price or one too
    wide for ``width`` this way: as :func:`fmt_price` shows it."""
    if p is None:
        return MISSING
    f = float(p)
    if _bad(f) or tick_decimals < 0 or f == 0 or abs(f) < TINY_PRICE:
        return fmt_price(f, width)
    d = int(tick_decimals)
    text = f"{f:,.{d}f}"
    if abs(float(text.replace(",", "")) - f) > abs(f) * 1e-12:  # off its tick (beyond a float's error)
        d = min(8, max(d, price_decimals(f)))
        text = f"{f:,.{d}f}"
    text = _no_minus_zero(text)
    return text if len(text) <= width else fmt_price(f, width)


def fmt_last_price(p: float | Decimal | None, tick_decimals: int) -> str:
    """A symbol's last price in the positions pane and the detail: on its tick
    (:func:`fmt_tick_price`), or every digit given (:func:`fmt_exact_price`) when no tick is known."""
    return fmt_exact_price(p) if tick_decimals < 0 else fmt_tick_price(p, tick_decimals)


def fmt_prices(prices: np.ndarray, width: int = PRICE_WIDTH, tick_decimals: np.ndarray | None = None) -> list[str]:
    """:func:`fmt_price` over a float64 array (decimals computed vectorised); with
    ``tick_decimals`` (one per price, -1 where unknown) :func:`fmt_tick_price` of each."""
    if tick_decimals is not None:
        return [fmt_tick_price(p, d, width) for p, d in zip(prices.tolist(), tick_decimals.tolist(), strict=True)]
    dec = 8 - np.searchsorted(_DECIMALS_DROP_AT_NP, np.abs(prices), side="right")
    dec[prices == 0] = 2  # as price_decimals (a non-finite price reads MISSING, whatever its decimals)
    out = []
    for p, d in zip(prices.tolist(), dec.tolist(), strict=True):
        out.append(MISSING if not math.isfinite(p) else _price_text(p, d, width))
    return out


def fmt_pct(x: float | None, decimals: int = 2, sign: bool = True, width: int | None = None) -> str:
    """A percentage (``x`` already in percent): ``+1.23%``. With ``width``: fewer decimals where
    the text would be longer (``+123.5%``), then scientific notation, never cut."""
    if _bad(x):
        return MISSING
    plus = "+" if sign else ""
    texts = (_no_minus_zero(f"{x:{plus}.{d}f}%", sign) for d in range(decimals, -1, -1))
    if width is None:
        return next(texts)
    return _first_fit(texts, width) or fmt_sci(x, width - 1, sign) + "%"


def _first_fit(texts: Iterable[str], width: int) -> str | None:
    """The first of ``texts`` (tried in order, most precise first) that fits ``width`` cells."""
    return next((t for t in texts if len(t) <= width), None)


_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def fmt_money(
    x: float | Decimal | None, decimals: int = 2, sign: bool = False, width: int | None = None
) -> str:
    """An amount of quote currency, thousands separated: ``12,345.67``. With ``width``: an amount
    longer than that loses its decimals (``1,234,567``), then reads ``1.2346B`` (K, M, B, T), then
    in scientific notation: never cut to its first digits."""
    if x is None:
        return MISSING
    f = float(x)
    if _bad(f):
        return MISSING
    plus = "+" if sign else ""
    if width is None:
        return _no_minus_zero(f"{f:{plus},.{decimals}f}", sign)
    # 999,999,999.9 reads 1.0000B, not 1000.0M
    div, suf = next(((d, s) for d, s in _SUFFIXES if abs(f) >= d * 0.9995), (0.0, ""))
    texts = chain(
        (f"{f:{plus},.{decimals}f}", f"{f:{plus},.0f}"),
        (f"{f / div:{plus}.{d}f}{suf}" for d in range(4, -1, -1)) if div else (),
    )
    return _first_fit((_no_minus_zero(t, sign) for t in texts), width) or fmt_sci(f, width, sign)


#: The most decimals :func:`fmt_cash` shows (an exchange's quote balances have 8).
CASH_DECIMALS = 8


def fmt_cash(x: Decimal | float | None) -> str:
    """The book's cash as the engine holds it, thousands separated and with at least two decimals:
    ``99.999`` reads ``99.999``, never ``100.00``. :func:`fmt_money`'s two decimals rounded 99.999
    up, and the buy dialog then refused 100 as "more than the cash 100.00". Beyond
    :data:`CASH_DECIMALS` it is rounded down: never more than is there."""
    if x is None:
        return MISSING
    if isinstance(x, float):
        if _bad(x):
            return MISSING
        x = Decimal(repr(x))
    if not x.is_finite():
        return MISSING
    exact = x.quantize(Decimal(1).scaleb(-CASH_DECIMALS), rounding=ROUND_DOWN) if x.as_tuple().exponent < -CASH_DECIMALS else x
    decimals = max(2, -int(exact.normalize().as_tuple().exponent))
    return _no_minus_zero(f"{exact:,.{decimals}f}")


def fmt_qty(q: Decimal | float | None, width: int | None = None) -> str:
    """A base quantity without trailing zeros (Decimal keeps exchange precision). With ``width``:
    a longer one is rounded to fewer decimals (never to zero), then in scientific notation."""
    if q is None:
        return MISSING
    if isinstance(q, Decimal):
        if not q.is_finite():
            return MISSING
        text = format(q.normalize(), "f")
    elif _bad(q):
        return MISSING
    else:
        text = _no_minus_zero(f"{q:.8f}".rstrip("0").rstrip("."))
        if q != 0 and float(text) == 0:  # under 5e-9: never read as none
            text = fmt_sci(q, width or PRICE_WIDTH)
    if width is None or len(text) <= width:
        return text
    f = float(q)
    exact = q if isinstance(q, Decimal) else Decimal(repr(f))
    for d in range(max(1, width - 2), 0, -1):  # the most decimals that fit (exact: no float digits)
        try:
            short = format(round(exact, d), "f")
        except InvalidOperation:  # more digits than the context's precision: fewer decimals
            continue
        short = short.rstrip("0").rstrip(".") if "." in short else short
        if len(short) <= width and float(short) != 0:
            return short
    short = f"{f:.0f}"
    if len(short) <= width and float(short) != 0 and abs(f) >= 1:
        return short
    return fmt_sci(f, width)


def fmt_compact(x: float | None) -> str:
    """A compact magnitude: ``950``, ``12.3K``, ``4.56M``, ``7.89B``."""
    if _bad(x):
        return MISSING
    a = abs(x)
    for div, suf in _SUFFIXES:
        if a >= div:
            return f"{x / div:.2f}{suf}" if a / div < 100 else f"{x / div:.1f}{suf}"
    return _no_minus_zero(f"{x:.0f}")


def fmt_num(x: float | None, decimals: int = 2, sign: bool = False) -> str:
    """A plain float (ratings, z-scores, volatility)."""
    if _bad(x):
        return MISSING
    return _no_minus_zero(f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}", sign)


def fmt_clock(ts_ms: int, with_date: bool = True) -> str:
    """Engine time (ms since the epoch) as UTC: ``2024-01-02 03:04:05Z``."""
    if ts_ms is None or ts_ms <= 0:
        return MISSING
    return utc_text(ts_ms, "%Y-%m-%d %H:%M:%SZ" if with_date else "%H:%M:%SZ")


def fmt_when(ts_ms: int, ref_ms: int) -> str:
    """Engine time for a list of recent events: ``03:04:05Z`` on the UTC day of ``ref_ms`` (now,
    in engine time), ``01-02 03:04`` on another day (a replay of daily klines, a long run)."""
    if ts_ms is None or ts_ms <= 0:
        return MISSING
    if ts_ms // MS_PER_DAY == ref_ms // MS_PER_DAY:
        return fmt_clock(ts_ms, with_date=False)
    return utc_text(ts_ms, UTC_SHORT)


def fmt_age(ms: int | float | None) -> str:
    """A duration in milliseconds as ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    if ms is None or _bad(float(ms)) or ms < 0:
        return MISSING
    s = int(ms // 1000)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def one_line(text: object, limit: int) -> str:
    """``text`` on one line (runs of white space, newlines too, made one space) and at most
    ``limit`` characters, ending in ``…`` when cut."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"

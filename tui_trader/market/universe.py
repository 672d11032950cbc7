"""Choosing the traded symbol universe.

An explicit symbol list always wins. Otherwise the universe is the top N
symbols by 24h quote volume (``q`` in websocket tickers, ``quoteVolume`` in REST
``/api/v3/ticker/24hr``) among those quoted in ``quote_asset``, excluding the
blacklist and leveraged tokens (``BTCUPUSDT``, ``ETHDOWNUSDT``, ``*BULL``, ``*BEAR``),
and, when ``tradable`` is given (e.g. the TRADING symbols of exchangeInfo), those
not in it. Ties are broken by symbol name, so the result is deterministic.

A replay (and so a backtest or a sweep) trades the symbols of its files, or ``feed.symbols``:
the blacklist applies there too (:func:`refuse_blacklisted`, :func:`drop_blacklisted`), while
``top_n`` and ``quote_asset`` choose among the live 24h tickers only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

log = logging.getLogger("tui_trader.market")

# Real spot coins whose names happen to end like a leveraged token.
NOT_LEVERAGED = frozenset({"SYRUP", "JUP", "SUP", "PUP"})


def is_leveraged_token(symbol: str, quote_asset: str) -> bool:
    """Binance leveraged tokens: ``<COIN>UP`` / ``<COIN>DOWN`` (coin of 3+ letters, e.g.
    BTCUPUSDT, LINKDOWNUSDT) and the older ``*BULL`` / ``*BEAR`` ones (ETHBULLUSDT, BEARUSDT)."""
    s = symbol.upper()
    q = quote_asset.upper()
    base = s[: -len(q)] if s.endswith(q) else s
    if base in NOT_LEVERAGED:
        return False
    for suffix in ("UP", "DOWN"):
        if base.endswith(suffix) and len(base) - len(suffix) >= 3:
            return True
    return base.endswith(("BULL", "BEAR"))


def _quote_volume(t: dict) -> float:
    v = t.get("q", t.get("quoteVolume"))
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        return math.nan
    try:
        f = float(v)
    except (ValueError, OverflowError):  # OverflowError: an integer beyond any float
        return math.nan
    return f if math.isfinite(f) and f >= 0 else math.nan


def select_universe(
    explicit: list[str],
    tickers_24h: list[dict] | None,
    quote_asset: str,
    top_n: int,
    blacklist: Iterable[str],
    tradable: set[str] | None = None,
) -> list[str]:
    """The symbols to trade, upper-case, without duplicates.

    ``explicit`` non-empty: that list in its order (blacklisted names removed).
    Else the top ``top_n`` of ``tickers_24h`` by quote volume (descending, ties by
    symbol). Tickers without a symbol or with an unreadable volume are ignored.
    Raises ValueError when there is no explicit list and no tickers to rank.
    """
    black = _black(blacklist)
    if explicit:
        out: list[str] = []
        for s in explicit:
            u = s.strip().upper()
            if u and u not in black and u not in out:
                out.append(u)
        return out
    if tickers_24h is None:
        raise ValueError("no symbol list and no 24h tickers to choose the universe from")
    q = quote_asset.strip().upper()
    ranked: dict[str, float] = {}
    for t in tickers_24h:
        if not isinstance(t, dict):
            continue
        s = t.get("s", t.get("symbol"))
        if not isinstance(s, str):
            continue
        s = s.upper()
        if not s.endswith(q) or len(s) <= len(q) or s in black or is_leveraged_token(s, q):
            continue
        if tradable is not None and s not in tradable:
            continue
        v = _quote_volume(t)
        if math.isnan(v):
            continue
        ranked[s] = max(v, ranked.get(s, -1.0))
    order = sorted(ranked.items(), key=lambda kv: (-kv[1], kv[0]))
    return [s for s, _ in order[: max(0, int(top_n))]]


def _black(blacklist: Iterable[str]) -> set[str]:
    return {b.strip().upper() for b in blacklist}


def refuse_blacklisted(
    symbols: Iterable[str], blacklist: Iterable[str], named_by: str = "feed.symbols (--symbols)"
) -> None:
    """An explicit symbol list (``feed.symbols`` / ``--symbols``, ``named_by``) naming a
    blacklisted symbol is a contradiction, neither traded nor dropped without a word: ValueError
    naming both fields."""
    black = _black(blacklist)
    named = list(dict.fromkeys(u for s in symbols if (u := s.strip().upper()) in black))
    if named:
        raise ValueError(
            f"{named_by} names {', '.join(named)}, which feed.universe.blacklist excludes: "
            "take it out of one of the two"
        )


def drop_blacklisted(names: Sequence[str], blacklist: Iterable[str], where: str) -> list[str]:
    """``names`` (the symbols of a replay's data, ``where``) without the blacklisted ones, in
    order; one INFO line names those left out. ValueError naming ``feed.universe.blacklist``
    when it leaves none."""
    black = _black(blacklist)
    out = [s for s in names if s not in black]
    dropped = [s for s in names if s in black]
    if not dropped:
        return out
    if not out:
        raise ValueError(
            f"feed.universe.blacklist excludes every symbol of {where} ({', '.join(dropped)}): nothing to trade"
        )
    log.info("feed.universe.blacklist: not trading %s (in %s)", ", ".join(dropped), where)
    return out

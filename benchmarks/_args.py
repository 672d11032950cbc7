"""What the benchmark scripts share about their command line and their output.

A bad option value is a usage error: the script prints its usage and one line naming the
option, and exits 2 before any timing starts (never a traceback, never minutes of work before
the refusal). ``--json`` output goes through :func:`json_line`: one line of strict JSON, an
undefined figure (nothing measured, e.g. ``--presses 0``) as ``null`` rather than ``NaN``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: The simulated market's universe size limits (``feed.sim.n_symbols``).
SIM_SYMBOLS = (2, 5000)


def default_data() -> Path:
    """The real 2024 klines: ``$TUI_TRADER_SHARED_DATA/binance_spot_klines``, else
    ``../shared/data/binance_spot_klines`` beside the checkout."""
    env = os.environ.get("TUI_TRADER_SHARED_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data") / "binance_spot_klines"


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``lo`` to ``hi`` (inclusive; no upper bound if None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"at least {lo}" if hi is None else f"from {lo} to {hi}"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}, got {value}")
        return value

    return parse


def int_list(lo: int, hi: int | None = None) -> Callable[[str], list[int]]:
    """An argparse type: a comma list of integers, each from ``lo`` to ``hi``."""
    one = int_range(lo, hi)

    def parse(text: str) -> list[int]:
        values = [one(x.strip()) for x in text.split(",") if x.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}")
        return values

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def check_data_dir(ap: argparse.ArgumentParser, path: Path, skip_hint: str = "") -> None:
    """Exit 2 with a clear message when the kline folder is missing (or is a file)."""
    if path.is_file():
        ap.error(
            f"--data: {path} is a file: the benchmarks replay a folder (SYMBOL/INTERVAL/*.json or data.binance.vision files)"
        )
    if not path.is_dir():
        ap.error(
            f"--data: data folder not found: {path} (the default is $TUI_TRADER_SHARED_DATA/binance_spot_klines, "
            f"else ../shared/data/binance_spot_klines beside the checkout){skip_hint}"
        )


def config_or_exit(ap: argparse.ArgumentParser, data: dict[str, Any], options: str) -> Any:
    """The :class:`~tui_trader.config.Config` of ``data``; a value it refuses exits 2, naming
    the benchmark's ``options`` that set it and the configuration field."""
    from pydantic import ValidationError

    from tui_trader.config import Config

    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        why = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors(include_url=False)
        )
        ap.error(f"{options}: {why}")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_line(out: Any, *, sort_keys: bool = False) -> str:
    """``out`` as one line of strict JSON: NaN and infinities become ``null``."""
    return json.dumps(_finite(out), sort_keys=sort_keys, allow_nan=False)

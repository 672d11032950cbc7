"""Issue #6: the --json report has stable key names, documented in the README - every key the
code writes is named in the README's Backtesting section."""

from __future__ import annotations

import re
from pathlib import Path

from tui_trader.backtest.metrics import METRIC_KEYS, PER_SYMBOL_KEYS
from tui_trader.backtest.report import REPORT_KEYS

README = Path(__file__).resolve().parent.parent / "README.md"


def _json_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("`--json` prints one JSON object with stable keys")
    return text[start : text.index("\n\n", start)]


def test_every_json_key_of_the_backtest_report_is_documented():
    named = set(re.findall(r"`([a-z_]+)`", _json_section()))
    for group, keys in (("report", REPORT_KEYS), ("metrics", METRIC_KEYS), ("per_symbol", PER_SYMBOL_KEYS)):
        missing = [k for k in keys if k not in named]
        assert not missing, f"{group} keys missing from the README: {missing}"

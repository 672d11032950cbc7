"""A SIGTERM or Ctrl-C in the first seconds of ``tui-trader run``, before the engine's loop handles
signals, stops it cleanly too.

The runner installed its handlers only once the engine was built (the feed made, the replay's files
found): until then, 1-2 s of a replay's start here, SIGTERM killed the process by default (exit
143, no summary, no word), and a Ctrl-C while ``main`` was still importing printed a
KeyboardInterrupt traceback. Each case runs in a process of its own (a default SIGTERM would end the
test's worker).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Python run in a child: ``hook`` patches one step of the start-up to signal the process itself
CHILD = """
import os, signal, sys
from tui_trader.cli import main
{hook}
sys.exit(main({argv!r}))
"""


def _child(tmp_path: Path, hook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["run", "--feed", "sim", "--speed", "max", "--n-symbols", "4", "--duration", "30s", "--json",
            "--db", str(tmp_path / "run.db"), *extra]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TUI_TRADER_CACHE_DIR": "off",
    }
    return subprocess.run([sys.executable, "-c", CHILD.format(hook=hook, argv=argv)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)


def test_a_sigterm_while_the_engine_is_built_stops_the_run_with_its_summary(tmp_path: Path) -> None:
    hook = """
import tui_trader.runtime as rt
real = rt.build_engine
def build_engine(*a, **k):
    os.kill(os.getpid(), signal.SIGTERM)  # as a supervisor's stop lands while the feed is made
    return real(*a, **k)
rt.build_engine = build_engine
"""
    res = _child(tmp_path, hook)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["stopped_by"] == "signal" and summary["periods"] == 0
    assert "SIGTERM received" in res.stderr and "Traceback" not in res.stderr
    # every key README gives for --json, the book's figures null (no book was read)
    readme_keys = {"feed", "symbols", "klines", "klines_per_symbol", "periods", "events_per_s", "wall_time_s",
                   "signals", "orders", "fills", "rejected_orders", "rejected_messages", "rejected_by_reason",
                   "feed_counts", "final_equity", "return_pct", "max_drawdown_pct", "cash", "fees_paid",
                   "open_positions", "state", "stopped_by", "db", "book_resumed", "starting_balance"}
    assert readme_keys <= summary.keys(), readme_keys - summary.keys()
    assert summary["final_equity"] is None and summary["cash"] is None and summary["fills"] == 0


def test_a_sigterm_while_the_configuration_is_read_says_interrupted(tmp_path: Path) -> None:
    hook = """
import tui_trader.cli as cli
real = cli.load_cfg
def load_cfg(*a, **k):
    os.kill(os.getpid(), signal.SIGTERM)  # nothing is open yet: nothing to flush or report
    return real(*a, **k)
cli.load_cfg = load_cfg
"""
    res = _child(tmp_path, hook)
    assert res.returncode == 130, (res.returncode, res.stderr[-2000:])
    assert res.stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in res.stderr
    assert not (tmp_path / "run.db").exists()


def test_a_ctrl_c_while_main_imports_says_interrupted(tmp_path: Path) -> None:
    # main's first lines import the configuration and storage modules: a KeyboardInterrupt there
    hook = """
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "tui_trader.storage.schema":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
"""
    res = _child(tmp_path, hook)
    assert res.returncode == 130, (res.returncode, res.stderr[-2000:])
    assert res.stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in res.stderr

"""The run summary's ``periods`` (and the status line's) count the warm-up's rating periods too, as
``klines`` does: a sim run reports its generated history's periods beside the few it traded. The
README said so only of ``klines``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tui_trader.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_periods_count_the_warm_up_and_the_readme_says_so(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[feed.sim]\nwarmup_periods = 60\n[monitoring]\nlog_file = "off"\n')
    # 60x real time for 1 s: one simulated minute, not one whole 5-minute rating period
    args = ["run", "--feed", "sim", "--speed", "60", "--n-symbols", "3", "--duration", "1s"]
    assert (
        main([*args, "--db", str(tmp_path / "r.db"), "--config", str(cfg), "--json", "--status-every", "0"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["periods"] >= 60  # the warm-up's, all of them
    text = " ".join(README.read_text().split())
    assert re.search(r"`periods` \([^)]*warm-up's included", text), "the --json keys do not say it"
    assert "status line" in text and re.search(
        r"periods, as the summary's `periods`, count the warm-up", text
    )

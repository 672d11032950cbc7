"""``run --json``'s keys are the ones the README lists, no more and no fewer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tui_trader import headless
from tui_trader.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_paragraph(opening: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(opening)
    return text[start : text.index("\n\n", start)]


def test_run_json_keys_are_the_readmes(tmp_path: Path, capsys, monkeypatch) -> None:
    para = readme_paragraph("`run --json` prints the summary")
    documented = set(re.findall(r"`([a-z_]+)`", para)) - {"run"}
    stop_reasons = set(re.findall(r"`([a-z]+ ?[a-z]*)`", para.split("`stopped_by`")[1].split(")")[0]))
    assert stop_reasons == {"data ended", "duration reached", "signal"}
    argv = [
        "run",
        "--feed",
        "sim",
        "--speed",
        "max",
        "--json",
        "--db",
        str(tmp_path / "r.db"),
    ]
    # a sim that ends after 50 klines (a --duration counts the start-up too, which could outlast it)
    real = headless.run_headless
    monkeypatch.setattr(
        headless, "run_headless", lambda cfg, d, console, **kw: real(cfg, d, console, max_klines=50, **kw)
    )
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == documented - stop_reasons
    assert out["stopped_by"] in stop_reasons and out["book_resumed"] is False
    assert isinstance(out["cash"], str) and isinstance(out["fees_paid"], str)

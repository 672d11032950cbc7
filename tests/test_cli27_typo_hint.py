"""An unknown key says which key it probably meant, or the keys of its table: "unknown key
(typo?)" left the operator to find the right spelling in default.toml."""

from __future__ import annotations

from pathlib import Path

from tui_trader.cli import main
from tui_trader.config import check


def _said(data: dict) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in check(data).errors]


def test_a_near_miss_names_the_key_meant() -> None:
    assert _said({"risk_management": {"stop_loss_percnt": 3}}) == [
        ("risk_management.stop_loss_percnt", "unknown key (typo of 'stop_loss_percent'?)")
    ]
    assert _said({"risk_managment": {"stop_loss_percent": 3}}) == [
        ("risk_managment", "unknown key (typo of 'risk_management'?)")
    ]
    assert _said({"feed": {"sim": {"n_symbol": 3}}}) == [
        ("feed.sim.n_symbol", "unknown key (typo of 'n_symbols'?)")
    ]


def test_no_near_miss_lists_the_tables_keys() -> None:
    assert _said({"ui": {"colour": "red"}}) == [
        ("ui.colour", "unknown key (typo?): the keys of [ui] are theme, refresh_ms, chart_refresh_ms")
    ]
    [(path, message)] = _said({"zzz": 1})
    assert path == "zzz" and message.startswith("unknown key (typo?): the tables are signal_generation, ")


def test_config_check_prints_it(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[risk_management]\nstop_loss_percnt = 3.0\n")
    assert main(["config", "check", str(f)]) == 2
    assert capsys.readouterr().out.splitlines()[0] == (
        "error: risk_management.stop_loss_percnt: unknown key (typo of 'stop_loss_percent'?)"
    )

"""Files saved with a UTF-8 byte order mark (Windows Notepad's "UTF-8") are read as UTF-8.

The mark made a valid file "not valid TOML: Invalid statement (at line 1, column 1)", an error
that points at nothing visible; a theme file with it was skipped for the same reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import load_config
from tui_trader.ui.themes import load_theme_file

BOM = b"\xef\xbb\xbf"


def test_a_config_file_with_a_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.toml"
    f.write_bytes(
        BOM + b'[ui]\r\ntheme = "tui-trader-light"\r\n[risk_management]\r\nmax_total_positions = 3\r\n'
    )
    cfg, _ = load_config(f)
    assert cfg.ui.theme == "tui-trader-light" and cfg.risk_management.max_total_positions == 3
    assert main(["config", "check", str(f)]) == 0
    assert "OK" in capsys.readouterr().out


def test_a_byte_order_mark_inside_the_file_is_still_an_error(tmp_path: Path) -> None:
    from tui_trader.config import ConfigError

    f = tmp_path / "c.toml"
    f.write_bytes(b"[ui]\n" + BOM + b'theme = "x"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f)


def test_a_theme_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_bytes(BOM + b'name = "mine"\nprimary = "#3B82F6"\n')
    assert load_theme_file(f).name == "mine"


def test_replay_times_may_be_toml_dates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # unquoted, TOML reads them as a date and a date-time: they were refused as
    # "Input should be a valid string (got datetime.date(2024, 1, 1))"
    f = tmp_path / "c.toml"
    f.write_text("[feed.replay]\nstart = 2024-01-01\nend = 2024-03-01T13:00:00+01:00\n")
    cfg, _ = load_config(f)
    from tui_trader.clock import parse_time

    assert parse_time(cfg.feed.replay.start) == parse_time("2024-01-01")
    assert parse_time(cfg.feed.replay.end) == parse_time("2024-03-01T12:00Z")
    assert main(["config", "check", str(f)]) == 0
    capsys.readouterr()
    f.write_text("[feed.replay]\nstart = 12:00:00\n")  # a time of day alone is no time
    assert main(["config", "check", str(f)]) == 2
    assert "feed.replay.start" in capsys.readouterr().out

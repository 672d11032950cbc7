"""``feed.replay.start`` / ``end`` in a configuration file: a time no date can hold (epoch ms past
the year 9999) is the field's error, exit 2. ``start = "99999999999999999999"`` passed
``config check`` and ``tui-trader run`` then ended in a traceback (OSError, Value too large)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


@pytest.mark.parametrize("key", ["start", "end"])
@pytest.mark.parametrize("value", ["99999999999999999999", "253402300800000"])
def test_config_check_names_a_time_past_the_year_9999(key: str, value: str, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[feed.replay]\n{key} = "{value}"\n')
    assert main(["config", "check", str(cfg)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"error: feed.replay.{key}: out of range: a time from 0001-01-01 to 9999-12-31 (UTC) "
        f"is expected (got {value!r})"
    )


def test_the_last_millisecond_of_9999_is_a_time(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[feed.replay]\nstart = "253402300799999"\n')
    assert main(["config", "check", str(cfg)]) == 0, capsys.readouterr().out


def test_run_refuses_it_in_one_line(quiet: Path, capsys) -> None:
    cfg = quiet / "c.toml"
    cfg.write_text('[feed.replay]\nstart = "99999999999999999999"\n')
    data = quiet / "klines" / "BTCUSDT" / "1h"
    data.mkdir(parents=True)
    row = [1704067200000, "1", "2", "0.5", "1.5", "10", 1704070799999, "15", 5, "5", "7.5", "0"]
    (data / "2024-01-01.json").write_text(f"[{row}]".replace("'", '"'))
    argv = [
        "run",
        "--config",
        str(cfg),
        "--data",
        str(quiet / "klines"),
        "--interval",
        "1h",
        "--db",
        str(quiet / "r.db"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [
        "  feed.replay.start: out of range: a time from 0001-01-01 to 9999-12-31 (UTC) "
        "is expected (got '99999999999999999999')"
    ], err
    assert err[0].startswith("error: invalid configuration (from ")
    assert not (quiet / "r.db").exists()

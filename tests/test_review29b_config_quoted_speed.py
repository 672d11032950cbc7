"""``feed.speed`` is a number or "max": a quoted number (``speed = "60"``) in a file is a value of
the wrong type like any other field's (README: a quoted ``"2"`` for a number is a hard error). The
field's own parsing read the text as 60 without a word while ``stop_loss_percent = "2"`` was refused.
A sweep's ``--param feed.speed=...`` is text to be typed and still reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import ConfigError, check, load_config


def test_a_quoted_number_for_the_speed_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[feed]\nspeed = "60"\n')
    assert main(["config", "check", str(f)]) == 2
    assert "error: feed.speed:" in capsys.readouterr().out
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    assert [i.path for i in exc.value.issues] == ["feed.speed"]


def test_max_in_quotes_a_number_and_text_to_be_typed_still_read(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[feed]\nspeed = "MAX"\n')
    assert load_config(f)[0].feed.speed == "max"
    f.write_text("[feed]\nspeed = 60\n")
    assert load_config(f)[0].feed.speed == 60.0
    res = check({"feed": {"speed": "60"}}, require_keys=False)  # not strict: a sweep's --param text
    assert res.config is not None and res.config.feed.speed == 60.0

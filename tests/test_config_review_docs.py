"""config/default.toml documents every key: the README says so, and an operator reads it there."""

from __future__ import annotations

import re
from pathlib import Path

from tui_trader.config import Config

DEFAULT = Path(__file__).resolve().parent.parent / "config" / "default.toml"
KEY = re.compile(r"^([a-z_]+)\s*=")


def undocumented(text: str | None = None) -> list[str]:
    """Keys with neither a comment on their line nor a comment line right above them. An indented
    comment line goes on the comment of the key above it: ``log_level`` under the last line of
    ``alerting_enabled``'s comment passed as explained, with nothing said of its values."""
    out, table, previous = [], "", ""
    for line in (DEFAULT.read_text() if text is None else text).splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped.split("]")[0].strip("[")
        elif (m := KEY.match(stripped)) and "#" not in stripped and not previous.startswith("#"):
            out.append(f"{table}.{m.group(1)}")
        previous = line  # a comment line above counts only when it starts the line
    return out


def test_every_key_of_the_shipped_default_is_explained() -> None:
    assert undocumented() == []


def test_a_continued_comment_is_not_the_next_keys() -> None:
    text = '[monitoring]\nalerting_enabled = true  # rings the bell\n                         # besides its toast\nlog_level = "info"\n'
    assert undocumented(text) == ["monitoring.log_level"]
    assert undocumented('[feed]\n# the feed\'s kind\nkind = "sim"\n') == []


def test_the_checker_sees_every_field() -> None:
    # the check above reads the file line by line: every field of the model is a line in it
    text = DEFAULT.read_text()
    for section, model in Config().model_dump().items():
        for key, value in model.items():
            if not isinstance(value, dict):
                assert re.search(rf"^{key}\s*=", text, re.M), f"{section}.{key}"

"""An API key or secret written into a configuration file is refused, saying where keys belong,
and its value is never echoed (config check, config show, run).

It was refused as "unknown key (typo?)", which sent the operator looking for the right
spelling of a key that the configuration never reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import check

SECRET = "sEcReT0123456789abcdef"


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        (f'BINANCE_API_KEY = "{SECRET}"\n', "BINANCE_API_KEY"),
        (f'[binance]\napi_secret = "{SECRET}"\n', "binance.api_secret"),
        (f'[broker]\napi_key = "{SECRET}"\n', "broker.api_key"),
        (f'[binance]\ntoken = "{SECRET}"\n', "binance.token"),
    ],
)
def test_a_secret_in_a_file_is_refused_and_never_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, path: str
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(toml)
    for argv in (
        ["config", "check", str(f)],
        ["config", "show", str(f)],
        ["run", "--headless", "--config", str(f), "--db", str(tmp_path / "x.db"), "--duration", "1s"],
    ):
        assert main(argv) == 2, argv
        out = capsys.readouterr()
        text = out.out + out.err
        assert f"{path}: API keys are never read from a file" in text, text
        assert "BINANCE_API_KEY / BINANCE_API_SECRET" in text
        assert SECRET not in text


def test_an_ordinary_typo_is_still_called_one() -> None:
    res = check({"signal_generation": {"z_scor_threshold": 2}})
    assert [(i.path, i.message) for i in res.errors] == [
        ("signal_generation.z_scor_threshold", "unknown key (typo of 'z_score_threshold'?)")
    ]


@pytest.mark.parametrize("key", ["rest_url", "stream_url"])
def test_a_password_in_an_exchange_url_is_refused_unshown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # it was accepted, then printed by config show and on the live warning's Endpoint line
    scheme = "https" if key == "rest_url" else "wss"
    f = tmp_path / "c.toml"
    for netloc in (f"me:{SECRET}@127.0.0.1:8080", f"{SECRET}@127.0.0.1", f"me:{SECRET}@127.0.0.1:port"):
        f.write_text(f'[binance]\n{key} = "{scheme}://{netloc}/api"\n')
        for argv in (["config", "check", str(f)], ["config", "show", str(f)]):
            assert main(argv) == 2, argv
            out = capsys.readouterr()
            text = out.out + out.err
            assert f"binance.{key}: no user or password in the URL" in text, text
            assert SECRET not in text
    f.write_text(f'[binance]\n{key} = "{scheme}://127.0.0.1:8080/api"\n')
    assert main(["config", "check", str(f)]) == 0

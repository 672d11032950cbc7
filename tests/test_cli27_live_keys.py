"""``--live`` without its keys: one line per missing variable naming the flag given and the
variable, never a value. It said "invalid configuration (from command-line options)" and then
``broker.kind: ...``, a setting the operator never wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


@pytest.fixture
def no_keys(quiet: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    return quiet


def test_live_without_keys_names_the_flag_and_the_variables(no_keys: Path, capsys) -> None:
    assert main(["--live", "--db", str(no_keys / "live.db")]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "error: --live (broker.kind): binance (live) broker needs BINANCE_API_KEY in the environment",
        "error: --live (broker.kind): binance (live) broker needs BINANCE_API_SECRET in the environment",
    ]
    assert captured.out == "" and not (no_keys / "live.db").exists()


def test_live_with_a_pasted_newline_does_not_echo_the_key(no_keys: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "k3yVALUE")
    monkeypatch.setenv("BINANCE_API_SECRET", "s3cretVALUE\n")
    assert main(["--live", "--db", str(no_keys / "live.db")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: --live (broker.kind): BINANCE_API_SECRET holds whitespace or characters outside printable ASCII "
        "(a stray newline or space from copying it?)"
    ]
    assert "VALUE" not in err


def test_a_config_file_that_sets_the_live_broker_is_not_blamed_on_a_flag(no_keys: Path, capsys) -> None:
    # no --live given: the file's broker.kind is named, with the file
    cfg = no_keys / "live.toml"
    cfg.write_text('[broker]\nkind = "binance"\n')
    assert main(["run", "--config", str(cfg), "--db", str(no_keys / "r.db")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"error: invalid configuration (from {cfg}, command-line options)"
    assert err[1] == "  broker.kind: binance (live) broker needs BINANCE_API_KEY in the environment"
    assert not any("--live" in line for line in err)


def test_seed_zero_is_still_the_flags(quiet: Path, capsys) -> None:
    # 0 is a value given (a falsy one): a bad --n-symbols beside it is still the flag's
    assert main(["run", "--feed", "sim", "--seed", "0", "--n-symbols", "1", "--db", str(quiet / "r.db")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --n-symbols (feed.sim.n_symbols): Input should be greater than or equal to 2 (got 1)"
    ]

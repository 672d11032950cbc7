"""``export --out FILE`` names the option, as every other ``--out`` error does; it said "output
path exists and is not a folder: FILE"."""

from __future__ import annotations

from pathlib import Path

from tui_trader.cli import main


def test_an_out_that_is_a_file_names_the_option(quiet: Path, capsys) -> None:
    db = quiet / "book.db"
    assert (
        main(
            [
                "run",
                "--feed",
                "sim",
                "--speed",
                "max",
                "--n-symbols",
                "3",
                "--duration",
                "2s",  # long enough to make the book: a start-up cut first removes the new one
                "--status-every",
                "0",
                "--json",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    capsys.readouterr()
    target = quiet / "out.csv"
    target.write_text("mine\n")
    assert main(["export", "--db", str(db), "--out", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: --out: {target} is not a folder (an export writes its CSV files into a folder)"
    ]
    assert captured.out == "" and target.read_text() == "mine\n"

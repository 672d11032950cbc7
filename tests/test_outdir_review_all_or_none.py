"""The all-or-none writers of ``export --out`` and ``backtest --out`` (one helper,
:func:`tui_trader.outdir.write_all_or_none`):

* a folder in the way of the third file (``positions.csv/`` left by hand) was found only at the
  renames: the first two files were already replaced, a book of two moments, under "no file of
  the export written: the folder's files are as they were";
* the temporary names were ``.NAME.PID.tmp``: a second write into the same folder from the same
  process (a library caller's thread) wrote, renamed and removed the first one's temporaries, which
  then failed with "No such file or directory" after the other had replaced its files."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import pytest
from test_backtest_report import make_result
from test_export_review_out import empty_book

from tui_trader.backtest.report import OUTPUT_FILES, write_outputs
from tui_trader.cli import main
from tui_trader.storage import export
from tui_trader.storage.export import FILES


def _earlier(out: Path, names: tuple[str, ...] | list[str], in_the_way: str) -> dict[str, bytes]:
    out.mkdir()
    for name in names:
        if name == in_the_way:
            (out / name).mkdir()
        else:
            (out / name).write_text(f"the earlier {name}\n")
    return {p.name: b"" if p.is_dir() else p.read_bytes() for p in out.iterdir()}


def _now(out: Path) -> dict[str, bytes]:
    return {p.name: b"" if p.is_dir() else p.read_bytes() for p in out.iterdir()}


def test_an_export_whose_third_file_is_a_folder_replaces_none(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    before = _earlier(out, FILES, FILES[2])
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.startswith(
        f"error: --out: cannot write {out / FILES[2]}: Is a directory (no file of the export"
    )
    assert _now(out) == before  # fills.csv and orders.csv as they were, no temporary left


def test_a_backtest_report_whose_equity_file_is_a_folder_replaces_none(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _earlier(out, OUTPUT_FILES, "equity.csv")
    with pytest.raises(OSError) as info:
        write_outputs(make_result(48), out)
    assert info.value.errno == errno.EISDIR and info.value.filename == str(out / "equity.csv")
    assert _now(out) == before  # trades.csv as it was


def test_a_second_export_into_the_folder_meanwhile_does_not_take_the_first_ones_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the folder is the first export's until its last rename: the second is refused, writing nothing
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    real_write = export._write
    inner: list[str] = []

    def write(path, columns, rows):
        n = real_write(path, columns, rows)
        if not inner:  # the first export's first file written: a second export tries now
            inner.append("")
            with pytest.raises(ValueError, match="another tui-trader export is writing into") as refused:
                export.export_book(db, out)
            inner[0] = str(refused.value)
        return n

    monkeypatch.setattr(export, "_write", write)
    counts = export.export_book(db, out)
    assert "no file of this export written" in inner[0]
    assert counts == {"fills.csv": 0, "orders.csv": 0, "positions.csv": 0, "equity.csv": 0, "audit.csv": 1,
                      "sessions.csv": 0}
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary of either left
    assert (out / "audit.csv").read_text().splitlines()[1] == "1000,1970-01-01T00:00:01.000Z,ui,Start,{},1,ok"


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    # written in place, an earlier file kept its mode; renamed over, a book's fills.csv the operator
    # had made private (600) came back readable by all (644, from the umask)
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    out.mkdir()
    (out / "fills.csv").write_text("the earlier fills\n")
    (out / "fills.csv").chmod(0o600)
    (out / "audit.csv").write_text("the earlier audit\n")
    (out / "audit.csv").chmod(0o640)
    export.export_book(db, out)
    assert (out / "fills.csv").read_text().startswith("ts_ms,")
    assert stat.S_IMODE((out / "fills.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "audit.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((out / "orders.csv").stat().st_mode) == 0o600  # a new one: the owner's alone

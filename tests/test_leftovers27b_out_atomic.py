"""``backtest --out`` over an earlier run's folder: a write failing partway (a full disk) left the
new trades.csv and equity.csv next to the earlier report.txt and report.json, a report of two
runs. The files are written under temporary names and renamed into place only when all are
written: a failure leaves the earlier files as they were, and no temporary behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from test_backtest_report import make_result

from tui_trader.backtest.report import OUTPUT_FILES, write_outputs


def _fail_third_write(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[str]:
    opened: list[str] = []
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args, **kwargs):
        if "w" in mode and self.parent == folder:
            opened.append(self.name)
            if len(opened) == 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    return opened


def test_a_failed_write_leaves_the_earlier_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_outputs(make_result(72), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == sorted(OUTPUT_FILES)

    opened = _fail_third_write(monkeypatch, out)
    with pytest.raises(OSError, match="No space left on device") as info:
        write_outputs(make_result(48), out)
    monkeypatch.undo()
    assert len(opened) == 3
    assert info.value.filename == str(out / OUTPUT_FILES[2])  # the file meant, not a temporary name
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing new, nothing left behind


def test_a_complete_write_replaces_every_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(make_result(72), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    paths = write_outputs(make_result(48), out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(after) == sorted(OUTPUT_FILES) and list(paths) == list(OUTPUT_FILES)
    assert all(after[n] != before[n] for n in ("trades.csv", "equity.csv", "report.txt"))

"""An ``--out`` refused because its folder takes no file (a full or read-only disk) leaves none
of the folders the check made for it, for every command that checks one (backtest, export, data
download), and never a folder that was there before. Only the backtest removed them."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tui_trader.outdir import out_dir_problem


@pytest.fixture
def no_space(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tui_trader.outdir.tempfile.NamedTemporaryFile", refuse)


def test_a_refused_out_leaves_no_folder_it_made(tmp_path: Path, no_space: None) -> None:
    (tmp_path / "have").mkdir()
    out = tmp_path / "have" / "new" / "a" / "b"
    assert out_dir_problem(out) == f"--out: cannot write to {out}: No space left on device"
    assert (tmp_path / "have").is_dir() and not any((tmp_path / "have").iterdir())


def test_a_folder_that_was_there_stays_with_its_files(tmp_path: Path, no_space: None) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    assert out_dir_problem(out).startswith(f"--out: cannot write to {out}:")
    assert out.is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert out_dir_problem(empty / "x").startswith("--out: cannot write to")
    assert empty.is_dir()  # the user's, though empty


def test_export_and_download_leave_no_folder_either(tmp_path: Path, no_space: None) -> None:
    from tui_trader.market.download import DownloadArgError, check_out_dir
    from tui_trader.storage.export import prepare_out

    with pytest.raises(ValueError, match="--out: cannot write to"):
        prepare_out(tmp_path / "exp" / "sub")
    with pytest.raises(DownloadArgError, match="--out: cannot write to"):
        check_out_dir(tmp_path / "dl" / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_writable_out_is_made_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "x" / "y"
    assert out_dir_problem(out) == ""
    assert out.is_dir() and not any(out.iterdir())

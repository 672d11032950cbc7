"""The refusal of a book's other name whose WAL holds a killed engine's commits said "open the book
once as --db NAME, which brings them in". An export (or the report viewer) by that name reads the
commits but, opening the book read-only, leaves them in the WAL: the engine by the other name was
refused again after the advice was followed. The message now says what clears it: an engine by that
name stopped cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_review29_lock_wal_by_name import book  # noqa: F401 - the fixture

from tui_trader.cli import main
from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import EngineLock
from tui_trader.storage.schema import StorageError

pytestmark = pytest.mark.skipif(lock_module.fcntl is None or not hasattr(os, "link"), reason="no flock or links")


def test_the_advice_says_an_engine_by_that_name_clears_it_not_an_export(
    book: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    db, link = book
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "by-name")]) == 0  # as told
    capsys.readouterr()
    with pytest.raises(StorageError) as refused:  # still: an export only reads
        EngineLock(link).acquire()
    msg = str(refused.value)
    assert f"--db {db}" in msg
    assert "which brings them in" not in msg
    assert "stopped cleanly" in msg and "export" in msg

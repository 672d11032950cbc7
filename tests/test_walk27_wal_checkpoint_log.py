"""A large WAL is checkpointed on the main connection once per burst, and logged once.

The console's first start logged "storage: WAL at 16013 frames, checkpointing on the main
connection" twice at the same instant: the background checkpoint repeats until no commit came in
meanwhile, and its second round, over the very same (already checkpointed) WAL, ran and logged the
main-connection checkpoint again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_storage import funded, make_order

from tui_trader.storage import Database


async def test_one_main_connection_checkpoint_per_wal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = await Database.open(tmp_path / "w.db", start_writer=False)
    try:
        await funded(db)
        for i in range(5):
            await db.write_order_intent(make_order(f"o{i}"), None)
        db.wal_max_frames = 1
        with caplog.at_level("INFO", logger="tui_trader.storage.db"):
            await db._checkpoint_logged()  # the background checkpoint, as started after a flush
        lines = [
            r.getMessage() for r in caplog.records if "checkpointing on the main connection" in r.getMessage()
        ]
        assert len(lines) == 1, lines
        # a new burst (a commit after it) is checkpointed on the main connection again
        caplog.clear()
        for i in range(5, 10):
            await db.write_order_intent(make_order(f"o{i}"), None)
        with caplog.at_level("INFO", logger="tui_trader.storage.db"):
            await db._checkpoint_logged()
        assert sum("checkpointing on the main connection" in r.getMessage() for r in caplog.records) == 1
    finally:
        await db.close()

"""The health pane's memory row is the engine's own. The engine always sends one
(``snapshots._health``: even with metrics off, even when reading the memory fails); the pane's own
fallback, a "memory (ui)" row, read this process's memory in units of 10^6 bytes (not MiB, as the
engine's row) and could show ``nan MB``."""

from __future__ import annotations

import pytest
from engine_helpers import engine_config, make_engine

from tui_trader.ui.widgets.health import health_rows


@pytest.mark.parametrize("metrics", [True, False])
async def test_the_memory_row_is_the_engine_s_own(monkeypatch: pytest.MonkeyPatch, metrics: bool) -> None:
    async with make_engine(engine_config(monitoring={"metrics_collection_enabled": metrics})) as h:
        snap = h.engine.snapshot()
        memory = [c for c in snap.health.checks if c.name == "memory"]
        assert len(memory) == 1  # always sent: the pane needs no figure of its own
        rows = health_rows(snap, 5)
        mem_rows = [r for r in rows if "mem" in r.name]
        assert [(r.name, r.status, r.detail) for r in mem_rows] == [
            ("memory", memory[0].status, memory[0].message)
        ]


async def test_a_memory_check_that_raises_is_still_the_engine_s_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import tui_trader.snapshots as snapshots

    def broken():
        raise OSError("no /proc here")

    monkeypatch.setattr(snapshots, "memory_check", broken)
    async with make_engine() as h:
        snap = h.engine.snapshot()
        rows = [r for r in health_rows(snap, 5) if "mem" in r.name]
        assert [(r.name, r.status) for r in rows] == [("memory", "unhealthy")]
        assert "no /proc here" in rows[0].detail and "nan" not in rows[0].detail


def test_a_snapshot_without_a_memory_row_shows_no_figure_of_the_pane_s_own() -> None:
    """A snapshot from another host (or an older engine) without a memory row: no row the pane
    measured itself, in other units than the engine's (a "memory (ui)" row read 10^6-byte MB)."""
    from test_ui_units import _snapshot

    from tui_trader.events import HealthCheck

    rows = health_rows(
        _snapshot([HealthCheck("feed", "healthy", "sim connected", True)], {"connected": True}), 10
    )
    assert not [r for r in rows if "mem" in r.name]

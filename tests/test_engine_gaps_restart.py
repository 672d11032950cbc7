"""What a kill -9 or a restart leaves behind around the operator's commands: an emergency stop's
reset stores its state and the drawdown's new peak together, so a restart never finds one without
the other."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine

from tui_trader.events import ManualBuy, ResetEmergency
from tui_trader.models import EngineState
from tui_trader.storage.db import Database

S = EngineState


class Killed(BaseException):
    """Stands in for a kill -9 at this point: nothing after it is written."""


def _drawdown_cfg() -> Any:
    # the drawdown breaker (5 %) trips before the daily-loss one; the held position is kept
    return engine_config(
        risk_management={
            "stop_loss_percent": 50.0,
            "max_daily_loss_percent": 40.0,
            "max_drawdown_percent": 5.0,
        }
    )


async def _tripped(db: str) -> Any:
    """An engine emergency-stopped by the drawdown breaker (AAA bought with half the cash, then -20 %)."""
    h = await make_engine(_drawdown_cfg(), db_path=db).start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk=True))).ok
    for k in range(3, 6):
        await h.step(klines(T0 + k * MIN, [80.0, 100.0, 100.0, 100.0]))
    assert e.state is S.EMERGENCY_STOPPED and "Drawdown" in e.state_reason
    return h


@pytest.mark.parametrize("kill_at", ["account", "none"])
async def test_a_kill_during_an_emergency_reset_never_trips_the_drawdown_breaker_again_on_restart(
    tmp_path, monkeypatch: pytest.MonkeyPatch, kill_at: str
) -> None:
    db = str(tmp_path / "book.db")
    h = await _tripped(db)
    e = h.engine
    if kill_at == "account":

        async def killed(**_fields: object) -> None:  # the peak equity's save: killed right there
            raise Killed

        monkeypatch.setattr(e.db, "save_account", killed)
        with pytest.raises(Killed):
            await e.submit(ResetEmergency(reason="loss accepted"))
    else:
        assert (await e.submit(ResetEmergency(reason="loss accepted"))).ok
    monkeypatch.setattr(e, "_close_session", lambda db: _nothing())  # a kill writes nothing at the end
    await h.stop()

    async with await Database.open(db) as store:
        state, account = await store.load_engine_state(), await store.load_account()
    reset = state["state"] is S.STOPPED
    # one transaction: either both the reset and the new peak are stored, or neither
    assert reset == (float(account["peak_equity"]) < 9_500), (state, account["peak_equity"])
    assert reset == (kill_at == "none")

    h2 = await make_engine(_drawdown_cfg(), db_path=db, start_ms=T0 + 10 * MIN, autostart=False).start()
    try:
        for k in range(10, 13):
            await h2.step(klines(T0 + k * MIN, [80.0, 100.0, 100.0, 100.0]))  # the same prices as before
        if reset:
            assert h2.engine.state is S.STOPPED, h2.engine.state_reason  # not tripped again
        else:
            assert h2.engine.state is S.EMERGENCY_STOPPED and "Drawdown" in h2.engine.state_reason
    finally:
        await h2.stop()


async def _nothing() -> None:
    return None

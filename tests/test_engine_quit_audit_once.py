"""A quit that stops waiting for a command writes that command's audit row ("not finished"): the
command and the quit must never both write one. Whichever claims the row first writes it - a
command whose own row is being written when the quit gives up gets no "not finished" row beside
it, and a command that ends while the quit writes the rows gets no second row of its own."""

from __future__ import annotations

import asyncio
import logging

import pytest
from engine_helpers import MIN, T0, klines, make_engine, slow_open_orders, until

import tui_trader.engine as engine_mod
from tui_trader.events import EmergencyStop
from tui_trader.models import EngineState


async def _one_period(h) -> None:
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4, open_=[100.0] * 4))


async def _stop_rows(db: str) -> list[tuple[bool, str]]:
    h = await make_engine(db_path=db).start()
    try:
        return [
            (a["ok"], a["outcome"])
            for a in await h.engine.db.load_audit(limit=None)
            if a["action"] == "EmergencyStop"
        ]
    finally:
        await h.stop()


@pytest.fixture
def short_quit(monkeypatch) -> None:
    monkeypatch.setattr(engine_mod, "STOP_WAIT_S", 0.3)  # the quit's limit (10 s), shortened for the test


async def test_a_command_whose_own_row_is_being_written_when_the_quit_gives_up_has_one_row(
    tmp_path, short_quit
) -> None:
    """The emergency stop has its answer and is writing its audit row (a busy database) when the
    quit's limit passes: the quit wrote a second row for it, "not finished ... outcome not
    known", beside the row that says what it did."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _one_period(h)
    real_audit, real_unfinished, gave_up = e.db.audit, e._audit_unfinished_commands, []

    async def busy_audit(ts, source, action, args, ok, outcome):
        if action == "EmergencyStop" and "not finished" not in outcome:
            await until(lambda: gave_up, "the quit to give up on the stop")
        return await real_audit(ts, source, action, args, ok, outcome)

    async def quit_gives_up():
        gave_up.append(True)
        await real_unfinished()
        await until(estop.done, "the stop's own row to be written")  # (storage still open for it)

    e.db.audit = busy_audit
    e._audit_unfinished_commands = quit_gives_up
    estop = asyncio.create_task(e.submit(EmergencyStop(reason="operator panic")))
    await until(lambda: e._commands_running, "the stop to be applied")
    await h.stop()
    res = await estop
    assert res.ok and e.state is EngineState.EMERGENCY_STOPPED
    assert await _stop_rows(db) == [(True, res.message)]


async def test_a_command_that_ends_while_the_quit_writes_its_row_writes_no_second_one(
    tmp_path, short_quit
) -> None:
    """The quit gave up on an emergency stop asking a slow exchange for its open orders and writes
    its "not finished" row; the exchange answers while that row is written: the stop wrote its own
    row too (two rows for one command, one of them saying its outcome is not known)."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _one_period(h)
    answer, asked = slow_open_orders(e)
    real_audit, ended = e.db.audit, []

    async def audit(ts, source, action, args, ok, outcome):
        if "not finished" in outcome:  # the quit's row: the exchange answers meanwhile
            answer.set()
            await until(lambda: ended, "the stop to end")
        return await real_audit(ts, source, action, args, ok, outcome)

    e.db.audit = audit
    estop = asyncio.create_task(e.submit(EmergencyStop(reason="operator panic")))
    estop.add_done_callback(lambda _: ended.append(True))
    await until(lambda: asked, "the stop to ask the exchange for its open orders")
    await h.stop()
    await estop
    rows = await _stop_rows(db)
    assert len(rows) == 1, rows
    assert not rows[0][0] and "not finished" in rows[0][1], rows


async def test_a_quit_that_gives_up_on_an_order_in_flight_says_its_own_limit_and_audits_it_once(
    tmp_path, short_quit, caplog
) -> None:
    """A manual buy the exchange does not answer before the quit's limit: its one audit row says it
    was not finished, and the log gives the limit the quit waited (it said "10 s" whatever the
    limit was)."""
    from decimal import Decimal

    from tui_trader.events import ManualBuy

    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _one_period(h)
    real_submit, answer, sent = e.broker.submit, asyncio.Event(), []

    async def slow_answer(req):
        sent.append(req)
        await answer.wait()  # the exchange answers after the quit
        return await real_submit(req)

    e.broker.submit = slow_answer
    buy = asyncio.create_task(e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(500))))
    await until(lambda: sent, "the buy to reach the exchange")
    with caplog.at_level(logging.WARNING, logger="tui_trader.engine"):
        await h.stop()
    answer.set()
    await buy
    assert "an order in flight did not finish within 0.3 s" in caplog.text, caplog.text
    assert "within 10 s" not in caplog.text
    h2 = await make_engine(db_path=db).start()
    try:
        rows = [a for a in await h2.engine.db.load_audit(limit=None) if a["action"] == "ManualBuy"]
        assert len(rows) == 1 and not rows[0]["ok"] and "not finished" in rows[0]["outcome"], rows
    finally:
        await h2.stop()


async def test_a_not_finished_row_that_could_not_be_written_leaves_the_command_to_be_audited(
    tmp_path, short_quit
) -> None:
    """The quit's "not finished" row for an emergency stop on a slow exchange fails to be written
    (a busy database, once): the command stayed claimed all the same, so neither the quit's later
    look (once it holds the trade lock) nor the command itself wrote its row - none at all."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _one_period(h)
    answer, asked = slow_open_orders(e)
    real_audit, failed = e.db.audit, []

    async def audit(ts, source, action, args, ok, outcome):
        if "not finished" in outcome and not failed:
            failed.append(action)
            raise RuntimeError("database is locked")
        return await real_audit(ts, source, action, args, ok, outcome)

    e.db.audit = audit
    estop = asyncio.create_task(e.submit(EmergencyStop(reason="operator panic")))
    await until(lambda: asked, "the stop to ask the exchange for its open orders")
    await h.stop()
    answer.set()
    await estop
    assert failed == ["EmergencyStop"]
    rows = await _stop_rows(db)
    assert len(rows) == 1, rows
    assert not rows[0][0] and "not finished" in rows[0][1], rows

"""Canary audit of the console: a live engine on the stand-in exchange, driven from the console,
its orders refused by errors that echo the request (the key header, the signature). Neither the
key, the secret nor a signature may show in the log pane, a notification, a command's outcome or
anything drawn on the screen."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exchange_standin import Req, StandinExchange, SteerableClock, ms
from ui_support import commands_done, make_app, notifications, ready, until

from tui_trader.config import Config
from tui_trader.events import ManualBuy, Start
from tui_trader.runtime import build_engine
from tui_trader.ui.widgets.logs import LogPane

KEY = "CANARYKEYui3Xw9Lp2Qs7Rt4Vy6Zb8Nc1Md5Fg0Hj"
SECRET = "CANARYSECRETui8Kq3Wm5Xr7Tz2Yb9Pn4Lc6Jd1Hf"
T0 = ms("2024-03-01T00:00:30")


def _echo(req: Req) -> str:
    return (
        f"Invalid API-key {req.headers.get('X-MBX-APIKEY', '')}; "
        f'{{"X-MBX-APIKEY": "{req.headers.get("X-MBX-APIKEY", "")}", '
        f'"signature": "{req.params.get("signature", "")}"}} {req.raw}'
    )


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def live_console(ex, tmp_path, monkeypatch, symbols: list[str], log_level: str):
    """A live engine on the stand-in exchange (the canary key and secret in the environment) and
    the console hosting it: (engine, app)."""
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    cfg = Config.model_validate(
        {
            "feed": {"kind": "binance", "interval": "1h", "symbols": symbols},
            "broker": {"kind": "binance"},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 1.0},
            "monitoring": {"log_file": "off", "log_level": log_level},
        }
    )
    engine = build_engine(
        cfg,
        db_path=str(tmp_path / "live.db"),
        mode="live",
        session_kind="tui",
        clock=ex.clock,
        keep_held=True,
    )
    return engine, make_app(engine, cfg)


async def test_the_console_shows_no_key_secret_or_signature_of_a_live_session(
    ex, tmp_path, monkeypatch
) -> None:
    engine, app = live_console(ex, tmp_path, monkeypatch, ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "debug")
    seen: list[str] = []
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.submit(Start())
        await commands_done(app, 30)
        for code, status in ((-2015, 401), (-1022, 400), (-2010, 400)):
            ex.fail_next("POST", "order", status=status, code=code, msg=_echo)
            app.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(60)))
            await commands_done(app, 30)
            seen.extend(notifications(app))
        logs = app.main_screen.query_one(LogPane)
        assert await until(lambda: any("Invalid API-key" in line.text for line in logs.lines))
        app.refresh_from_engine()
        await pilot.pause()
        seen.extend(line.text for line in logs.lines)
        seen.extend(res.message for _, res in app.command_results)
        seen.append(app.export_screenshot())
        await asyncio.wait_for(engine.stop(), 20)
    signatures = {r.params["signature"] for r in ex.requests if r.path == "order" and "signature" in r.params}
    assert len(signatures) >= 3 and any("Invalid API-key" in s for s in seen)  # the errors were shown
    text = "\n".join(seen)
    for secret in (KEY, SECRET, "CANARY", *signatures):
        assert secret not in text, secret[:12]
    assert "signature=" not in text


@pytest.mark.parametrize("path", ["time", "openOrders", "account"])
async def test_a_start_up_refused_with_an_echo_shows_no_key_or_signature(
    ex, tmp_path, monkeypatch, path
) -> None:
    """The exchange refuses a start-up request (the clock sync, the open orders, the account)
    with an error echoing the request: the banner, the log pane, a command's outcome
    and the line printed at exit say why, without the key or a signature."""
    ex.fail_next("GET", path, status=401, code=-2015, msg=_echo, times=50)
    engine, app = live_console(ex, tmp_path, monkeypatch, ["BTCUSDT", "ETHUSDT"], "info")
    seen: list[str] = []
    async with app.run_test(size=(160, 45)) as pilot:
        logs = app.main_screen.query_one(LogPane)
        assert await until(lambda: any("Invalid API-key" in line.text for line in logs.lines), 30)
        await until(lambda: app.engine_failed is not None or app.engine_ready.is_set(), 30)
        app.submit(Start())
        await commands_done(app, 30)
        await pilot.pause()
        seen.extend(line.text for line in logs.lines)
        seen.extend(notifications(app))
        seen.extend(res.message for _, res in app.command_results)
        seen.append(app.export_screenshot())
        if app.engine_failed is not None:
            seen.append(f"engine error: {type(app.engine_failed).__name__}: {app.engine_failed}")
        await asyncio.wait_for(engine.stop(), 20)
    signatures = {r.params["signature"] for r in ex.requests if "signature" in r.params}
    assert any(r.path == path and r.status == 401 for r in ex.requests)
    text = "\n".join(seen)
    assert "Invalid API-key" in text
    for secret in (KEY, SECRET, "CANARY", *signatures):
        assert secret not in text, secret[:12]
    assert "signature=" not in text

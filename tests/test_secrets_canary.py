"""Canary audit of the live secrets: BINANCE_API_KEY / BINANCE_API_SECRET set to distinctive
values, a live engine trading against the stand-in exchange while things go wrong - errors that
echo what was sent (the query string with its signature, the ``X-MBX-APIKEY`` header, the key
itself), a refused key, a bad signature, a firewall's HTML page, a gateway error, a timeout - and
then every place the operator or a file could see is searched for the key, the secret and every
request's HMAC signature: the log file, the logging records, each table of the database (orders'
errors, audit log, sessions' stored configuration, kv), the ``tui-trader export`` CSVs, the
commands' outcomes and the client order ids."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from exchange_standin import Req, StandinExchange, SteerableClock, ms

from tui_trader.config import Config

KEY = "CANARYKEY7f3kq9Zx2vLw8NpR4sTy6uBm1cDe5gHj0aKl"
SECRET = "CANARYSECRETq8Wn3Zr5Tx7Yv2Bp9Lm4Kc6Jd1Hf0Gs8Ae"
T0 = ms("2024-03-01T00:00:30")
SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "AVAXUSDT",
    "LINKUSDT",
)


def _echo_everything(req: Req) -> str:
    """A gateway that words its error by echoing the request: the query string (with its
    signature), the signature in a JSON-ish form, and the API key header."""
    sig = req.params.get("signature", "")
    key = req.headers.get("X-MBX-APIKEY", "")
    return f'Rejected {req.raw} {{"signature": "{sig}"}} X-MBX-APIKEY: {key}'


def _echo_key(req: Req) -> str:
    return f"Invalid API-key {req.headers.get('X-MBX-APIKEY', '')}, IP, or permissions for action."


def _echo_signature(req: Req) -> str:
    return f"Signature for this request is not valid: signature:{req.params.get('signature', '')}"


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def _live_cfg(ex: StandinExchange, tmp_path: Path, monkeypatch) -> Config:
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    return Config.model_validate(
        {
            "feed": {"kind": "binance", "interval": "1h", "symbols": list(SYMBOLS)},
            "broker": {"kind": "binance"},
            "risk_management": {"max_total_positions": len(SYMBOLS)},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 1.0},
            "monitoring": {"log_file": str(tmp_path / "logs" / "tui-trader.log"), "log_level": "debug"},
        }
    )


def _every_cell(db: Path) -> str:
    """Every value of every table of ``db``, as text."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"orders", "audit_log", "sessions", "kv"} <= set(tables), tables
        out = []
        for t in tables:
            for row in con.execute(f'SELECT * FROM "{t}"'):
                out.append(
                    " ".join(r.decode(errors="replace") if isinstance(r, bytes) else str(r) for r in row)
                )
        return "\n".join(out)
    finally:
        con.close()


async def test_no_canary_key_secret_or_signature_anywhere_after_a_live_session_goes_wrong(
    ex, tmp_path, monkeypatch, caplog
) -> None:
    from tui_trader.cli import main as cli_main
    from tui_trader.events import ManualBuy, Start
    from tui_trader.monitor.logfile import logging_to_file
    from tui_trader.runtime import build_engine

    cfg = _live_cfg(ex, tmp_path, monkeypatch)
    db = tmp_path / "live.db"
    caplog.set_level(logging.DEBUG)
    outcomes: list[str] = []
    with logging_to_file(cfg, logging.getLogger("tui_trader.test")) as log_path:
        assert log_path is not None
        e = build_engine(cfg, db_path=str(db), session_kind="run", clock=ex.clock)
        await asyncio.wait_for(e.start_up(), 20)
        try:
            assert (await e.submit(Start())).ok

            async def buy(symbol: str) -> None:
                res = await asyncio.wait_for(e.submit(ManualBuy(symbol=symbol, quote_amount=Decimal(60))), 30)
                outcomes.append(res.message)

            ex.fail_next("POST", "order", status=400, code=-1022, msg=_echo_everything)
            await buy("ETHUSDT")
            ex.fail_next("POST", "order", status=401, code=-2015, msg=_echo_key)
            await buy("ETHUSDT")
            ex.fail_next("POST", "order", status=400, code=-1022, msg=_echo_signature)
            await buy("BTCUSDT")
            ex.fail_next("POST", "order", status=400, code=-2010, msg=_echo_everything)  # a rejection
            await buy("SOLUSDT")
            ex.fail_next("POST", "order", status=503, code=-1001, msg=_echo_everything)  # outcome unknown
            await buy("BTCUSDT")
            ex.fail_next("GET", "order", status=500, code=-1000, msg=_echo_everything)  # and its lookup too
            ex.delay_next("POST", "order", 2.0)  # a timeout: the order is looked up by its client id
            await buy("SOLUSDT")
            ex.respond_next_html("POST", "order", 502, f"<html><body>Bad gateway {KEY}</body></html>")
            await buy("ETHUSDT")
            ex.rewrite_next("POST", "order", lambda body: f"<html>{KEY} {body}</html>")  # 200, not JSON
            await buy("BNBUSDT")
            ex.rewrite_next("POST", "order", lambda body: {**body, "status": f"X-MBX-APIKEY={KEY}"})
            await buy("XRPUSDT")
            ex.rewrite_next("POST", "order", lambda body: {**body, "executedQty": KEY})
            await buy("ADAUSDT")
            ex.rewrite_next("POST", "order", lambda body: {**body, "status": KEY})
            await buy("DOGEUSDT")
            ex.rewrite_next("POST", "order", lambda body: {**body, "transactTime": KEY})
            await buy("AVAXUSDT")
            # an order answered NEW is polled: the poll's answer echoes the key in its times
            ex.rewrite_next("POST", "order", lambda body: {**body, "status": "NEW"})
            ex.rewrite_next("GET", "order", lambda body: {**body, "updateTime": KEY, "time": KEY})
            await buy("LINKUSDT")
            ex.rewrite_next("POST", "order", lambda body: {**body, "status": "NEW"})
            ex.rewrite_next("GET", "order", lambda body: {**body, "status": KEY})
            await buy("DOTUSDT")
        finally:
            await asyncio.wait_for(e.stop(), 20)
    assert outcomes and all(m for m in outcomes), outcomes
    signatures = {r.params["signature"] for r in ex.requests if "signature" in r.params}
    echoed = [r for r in ex.requests if r.status in (400, 401, 500, 503)]
    assert len(signatures) >= 8 and len(echoed) >= 6  # the echoes were sent

    out = tmp_path / "csv"
    assert await asyncio.to_thread(cli_main, ["export", "--db", str(db), "--out", str(out)]) == 0
    csvs = "\n".join(p.read_text() for p in sorted(out.glob("*.csv")))
    logged = log_path.read_text()
    cells = _every_cell(db)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("live.db"))
    assert "Signature for this request is not valid" in cells and "Invalid API-key" in cells  # errors stored
    assert "Invalid API-key" in logged and "Invalid API-key" in csvs  # logged and exported
    places = {
        "log file": logged,
        "log records": caplog.text,
        "database": cells,
        "database file": stored.decode("latin-1"),
        "export CSVs": csvs,
        "command outcomes": "\n".join(outcomes),
    }
    for where, text in places.items():
        for secret in (KEY, SECRET, "CANARY", *signatures):
            assert secret not in text, (
                f"{secret[:12]}... in the {where}: " + text[max(0, text.find(secret) - 300) :][:600]
            )
        assert "signature=" not in text and "X-MBX-APIKEY: " not in text, where
    cids = {
        r.params.get("newClientOrderId", "") for r in ex.requests if r.path == "order" and r.method == "POST"
    }
    assert cids and not any("CANARY" in c for c in cids)


ECHOES = {
    "the query string and a JSON signature": _echo_everything,
    "the key in Binance's own wording": _echo_key,
    "the signature after a colon": _echo_signature,
    "the key where the message is cut to 200 characters": lambda req: "x" * 170 + _echo_key(req),
    "the signature url-encoded": lambda req: f"bad request signature%3D{req.params.get('signature', '')}",
    "a header dump": lambda req: f"headers {{'X-MBX-APIKEY': '{req.headers.get('X-MBX-APIKEY', '')}'}}",
    "a bare signature": lambda req: f"HMAC {req.params.get('signature', '')} does not match",
}


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize(("status", "code"), [(400, -1022), (401, -2015), (400, -2010), (500, -1000)])
async def test_an_error_that_echoes_the_request_reaches_no_one_with_the_key_or_signature(
    ex, echo, status, code
):
    """Whatever the exchange (or a proxy in front of it) puts in an error's message, the broker's
    error - logged, stored with the order, shown to the operator - holds neither the API key, nor
    any part of it, nor the request's signature."""
    from tui_trader.execution.binance_broker import BinanceBroker
    from tui_trader.execution.broker import BrokerError
    from tui_trader.models import OrderRequest, OrderType, Side

    cfg = Config.model_validate({"binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url}})
    broker = BinanceBroker(cfg, ex.clock, KEY, SECRET)
    await broker.start()
    try:
        ex.fail_next("POST", "order", status=status, code=code, msg=ECHOES[echo])
        with pytest.raises(BrokerError) as caught:
            await broker.submit(
                OrderRequest("tt-c-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
            )
    finally:
        await broker.stop()
    sent = ex.requests[-1]
    assert sent.status == status and sent.params["signature"] and sent.headers["X-MBX-APIKEY"] == KEY
    text = f"{caught.value} {caught.value!r}"
    for secret in (KEY, SECRET, "CANARY", sent.params["signature"], sent.params["signature"][:16]):
        assert secret not in text, text
    assert "signature=" not in text and "tt-c-1" in text  # it still says which order


BINANCE_MESSAGES = [  # Binance's own wording of the key and signature errors: kept as they are
    "Signature for this request is not valid.",
    "API-key format invalid.",
    "Invalid API-key, IP, or permissions for action.",
    "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    "Illegal characters found in parameter 'signature'; legal range is '^[a-fA-F0-9]{64}$'.",
    "Parameter 'signature' sent when not required.",
    "Timestamp for this request is outside of the recvWindow.",
]


@pytest.mark.parametrize("msg", BINANCE_MESSAGES)
def test_binance_own_error_messages_are_not_redacted(msg):
    from tui_trader.market.binance import scrub_request_details

    assert scrub_request_details(msg) == msg


SIG = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.mark.parametrize(
    "echo",
    [
        f"signature={SIG}",
        f'{{"signature": "{SIG}"}}',
        f"signature:{SIG}",
        f"signature%3D{SIG}",
        f"X-MBX-APIKEY: {KEY}",
        f"x-mbx-apikey={KEY}",
        f"{{'X-MBX-APIKEY': '{KEY}'}}",
        f"apiKey={KEY}",
        f"bad HMAC {SIG} given",
        f"GET http://127.0.0.1/api/v3/order?symbol=BTCUSDT&signature={SIG}",
    ],
)
def test_an_echoed_signature_or_key_header_is_redacted(echo):
    from binance.exceptions import BinanceAPIException

    from tui_trader.market.binance import describe_error, scrub_request_details

    class _Resp:
        text = ""
        headers: dict = {}

    for text in (
        scrub_request_details(f"refused: {echo}"),
        describe_error(BinanceAPIException(_Resp(), 400, f'{{"code": -1022, "msg": {json.dumps(echo)}}}')),
    ):
        assert SIG not in text and KEY not in text and "CANARY" not in text, text
        assert text.startswith(("refused", "HTTP 400")), text

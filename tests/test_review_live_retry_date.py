"""A ``Retry-After`` HTTP-date is GMT in every form RFC 9110 has a recipient accept.

``email.utils`` reads the obsolete asctime form (``Sun Nov  6 08:49:37 1994``) and a ``-0000``
zone without a time zone, and ``datetime.timestamp`` then took it as the machine's local time:
on a machine not on UTC such a ban was read hours too long (or as no ban), and the broker held
every order back that long. Both are GMT, as the standard has it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from binance.exceptions import BinanceAPIException

from tui_trader.market.binance import ban_wait_s

NOW_MS = 784_111_777_000  # Sun, 06 Nov 1994 08:49:37 GMT


def _answer(headers: dict[str, str]) -> BinanceAPIException:
    resp = SimpleNamespace(headers=headers, text="", request=None)
    return BinanceAPIException(resp, 429, '{"code": -1003, "msg": "Too many requests."}')


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "retry_after", ["Sun, 06 Nov 1994 08:51:37 GMT", "Sunday, 06-Nov-94 08:51:37 GMT", "Sun Nov  6 08:51:37 1994",
                    "Sun, 06 Nov 1994 08:51:37 -0000"]
)
@pytest.mark.parametrize("date", [None, "Sun, 06 Nov 1994 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"])
def test_a_retry_after_date_in_any_form_is_gmt_on_a_machine_off_utc(new_york, retry_after, date):
    headers = {"Retry-After": retry_after} | ({} if date is None else {"Date": date})
    assert ban_wait_s(_answer(headers), NOW_MS) == pytest.approx(120.0)

"""``data download`` and its terminal: a download whose SIGHUP is ignored (``trap '' HUP``, so it
outlives the session) finished every month, then its summary on the terminal that had gone raised
EIO: a traceback and exit 1. Started with stdout closed (``>&-``) its last flush raised too. And the
progress bar on a live terminal must not hang (its stand-in for stderr writes back to the console)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import signal
import sys
import termios
from pathlib import Path

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="ptys and SIGHUP are POSIX")

NOW = ms("2025-02-01T05:37")
MONTHS = ["2025-01-01.json", "2025-02-01.json"]


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(NOW), shared_data).start()
    yield stand
    await stand.stop()


def _cmd(ex: StandinExchange, tmp_path: Path) -> list[str]:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[binance]\nrest_url = "{ex.rest_url}"\nrequest_timeout_s = 20.0\n')
    return [
        sys.executable,
        "-m",
        "tui_trader",
        "data",
        "download",
        "--symbols",
        "BTCUSDT",
        "--interval",
        "15m",
        "--start",
        "2025-01-06",
        "--end",
        "2025-02-02",
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(cfg),
    ]


def _months(tmp_path: Path) -> dict[str, int]:
    folder = tmp_path / "out" / "BTCUSDT" / "15m"
    return {p.name: len(json.loads(p.read_text())) for p in sorted(folder.iterdir())}


def _on_terminal(slave: int, ignore_hup: bool):
    def pre() -> None:  # the download leads a session whose terminal is the pty, as over SSH
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        if ignore_hup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    return pre


async def test_a_download_on_a_terminal_draws_its_bar_and_finishes(ex, tmp_path):
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *_cmd(ex, tmp_path), stdin=slave, stdout=slave, stderr=slave, preexec_fn=_on_terminal(slave, False)
    )
    os.close(slave)
    os.set_blocking(master, False)
    shown = b""
    try:
        for _ in range(600):  # read the terminal as it goes (a full pty would block the writer)
            await asyncio.sleep(0.05)
            with contextlib.suppress(OSError):
                shown += os.read(master, 1 << 16)
            if proc.returncode is not None:
                break
        assert proc.returncode == 0, shown.decode(errors="replace")[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)
    assert "BTCUSDT" in shown.decode(errors="replace") and list(_months(tmp_path)) == MONTHS


async def test_a_download_ignoring_sighup_finishes_after_its_terminal_is_gone(ex, tmp_path):
    ex.delay_next("GET", "klines", 0.001, times=3)
    hold = ex.hold_next("GET", "klines")  # the download is under way when the terminal goes
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *_cmd(ex, tmp_path), stdin=slave, stdout=slave, stderr=slave, preexec_fn=_on_terminal(slave, True)
    )
    os.close(slave)
    try:
        await asyncio.wait_for(hold.arrived.wait(), 60)
        os.close(master)  # the SSH session drops: SIGHUP (ignored), then every write fails with EIO
        await asyncio.sleep(0.3)
        hold.release()
        rc = await asyncio.wait_for(proc.wait(), 60)
    finally:
        hold.release()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rc == 0  # (a traceback on the gone terminal was exit 1)
    rows = ex.series("BTCUSDT", "15m").rows
    assert _months(tmp_path) == {
        "2025-01-01.json": sum(1 for r in rows if ms("2025-01-06") <= r[0] < ms("2025-02-01")),
        "2025-02-01.json": sum(1 for r in rows if ms("2025-02-01") <= r[0] and r[6] < NOW),
    }


async def test_a_download_with_stdout_closed_exits_0(ex, tmp_path):
    proc = await asyncio.create_subprocess_exec(
        *_cmd(ex, tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
    assert list(_months(tmp_path)) == MONTHS


def test_the_readme_says_an_ignored_hang_up_stays_ignored() -> None:
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert (
        "a SIGHUP ignored when it starts, `nohup` or `trap '' HUP`, stays ignored: the download goes on"
        in readme
    )

"""``backtest --out`` into a folder another process writes into at the same moment: the two
runs' renames interleaved, so the folder could hold trades.csv of one run and equity.csv of the
other. Every all-or-none write now holds the folder's lock for its renames: a second one waits
for the first (milliseconds) and then writes its own set whole, or, still kept out, fails naming
the folder with nothing of its own written."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from tui_trader import outdir
from tui_trader.outdir import OutLock, write_all_or_none

NAMES = ("a.csv", "b.csv", "c.csv")


def _writers(tag: str, during=None):
    def write(name: str, path: Path) -> str:
        path.write_text(f"{tag}\n")
        if during is not None and name == "a.csv":
            during()
        return tag

    return {name: (lambda p, n=name: write(n, p)) for name in NAMES}


def test_a_second_write_into_the_folder_meanwhile_waits_and_leaves_one_whole_set(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    writing = threading.Event()  # the second write has begun its files
    second: list[threading.Thread] = []

    def second_writer(path: Path) -> str:
        writing.set()
        path.write_text("second\n")
        return "second"

    def start_second() -> None:  # another write into the folder while the first holds its temporaries
        t = threading.Thread(target=write_all_or_none, args=(out, dict.fromkeys(NAMES, second_writer)))
        t.start()
        second.append(t)
        # unlocked, it wrote and renamed its set in well under this; locked, it waits for the first
        assert not writing.wait(0.5), "the second write began while the first held the folder"

    assert write_all_or_none(out, _writers("first", start_second)) == dict.fromkeys(NAMES, "first")
    second[0].join(30)
    assert writing.is_set() and not second[0].is_alive()
    assert {(out / n).read_text() for n in NAMES} == {"second\n"}  # one whole set: the later one's
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)  # no temporary left


def test_a_folder_held_past_the_wait_fails_naming_it_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("earlier\n")
    monkeypatch.setattr(outdir, "OUT_LOCK_WAIT_S", 0.05)
    holder = OutLock()
    assert holder.take(out)
    try:
        with pytest.raises(OSError) as ei:
            write_all_or_none(out, _writers("late"))
    finally:
        holder.release()
    assert ei.value.errno == errno.EAGAIN and ei.value.filename == str(out)
    assert "another tui-trader is writing into the folder" in ei.value.strerror
    assert sorted(p.name for p in out.iterdir()) == ["a.csv"] and (out / "a.csv").read_text() == "earlier\n"
    assert write_all_or_none(out, _writers("now")) == dict.fromkeys(NAMES, "now")  # let go: written


def test_a_caller_holding_the_folder_writes_without_waiting_on_itself(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lock = OutLock()
    assert lock.take(out)
    try:
        assert write_all_or_none(out, _writers("held"), held=lock) == dict.fromkeys(NAMES, "held")
    finally:
        lock.release()

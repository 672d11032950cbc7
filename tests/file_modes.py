"""File modes that stop the test itself, run as root too.

Root passes over every file mode (its CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so a test of what
tui-trader does with a folder it may not write, or a file it may not open, proved nothing as root.
:func:`modes_apply` takes those two capabilities out of the calling thread's effective set for
the ``with`` block and puts them back after. A thread may always lower its effective set within its
permitted one (no tool, no privilege: not setpriv, chattr or a mount), and the threads it starts
meanwhile (asyncio's, aiosqlite's) inherit the lowered set. Other users' runs need nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

_CAP_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_PASS_OVER_MODES = (1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _capcall(name: str, data: ctypes.Array) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(ctypes.byref(_Header(_CAP_VERSION_3, 0)), data):
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)} (root's tests of file modes need Linux capabilities)")


@contextlib.contextmanager
def modes_apply() -> Iterator[None]:
    """Within the block, file modes stop this thread (and the threads it starts), root or not."""
    if os.geteuid() != 0:
        yield
        return
    caps = (_Data * 2)()
    _capcall("capget", caps)
    effective = caps[0].effective
    caps[0].effective = effective & ~_PASS_OVER_MODES
    _capcall("capset", caps)
    try:
        yield
    finally:
        caps[0].effective = effective
        _capcall("capset", caps)

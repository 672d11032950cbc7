"""Deterministic client order ids.

An id is ``<prefix>-<seq>`` (e.g. ``tt-k3x9f2-17``) and always matches
``^[a-zA-Z0-9-_]{1,36}$`` (a subset of what Binance accepts for
``newClientOrderId``). Because the id is known before the order is sent, the
order manager writes it with the intent and can later ask the exchange about
the order by this id after a timeout or a restart - so an order is never sent
twice.
"""

from __future__ import annotations

import re

CLIENT_ORDER_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
MAX_LEN = 36
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9\-_]+")


def is_valid_client_order_id(cid: object) -> bool:
    """True when ``cid`` is a string matching :data:`CLIENT_ORDER_ID_RE`."""
    return isinstance(cid, str) and CLIENT_ORDER_ID_RE.fullmatch(cid) is not None


def sanitize_prefix(prefix: str) -> str:
    """``prefix`` with every run of disallowed characters replaced by ``-`` and edge dashes trimmed.

    Raises ``ValueError`` when ``prefix`` is not a string or nothing usable remains.
    """
    if not isinstance(prefix, str):
        raise ValueError(f"client order id prefix must be a string, got {type(prefix).__name__}")
    clean = _BAD_CHARS.sub("-", prefix.strip()).strip("-")
    if not clean:
        raise ValueError(f"client order id prefix {prefix!r} has no usable characters [a-zA-Z0-9-_]")
    return clean


def make_client_order_id(prefix: str, seq: int) -> str:
    """``<prefix>-<seq>``, the prefix sanitised and truncated so the id fits 36 characters.

    ``seq`` must be a non-negative int with at most 34 digits. Raises ``ValueError`` on a bad
    ``seq`` or a prefix with no usable characters. The same inputs always give the same id.
    """
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError(f"client order id sequence must be an int, got {seq!r}")
    if seq < 0:
        raise ValueError(f"client order id sequence must be >= 0, got {seq}")
    tail = str(seq)
    room = MAX_LEN - len(tail) - 1
    if room < 1:
        raise ValueError(f"client order id sequence {seq} is too large for a 36-character id")
    head = sanitize_prefix(prefix)[:room].rstrip("-")  # never empty: a sanitised prefix starts with no dash
    cid = f"{head}-{tail}"
    if not is_valid_client_order_id(cid):  # pragma: no cover - guarded by construction
        raise ValueError(f"built an invalid client order id {cid!r}")
    return cid


class ClientOrderIds:
    """A sequence of ids ``<prefix>-1``, ``<prefix>-2``, ... for one session.

    ``start`` is the last sequence number already used (e.g. restored from storage),
    so the first :meth:`next` returns ``start + 1``.
    """

    def __init__(self, prefix: str, start: int = 0) -> None:
        self.prefix = sanitize_prefix(prefix)
        make_client_order_id(self.prefix, start)  # validates start (int >= 0, fits)
        self.seq = start

    def next(self) -> str:
        self.seq += 1
        return make_client_order_id(self.prefix, self.seq)

"""Persistence: SQLite (aiosqlite) in WAL mode.

``db = await Database.open(path)``; money writes commit immediately in one
transaction, high-volume rows (klines, ratings, signals, equity) go through a
batched writer; ``await db.close()`` flushes everything.
"""

from tui_trader.storage.db import Database
from tui_trader.storage.money import from_db, to_db
from tui_trader.storage.queries import (
    ACCOUNT_FIELDS,
    AccountError,
    BacktestTrade,
    ConflictingFillError,
    DuplicateOrderError,
    DuplicateRunError,
    OrderNotFoundError,
    redact,
)
from tui_trader.storage.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    MigrationError,
    SchemaVersionError,
    StorageError,
)
from tui_trader.storage.writer import BatchedWriter

__all__ = [
    "ACCOUNT_FIELDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AccountError",
    "BacktestTrade",
    "BatchedWriter",
    "ConflictingFillError",
    "Database",
    "DuplicateOrderError",
    "DuplicateRunError",
    "MigrationError",
    "OrderNotFoundError",
    "SchemaVersionError",
    "StorageError",
    "from_db",
    "redact",
    "to_db",
]

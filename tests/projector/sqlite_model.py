"""A file-backed read model and checkpoint store in SQLite, for the crash tests.

The read model shows the at-least-once recipe of ``docs/projectors.md``: the handler applies a
commit and records its position in one transaction, and ignores a commit whose position it has
already recorded. It also logs every delivery, so a test can count what was handled twice.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ddbes.errors import CheckpointConflict
from ddbes.model import Commit
from ddbes.ports import CheckpointStore, check_advance, moved_message

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT, part INTEGER, position INTEGER,
                                        PRIMARY KEY (name, part));
CREATE TABLE IF NOT EXISTS applied (part INTEGER PRIMARY KEY, position INTEGER);
CREATE TABLE IF NOT EXISTS carts (id TEXT PRIMARY KEY, version INTEGER, items INTEGER,
                                  total INTEGER, last_position INTEGER);
CREATE TABLE IF NOT EXISTS deliveries (run TEXT, part INTEGER, position INTEGER);
"""


def connect(path: Path, *, setup: bool = True) -> sqlite3.Connection:
    """A connection; ``setup`` also switches the file to WAL and creates the tables, which
    takes locks that SQLite's busy timeout does not always wait for: do it once per file."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    if setup:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class _PerThread:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        connect(path).close()  # WAL and tables, once, before any thread connects

    @property
    def db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "db", None)
        if connection is None:
            connection = self._local.db = connect(self.path, setup=False)
        return connection


class SQLiteCheckpointStore(_PerThread, CheckpointStore):
    """Checkpoints in an SQLite file, written only forward."""

    def get(self, name: str, log_partition: int = 0) -> int:
        row = self.db.execute(
            "SELECT position FROM checkpoints WHERE name = ? AND part = ?", (name, log_partition)
        ).fetchone()
        return int(row[0]) if row else 0

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        if position < 0:
            raise ValueError(f"a checkpoint position must be >= 0, got {position}")
        self._write(name, position, log_partition, None)

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        check_advance(position, expected)
        self._write(name, position, log_partition, expected)

    def _write(self, name: str, position: int, log_partition: int, expected: int | None) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self.get(name, log_partition)
            if expected is not None and current != expected:
                raise CheckpointConflict(
                    moved_message(name, log_partition, current, expected), current=current
                )
            if current > position:
                raise CheckpointConflict(f"checkpoint {name!r} is at {current}, not {position}")
            db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                (name, log_partition, position),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class CartReadModel(_PerThread):
    """Carts' item counts and totals; one transaction per commit, idempotent by position."""

    def __init__(self, path: Path, run: str) -> None:
        super().__init__(path)
        self.run = run

    def handle(self, commit: Commit) -> None:
        position = commit.position or 0
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO deliveries VALUES (?, ?, ?)",
                (self.run, commit.log_partition, position),
            )
            row = db.execute(
                "SELECT position FROM applied WHERE part = ?", (commit.log_partition,)
            ).fetchone()
            if row is None or row[0] < position:  # not applied yet
                items = len(commit.events)
                total = sum(event["n"] for event in commit.events)
                db.execute(
                    "INSERT INTO carts VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "version = excluded.version, items = items + excluded.items, "
                    "total = total + excluded.total, last_position = excluded.last_position",
                    (commit.aggregate_id, commit.version, items, total, position),
                )
                db.execute(
                    "INSERT OR REPLACE INTO applied VALUES (?, ?)", (commit.log_partition, position)
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

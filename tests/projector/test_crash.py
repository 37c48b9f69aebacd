"""Acceptance: a projector process killed with SIGKILL mid-run, then restarted, ends with the read
model one uninterrupted run builds; only its last unfinished batch is handled twice."""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from ddbes.testing.contracts import CHECKPOINT_STORE_CHECKS
from tests.projector import crash_worker
from tests.projector.sqlite_model import SQLiteCheckpointStore, connect

ROOT = Path(__file__).resolve().parents[2]


def start_worker(path: Path, run: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.projector.crash_worker", str(path), run], cwd=ROOT
    )


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(query).fetchall()


@pytest.mark.parametrize("check", CHECKPOINT_STORE_CHECKS.values(), ids=CHECKPOINT_STORE_CHECKS)
def test_the_sqlite_checkpoint_store_of_these_tests_keeps_the_contract(
    tmp_path: Path, check: object
) -> None:
    counter = iter(range(1000))
    check(lambda: SQLiteCheckpointStore(tmp_path / f"cp{next(counter)}.db"))  # type: ignore[operator]


def test_a_projector_killed_mid_run_and_restarted_builds_the_same_read_model(
    tmp_path: Path,
) -> None:
    reference_db, crashed_db = tmp_path / "reference.db", tmp_path / "crashed.db"
    reference = start_worker(reference_db, "single")  # one uninterrupted run, alongside
    kill_at = random.randint(3_000, 15_000)
    first = start_worker(crashed_db, "first")
    watcher = connect(crashed_db)
    deadline = time.monotonic() + 60
    while (watcher.execute("SELECT max(rowid) FROM deliveries").fetchone()[0] or 0) < kill_at:
        assert first.poll() is None, "the projector ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    watcher.close()
    at_kill = dict(rows(crashed_db, "SELECT part, position FROM checkpoints"))

    second = start_worker(crashed_db, "second")
    assert second.wait(timeout=60) == 0
    assert reference.wait(timeout=60) == 0

    carts = "SELECT id, version, items, total, last_position FROM carts ORDER BY id"
    assert rows(crashed_db, carts) == rows(reference_db, carts)
    assert len(rows(reference_db, carts)) == 200
    checkpoints = "SELECT name, part, position FROM checkpoints ORDER BY part"
    assert rows(crashed_db, checkpoints) == rows(reference_db, checkpoints)
    heads = {part: position for _, part, position in rows(reference_db, checkpoints)}
    assert sum(heads.values()) == crash_worker.COMMITS

    delivered: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for run, part, position in rows(crashed_db, "SELECT * FROM deliveries ORDER BY rowid"):
        delivered[str(run)][int(part)].append(int(position))  # type: ignore[call-overload]
    handled_first = {p: delivered["first"][p] for p in heads}
    assert kill_at <= sum(map(len, handled_first.values())) < crash_worker.COMMITS
    for part, head in heads.items():
        before = handled_first[part]
        assert before == list(range(1, len(before) + 1))  # a prefix, in order
        assert at_kill.get(part, 0) <= len(before)
        assert delivered["second"][part] == list(range(at_kill.get(part, 0) + 1, head + 1))
    twice = {
        (part, position)
        for part in heads
        for position in set(handled_first[part]) & set(delivered["second"][part])
    }
    unfinished = {
        (part, position)
        for part in heads
        for position in handled_first[part]
        if position > at_kill.get(part, 0)
    }
    assert twice == unfinished  # exactly what the first run handled after its last checkpoint
    assert len(twice) <= crash_worker.BATCH_SIZE
    assert len({part for part, _ in twice}) <= 1  # in one partition: the batch being handled

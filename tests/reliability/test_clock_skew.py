"""Writers whose clocks disagree by up to 10 s commit to the same aggregates.

Four writers, each with the system clock shifted by -5 s, -2 s, +2 s or +5 s, commit to four
shared aggregates (two through an aggregate command, two through ``Account.append``), each with
a store of its own as separate processes would have. The log must stay complete, and each
aggregate's ``committed_at`` must never go backwards in version order: ddbes stamps a commit
with ``max(clock.now(), committed_at of the version before it)``. Loading at a time must then
give a prefix of the history: the last version committed at or before that time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from ddbes_dynamodb import DynamoDBCommitStore
from tests.dynamodb.tables import DynamoDBTables
from tests.reliability.counts import report
from tests.reliability.writers import (
    Account,
    Ledger,
    SkewedClock,
    aggregate_operation,
    blind_append_operation,
    reconcile,
    run_writer,
    run_writers,
)
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.dynamodb

OFFSETS = (-5.0, -2.0, 2.0, 5.0)
COMMITS_PER_WRITER = 100
AGGREGATES = 4
SEED = 5150
LOADS_PER_AGGREGATE = 12


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


def _shared_key(_writer: int, rng: random.Random) -> str:
    return f"shared-{rng.randrange(AGGREGATES)}"


def test_skewed_writers_keep_the_log_complete_and_committed_at_monotonic(
    tables: DynamoDBTables,
) -> None:
    table = tables.commit_store(log_partitions=2).table_name
    ledger = Ledger()
    targets = []
    for writer, offset in enumerate(OFFSETS):
        store = DynamoDBCommitStore(table, client=tables.client)
        accounts = Account.using(commit_store=store, clock=SkewedClock(timedelta(seconds=offset)))
        make = aggregate_operation if writer % 2 == 0 else blind_append_operation
        operation = make(accounts)
        targets.append(
            lambda w=writer, op=operation: run_writer(
                w, op, ledger, seed=SEED + w, commits=COMMITS_PER_WRITER, choose_key=_shared_key
            )
        )

    started = time.monotonic()
    real_start = datetime.now(UTC)
    run_writers(targets)
    real_end = datetime.now(UTC)
    clean = DynamoDBCommitStore(table, client=tables.client)
    reconciled = reconcile(
        "clock skew: writers at -5/-2/+2/+5 s", clean, ledger, time.monotonic() - started
    )

    backwards: list[str] = []
    clamped = total = 0
    for key, history in reconciled.commits.items():
        for before, after in pairwise(history):
            total += 1
            if after.committed_at < before.committed_at:
                backwards.append(
                    f"{key} v{after.version}: {after.committed_at} < {before.committed_at}"
                )
            elif after.committed_at == before.committed_at:
                clamped += 1
    logs = [list(clean.read_log(log_partition=p)) for p in range(clean.log_partitions)]
    inversions = sum(1 for log in logs for a, b in pairwise(log) if b.committed_at < a.committed_at)
    counts = reconciled.counts
    counts.notes += (
        f"; {clamped} of {total} successors took their predecessor's committed_at (clamped), "
        f"0 went backwards; {inversions} log neighbours out of time order (skew is real)"
    )
    report(counts)

    assert reconciled.problems == []
    # No faults here: only a writer that kept losing races could give up (RetriesExhausted).
    assert set(ledger.failures()) <= {"RetriesExhausted"}, ledger.failures()
    assert counts.acknowledged >= 0.95 * len(OFFSETS) * COMMITS_PER_WRITER
    assert backwards == []
    assert clamped > 0, "no commit was ever stamped behind its predecessor: no skew was tested"
    assert inversions > 0, "the log is in time order: the clocks did not disagree"
    early, late = real_start - timedelta(seconds=5.1), real_end + timedelta(seconds=5.1)
    assert all(early <= c.committed_at <= late for log in logs for c in log)

    rng = random.Random(SEED)
    reader = Account.using(commit_store=clean)
    for key, history in reconciled.commits.items():
        first = history[0].committed_at
        assert reader.load(key, time=first - timedelta(microseconds=1)) is None
        for commit in rng.sample(history, min(LOADS_PER_AGGREGATE, len(history))):
            moment = commit.committed_at
            expected = max(c.version for c in history if c.committed_at <= moment)
            when = moment.isoformat() if commit.version % 2 else moment
            loaded = reader.load(key, time=when, fail=True)
            assert loaded is not None
            assert loaded.version == expected >= commit.version
            assert loaded.state["count"] == loaded.version, "load at a time skipped a commit"
            assert loaded.head_committed_at == history[expected - 1].committed_at

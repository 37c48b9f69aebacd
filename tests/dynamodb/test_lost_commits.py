"""No commit is ever lost or duplicated: many writers, random pauses, a reader tailing the log."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ddbes.errors import VersionConflict
from ddbes.model import Commit
from ddbes_dynamodb import DynamoDBCommitStore
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.dynamodb

WRITERS = 8
COMMITS_PER_WRITER = 200
AGGREGATES = 40


@pytest.fixture(params=["background", "inline"])
def any_tables(
    request: pytest.FixtureRequest, dynamodb_local: DynamoDBLocal
) -> Iterator[DynamoDBTables]:
    """Stores on fresh tables of either sequencing (the guarantee holds for both)."""
    made = DynamoDBTables(dynamodb_local.endpoint_url, sequencing=request.param)
    yield made
    made.delete_all()


def _writer(
    store: DynamoDBCommitStore, seed: int, stored: list[Commit], errors: list[BaseException]
) -> None:
    rng = random.Random(seed)
    try:
        for _ in range(COMMITS_PER_WRITER):
            key = f"agg{rng.randrange(AGGREGATES)}"
            while True:  # as an aggregate command does: load the head, commit after it
                latest = list(store.read_commits("Cart", key, descending=True, limit=1))
                version = latest[0].version + 1 if latest else 1
                try:
                    stored.append(store.append(commit(key, version)))
                    break
                except VersionConflict:
                    continue
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0, 0.004))
    except BaseException as exc:  # surfaced by the test
        errors.append(exc)


def _run(tables: DynamoDBTables, log_partitions: int) -> None:
    table = tables.commit_store(log_partitions=log_partitions).table_name
    # Four stores (as four processes would have: each its own head cache), two threads each:
    # inline, threads of a store share transactions, stores race each other for positions; in
    # the background, each store runs a sequencer and they take turns under the lease.
    stores = [DynamoDBCommitStore(table, client=tables.client) for _ in range(WRITERS // 2)]
    writers = [stores[index % len(stores)] for index in range(WRITERS)]
    reader = DynamoDBCommitStore(table, client=tables.client)
    tables.created += [*stores, reader]  # closed (their sequencers stopped) after the test
    background = tables.sequencing == "background"
    stored: list[Commit] = []
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_writer, args=(store, seed, stored, errors))
        for seed, store in enumerate(writers)
    ]
    for thread in threads:
        thread.start()

    received: dict[int, list[Commit]] = {p: [] for p in range(log_partitions)}
    cursors = dict.fromkeys(range(log_partitions), 0)
    total = WRITERS * COMMITS_PER_WRITER
    deadline = time.monotonic() + 120
    while sum(len(r) for r in received.values()) < total or any(t.is_alive() for t in threads):
        assert time.monotonic() < deadline, "the reader did not receive every commit in time"
        new = 0
        for partition in range(log_partitions):
            for item in reader.read_log(after=cursors[partition], log_partition=partition):
                assert item.position == cursors[partition] + 1, (partition, item.position)
                cursors[partition] = item.position
                received[partition].append(item)
                new += 1
        if errors:
            break
        if not new:
            time.sleep(0.002)
    for thread in threads:
        thread.join()
    assert not errors, errors
    for store in stores:
        store.flush_log(timeout=60)  # returns at once: the reader received every commit

    every = [c for partition in received.values() for c in partition]
    assert len(every) == total
    assert len({c.commit_id for c in every}) == total, "a commit was delivered twice"
    assert {c.commit_id for c in every} == {c.commit_id for c in stored}
    by_id = {c.commit_id: c for c in stored}
    if background:
        assert all(c.position is None for c in stored)
    else:
        assert all(c.position is not None for c in stored)
    for partition, commits in received.items():
        assert [c.position for c in commits] == list(range(1, len(commits) + 1))
        assert reader.head_position(partition) == len(commits)
        for item in commits:
            assert item.log_partition == partition
            appended = replace(item, position=None) if background else item
            assert appended == by_id[item.commit_id], "the log differs from what append returned"
    versions: dict[str, list[int]] = defaultdict(list)
    for partition in range(log_partitions):
        for item in received[partition]:
            versions[item.aggregate_key].append(item.version)
    for key, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), (key, seen)
        assert [c.version for c in reader.read_commits("Cart", key)] == seen
    positions = {c.commit_id: (c.log_partition, c.position) for c in every}
    for key in versions:  # every commit item holds the position its log entry has
        for item in reader.read_commits("Cart", key):
            assert (item.log_partition, item.position) == positions[item.commit_id]
    assert reader.describe().backlog == (0,) * log_partitions
    if log_partitions > 1:
        assert sum(1 for commits in received.values() if commits) > 1


def test_a_tailing_reader_receives_every_commit_once_in_order(any_tables: DynamoDBTables) -> None:
    _run(any_tables, log_partitions=1)


def test_every_log_partition_is_gap_free_under_concurrent_writers(
    any_tables: DynamoDBTables,
) -> None:
    _run(any_tables, log_partitions=4)

"""The background sequencer's batches: one transaction holds many commits, in an order that
keeps every aggregate's versions in order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ddbes_dynamodb import DynamoDBLeaseStore
from ddbes_dynamodb._sequencer import Sequencer
from ddbes_dynamodb._sequencing import LEASE_NAME
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables


def test_one_batch_keeps_versions_in_order_when_a_later_version_has_an_earlier_time(
    tables: DynamoDBTables,
) -> None:
    store = tables.commit_store()
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)  # no background batches
    for version in range(1, 6):
        late = commit("late", version)
        store.append(replace(late, committed_at=late.committed_at - timedelta(minutes=version)))
        store.append(commit("early", version))
    store.flush_log(timeout=30)  # the whole backlog goes in one batch
    log = list(store.read_log())
    assert [c.position for c in log] == list(range(1, 11))
    for key in ("late", "early"):
        assert [c.version for c in log if c.aggregate_key == key] == [1, 2, 3, 4, 5], log
    assert store.describe().backlog == (0,)


def test_a_foreign_item_in_the_sequencers_index_is_left_alone(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    foreign = {"p": {"S": "someone-else"}, "s": {"S": "x"}, "u": {"S": "0"}, "t": {"S": "0"}}
    tables.client.put_item(TableName=store.table_name, Item=foreign)
    stored = [store.append(commit("k", version)) for version in (1, 2)]
    store.flush_log(timeout=30)
    assert [c.commit_id for c in store.read_log()] == [c.commit_id for c in stored]
    assert store.describe().backlog == (1,)  # the index still shows the foreign item
    item = tables.client.get_item(
        TableName=store.table_name, Key={"p": foreign["p"], "s": foreign["s"]}
    )
    assert item["Item"] == foreign  # untouched


def test_a_process_without_the_lease_leaves_its_commits_to_the_holder(
    tables: DynamoDBTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tables.commit_store()
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)
    looked: list[tuple[str, int]] = []
    in_log = Sequencer.in_log

    def spied(self: Sequencer, pk: str, version: int) -> bool:
        looked.append((pk, version))
        return in_log(self, pk, version)

    monkeypatch.setattr(Sequencer, "in_log", spied)
    for version in range(1, 21):
        store.append(commit("k", version))
    time.sleep(0.3)  # the background thread's turns, none of which may look at them
    # Only the holder's sequencer learns what enters the log: going through its pending
    # commits at every turn would cost a non-holder CPU and tell it nothing.
    assert looked == []
    store.flush_log(timeout=30)  # the holder is silent: after the handoff, it logs them itself
    assert [c.version for c in store.read_log()] == list(range(1, 21))
    assert store.describe().backlog == (0,)


_EXITING_WRITER = """
import sys
from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBLeaseStore
from ddbes_dynamodb._sequencing import LEASE_NAME
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import client_for

client = client_for(sys.argv[1])
store = DynamoDBCommitStore(sys.argv[2], client=client)
DynamoDBLeaseStore(store.table_name, client=client).acquire(LEASE_NAME, 0, "elsewhere", 600.0)
for key in range(3):
    for version in range(1, 21):
        store.append(commit(f"k{key}", version))
print("appended", flush=True)
"""


def test_a_process_sequences_its_backlog_at_exit_in_one_batch(
    tables: DynamoDBTables, tmp_path: Path
) -> None:
    """The exit flush sequences a backlog bigger than one clearing request (more than 25
    commits) after the interpreter's thread pools stopped taking work."""
    store = tables.commit_store()
    script = tmp_path / "writer.py"
    script.write_text(_EXITING_WRITER)
    done = subprocess.run(
        [sys.executable, str(script), tables.endpoint_url, store.table_name],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "appended"
    assert "Traceback" not in done.stderr, done.stderr
    log = list(store.read_log())
    assert len(log) == 60
    assert store.describe().backlog == (0,)
    for key in range(3):
        assert [c.version for c in log if c.aggregate_key == f"k{key}"] == list(range(1, 21))

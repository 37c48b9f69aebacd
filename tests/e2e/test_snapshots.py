"""Snapshots end to end: aggregates on DynamoDB Local with snapshots on S3 (serialized moto), with
snapshots as tips in the commit table (larger ones on S3), and the same scenarios on the
in-memory stores.

A snapshot is a cache: every load here is compared with a replay of the whole log without
snapshots, and the versions the reducer saw show whether the snapshot was used.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ddbes import Aggregate, Commit, Snapshot
from ddbes.errors import StoreUnavailable
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.retry import RetryPolicy
from ddbes.testing import ManualClock
from tests.services import free_port

KEY = "acct/1:a.b"  # needs escaping in both stores
FREQUENCY = 10
REDUCED: list[int] = []  # the version of every commit the reducer saw, in order


class Ledger(Aggregate):
    key_schema = ("account",)
    snapshots = True
    snapshots_frequency = FREQUENCY

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        REDUCED.append(commit.version)
        state = state or {"balance": 0, "entries": []}
        return {
            "balance": state["balance"] + event["amount"],
            "entries": [*state["entries"], event["amount"]],
        }


@dataclass
class Stack:
    """A commit store and a snapshot store, and ways to break the snapshots."""

    commit_store: CommitStore
    snapshot_store: SnapshotStore
    corrupt_snapshot: Callable[[str, str, bytes], None]
    unreachable_snapshot_store: Callable[[], SnapshotStore]
    new_commit_store: Callable[[], CommitStore]


class _UnreachableSnapshotStore(InMemorySnapshotStore):
    """The in-memory stand-in for an S3 endpoint that does not answer."""

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        raise StoreUnavailable("snapshot store unreachable (test)")

    def put(self, snapshot: Snapshot) -> None:
        raise StoreUnavailable("snapshot store unreachable (test)")


def _memory_stack() -> Stack:
    snapshots = InMemorySnapshotStore()
    return Stack(
        commit_store=InMemoryCommitStore(),
        snapshot_store=snapshots,
        corrupt_snapshot=snapshots.corrupt,
        unreachable_snapshot_store=_UnreachableSnapshotStore,
        new_commit_store=InMemoryCommitStore,
    )


def _aws_stack(request: pytest.FixtureRequest) -> Stack:
    from ddbes_dynamodb import DynamoDBCommitStore
    from ddbes_s3 import S3SnapshotStore

    dynamodb_endpoint = request.getfixturevalue("dynamodb_local").endpoint_url
    s3_endpoint = request.getfixturevalue("s3_endpoint")

    def new_commit_store() -> CommitStore:
        store = DynamoDBCommitStore(
            table_name=f"e2e-snapshots-{uuid.uuid4().hex[:10]}", endpoint_url=dynamodb_endpoint
        )
        store.create_table()
        return store

    bucket = f"e2e-snapshots-{uuid.uuid4().hex[:10]}"
    snapshots = S3SnapshotStore(bucket, "snapshots", endpoint_url=s3_endpoint)
    snapshots.create_bucket()
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")

    def corrupt(aggregate_type: str, aggregate_key: str, body: bytes) -> None:
        s3.put_object(
            Bucket=bucket, Key=snapshots.key_for(aggregate_type, aggregate_key), Body=body
        )

    def unreachable() -> SnapshotStore:
        fast = Config(connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1})
        dead = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            region_name="us-east-1",
            config=fast,
        )
        return S3SnapshotStore(bucket, "snapshots", client=dead)

    return Stack(
        commit_store=new_commit_store(),
        snapshot_store=snapshots,
        corrupt_snapshot=corrupt,
        unreachable_snapshot_store=unreachable,
        new_commit_store=new_commit_store,
    )


def _tip_stack(request: pytest.FixtureRequest) -> Stack:
    """Snapshots as tips in the commit table (one Query per load), larger ones on S3."""
    from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBSnapshotStore
    from ddbes_dynamodb.snapshot_store import TIP_SORT_KEY

    aws = _aws_stack(request)
    assert isinstance(aws.commit_store, DynamoDBCommitStore)
    commits = aws.commit_store
    tips = DynamoDBSnapshotStore(commits, overflow=aws.snapshot_store)

    def corrupt(aggregate_type: str, aggregate_key: str, body: bytes) -> None:
        tip = tips.get(aggregate_type, aggregate_key)
        assert tip is not None
        commits.client.put_item(
            TableName=commits.table_name,
            Item={
                "p": {"S": f"c#{len(aggregate_type)}#{aggregate_type}#{aggregate_key}"},
                "s": {"S": TIP_SORT_KEY},
                "f": {"N": "1"},
                "v": {"N": str(tip.version)},
                "i": {"S": tip.head_commit_id},
                "t": {"S": tip.head_committed_at.isoformat()},
                "c": {"S": tip.checksum},
                "z": {"B": body},
            },
        )

    def unreachable() -> SnapshotStore:
        dead = DynamoDBCommitStore(
            commits.table_name,
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            region_name="us-east-1",
            retry_policy=RetryPolicy(max_attempts=1),
        )
        return DynamoDBSnapshotStore(dead, retry_policy=RetryPolicy(max_attempts=1))

    return Stack(
        commit_store=commits,
        snapshot_store=tips,
        corrupt_snapshot=corrupt,
        unreachable_snapshot_store=unreachable,
        new_commit_store=aws.new_commit_store,
    )


@pytest.fixture(params=["memory", "dynamodb-s3", "dynamodb-tip"])
def stack(request: pytest.FixtureRequest) -> Stack:
    if request.param == "memory":
        return _memory_stack()
    if request.param == "dynamodb-tip":
        return _tip_stack(request)
    return _aws_stack(request)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def reduced() -> Iterator[list[int]]:
    REDUCED.clear()
    yield REDUCED
    REDUCED.clear()


def bind(stack: Stack, clock: ManualClock, cls: type[Ledger] = Ledger, **options: Any) -> Any:
    return cls.using(
        commit_store=stack.commit_store,
        snapshot_store=options.pop("snapshot_store", stack.snapshot_store),
        clock=clock,
        **options,
    )


def fill(cls: Any, count: int, clock: ManualClock, start: int = 1) -> list[datetime]:
    """Commit ``count`` entries (amount = version), one second apart; their commit times.

    ``REDUCED`` is emptied afterwards: tests look at what their loads reduce.
    """
    ledger = cls.load(KEY) or cls(KEY)
    times = []
    for version in range(start, start + count):
        clock.advance(timedelta(seconds=1))
        ledger.commit({"type": "Entered", "amount": version})
        times.append(ledger.head_committed_at)
    REDUCED.clear()
    return times


def replayed(stack: Stack, **load: Any) -> Any:
    """The aggregate as a full replay of the log gives it (no snapshots); ``REDUCED`` is kept."""
    seen = list(REDUCED)
    truth = Ledger.using(commit_store=stack.commit_store, snapshots=False).load(KEY, **load)
    REDUCED[:] = seen
    return truth


def assert_same(loaded: Any, truth: Any) -> None:
    assert loaded is not None and truth is not None
    assert (loaded.version, loaded.state) == (truth.version, truth.state)
    assert loaded.head_commit_id == truth.head_commit_id
    assert loaded.head_committed_at == truth.head_committed_at


def versions(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


# Snapshots exist at 10 and 20 during the fill; the store keeps the latest (20).
LOADS_AT_VERSION = [
    (5, versions(1, 5)),  # before every snapshot
    (10, versions(1, 10)),  # the snapshot at 10 was replaced by 20, which is too new
    (15, versions(1, 15)),
    (20, []),  # exactly at the snapshot: nothing to replay
    (23, versions(21, 23)),
    (25, versions(21, 25)),
    (None, versions(21, 25)),
    (99, versions(21, 25)),  # beyond the head: stops at the head
]


@pytest.mark.parametrize(("version", "expected_reduced"), LOADS_AT_VERSION)
def test_load_at_a_version_uses_a_snapshot_only_at_or_before_it(
    stack: Stack,
    clock: ManualClock,
    reduced: list[int],
    version: int | None,
    expected_reduced: list[int],
) -> None:
    bound = bind(stack, clock)
    fill(bound, 25, clock)
    truth = replayed(stack, version=version)
    loaded = bound.load(KEY, version=version)
    assert_same(loaded, truth)
    assert reduced == expected_reduced


def test_load_at_a_time_uses_a_snapshot_only_at_or_before_it(
    stack: Stack, clock: ManualClock, reduced: list[int]
) -> None:
    bound = bind(stack, clock)
    times = fill(bound, 25, clock)  # times[n - 1] is when version n was committed
    cases: list[tuple[datetime | str, list[int]]] = [
        (times[4], versions(1, 5)),
        (times[19], []),
        (times[19] + timedelta(milliseconds=500), []),
        (times[19] - timedelta(microseconds=1), versions(1, 19)),
        (times[22], versions(21, 23)),
        (times[22].isoformat(), versions(21, 23)),
        (times[24] + timedelta(days=1), versions(21, 25)),
    ]
    for moment, expected_reduced in cases:
        truth = replayed(stack, time=moment)
        loaded = bound.load(KEY, time=moment)
        assert_same(loaded, truth)
        assert reduced == expected_reduced, moment
        reduced.clear()
    assert bound.load(KEY, time=times[0] - timedelta(seconds=1)) is None


def test_hydrating_an_instance_forward_and_back_across_a_snapshot(
    stack: Stack, clock: ManualClock, reduced: list[int]
) -> None:
    bound = bind(stack, clock)
    fill(bound, 25, clock)
    ledger = bound(KEY).hydrate(version=7)
    assert ledger.version == 7
    reduced.clear()
    ledger.hydrate()  # the snapshot at 20 is ahead of the instance: use it
    assert_same(ledger, replayed(stack))
    assert reduced == versions(21, 25)
    reduced.clear()
    ledger.hydrate(version=12)  # back in time: start again, the snapshot is too new
    assert_same(ledger, replayed(stack, version=12))
    assert reduced == versions(1, 12)


def test_a_corrupt_snapshot_is_ignored_then_replaced(
    stack: Stack, clock: ManualClock, reduced: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    bound = bind(stack, clock)
    fill(bound, 25, clock)
    stack.corrupt_snapshot("Ledger", KEY, b"\x00{not json")
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = bound.load(KEY)
    assert_same(loaded, replayed(stack))
    assert reduced == versions(1, 25)
    assert f"ignoring the snapshot of Ledger:{KEY}" in caplog.text

    fill(bound, 5, clock, start=26)  # version 30 writes a new snapshot over the corrupt one
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = bound.load(KEY)
    assert_same(loaded, replayed(stack))
    assert reduced == []
    assert caplog.text == ""


def test_a_snapshot_written_by_other_upcasters_is_ignored(
    stack: Stack, clock: ManualClock, reduced: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    fill(bind(stack, clock), 25, clock)

    class UpcastLedger(Ledger):
        aggregate_type = "Ledger"
        upcasters = {"Entered": {0: lambda event: {**event, "amount": event["amount"] * 100}}}

    upcast = bind(stack, clock, UpcastLedger)
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = upcast.load(KEY)
    assert loaded is not None
    assert loaded.state["balance"] == 100 * sum(range(26))
    assert reduced == versions(1, 25)
    assert "other upcasters or another snapshot_version" in caplog.text

    fill(upcast, 5, clock, start=26)  # version 30: a snapshot by the new upcasters
    reloaded = upcast.load(KEY)
    assert reloaded is not None and reloaded.state["balance"] == 100 * sum(range(31))
    assert reduced == []


def test_bumping_snapshot_version_after_a_reducer_change_replays(
    stack: Stack, clock: ManualClock, reduced: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    fill(bind(stack, clock), 25, clock)

    class LedgerWithFees(Ledger):
        aggregate_type = "Ledger"
        snapshot_version = 2

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            REDUCED.append(commit.version)
            state = state or {"balance": 0, "entries": [], "fees": 0}
            return {
                "balance": state["balance"] + event["amount"] - 1,
                "entries": [*state["entries"], event["amount"]],
                "fees": state["fees"] + 1,
            }

    new = bind(stack, clock, LedgerWithFees)
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = new.load(KEY)
    assert loaded is not None
    assert loaded.state["fees"] == 25
    assert loaded.state["balance"] == sum(range(26)) - 25
    assert reduced == versions(1, 25)
    assert "other upcasters or another snapshot_version" in caplog.text

    new(KEY).hydrate().write_snapshot()
    reduced.clear()
    again = new.load(KEY)
    assert again is not None and again.state == loaded.state
    assert reduced == []


def test_an_unreachable_snapshot_store_never_fails_a_commit(
    stack: Stack, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    down = bind(stack, clock, snapshot_store=stack.unreachable_snapshot_store())
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        fill(down, FREQUENCY, clock)  # the last commit tries to write a snapshot
    truth = replayed(stack)
    assert truth.version == FREQUENCY
    assert f"could not write the snapshot of Ledger:{KEY} at version {FREQUENCY}" in caplog.text
    assert stack.snapshot_store.get("Ledger", KEY) is None


def test_an_unreachable_snapshot_store_during_a_load_replays(
    stack: Stack, clock: ManualClock, reduced: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    fill(bind(stack, clock), 25, clock)
    assert stack.snapshot_store.get("Ledger", KEY) is not None
    down = bind(stack, clock, snapshot_store=stack.unreachable_snapshot_store())
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = down.load(KEY)
    assert_same(loaded, replayed(stack))
    assert reduced == versions(1, 25)
    assert f"ignoring the snapshot of Ledger:{KEY}" in caplog.text


def test_a_snapshot_ahead_of_the_log_is_ignored(
    stack: Stack, clock: ManualClock, reduced: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    fill(bind(stack, clock), 25, clock)
    stack.commit_store = stack.new_commit_store()  # a restored or recreated log
    fill(bind(stack, clock, snapshots=False), 22, clock)
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = bind(stack, clock).load(KEY)
    assert_same(loaded, replayed(stack))
    assert reduced == versions(1, 22)
    assert "does not hold its head commit" in caplog.text

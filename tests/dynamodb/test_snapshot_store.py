"""DynamoDBSnapshotStore: a load with snapshots is one Query, and never differs from the two-read
path (a GET from S3 beside a Query) or from a full replay, whatever the tip holds.

On DynamoDB Local, with S3 on serialized moto for the overflow.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from ddbes import Aggregate, Commit, Snapshot
from ddbes.testing import ManualClock
from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBSnapshotStore
from ddbes_dynamodb._items import commit_pk
from ddbes_dynamodb.snapshot_store import TIP_SORT_KEY
from ddbes_s3 import S3SnapshotStore
from tests.dynamodb.tables import DynamoDBTables

KEY = "acct/1:a.b"
FREQUENCY = 10
REDUCED: list[int] = []


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


@pytest.fixture
def commits(tables: DynamoDBTables) -> DynamoDBCommitStore:
    return tables.commit_store()


@pytest.fixture
def s3(s3_endpoint: str) -> S3SnapshotStore:
    store = S3SnapshotStore(f"tips-{uuid.uuid4().hex[:12]}", "snaps", endpoint_url=s3_endpoint)
    store.create_bucket()
    return store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def reduced() -> Iterator[list[int]]:
    REDUCED.clear()
    yield REDUCED
    REDUCED.clear()


@contextmanager
def requests(client: Any, about: str | None = None) -> Iterator[list[str]]:
    """The names of the operations ``client`` sends inside the block; with ``about``, only the
    reads of a table whose parameters mention it (the table's background sequencer shares the
    client and writes the commits' log positions)."""
    sent: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if about is None or (
            model.name in {"Query", "GetItem"}
            and "IndexName" not in params
            and about in repr(params)
        ):
            sent.append(model.name)

    client.meta.events.register("before-parameter-build", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-parameter-build", record)


def dynamodb_requests(commits: DynamoDBCommitStore) -> Any:
    """The requests about the test's aggregate."""
    return requests(commits.client, commit_pk("Ledger", KEY))


def bind(commits: DynamoDBCommitStore, snapshots: Any, clock: ManualClock) -> Any:
    return Ledger.using(commit_store=commits, snapshot_store=snapshots, clock=clock)


def fill(cls: Any, count: int, clock: ManualClock, start: int = 1) -> list[datetime]:
    ledger = cls.load(KEY) or cls(KEY)
    times = []
    for version in range(start, start + count):
        clock.advance(timedelta(seconds=1))
        ledger.commit({"type": "Entered", "amount": version})
        times.append(ledger.head_committed_at)
    REDUCED.clear()
    return times


def loaded(cls: Any, **load: Any) -> tuple[Any, list[int]]:
    """``(version, state, head id, head time)`` of a load, and the versions it reduced."""
    REDUCED.clear()
    ledger = cls.load(KEY, **load)
    seen = list(REDUCED)
    REDUCED.clear()
    if ledger is None:
        return None, seen
    return (ledger.version, ledger.state, ledger.head_commit_id, ledger.head_committed_at), seen


def replayed(commits: DynamoDBCommitStore, **load: Any) -> Any:
    return loaded(Ledger.using(commit_store=commits, snapshots=False), **load)[0]


def tip_item(commits: DynamoDBCommitStore, key: str = KEY) -> dict[str, Any] | None:
    response = commits.client.get_item(
        TableName=commits.table_name,
        Key={"p": {"S": commit_pk("Ledger", key)}, "s": {"S": TIP_SORT_KEY}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def test_a_load_is_one_query_and_equals_the_two_read_path(
    commits: DynamoDBCommitStore, s3: S3SnapshotStore, clock: ManualClock
) -> None:
    tips = DynamoDBSnapshotStore(commits, overflow=s3)
    with_tips = bind(commits, tips, clock)
    with_s3 = bind(commits, s3, clock)
    times = fill(with_tips, 25, clock)  # tips at 10 and 20
    snapshot = tips.get("Ledger", KEY)
    assert snapshot is not None and snapshot.version == 20
    s3.put(snapshot)  # the two-read path starts from the same snapshot
    assert "j" in (tip_item(commits) or {})

    bounds: list[dict[str, Any]] = [
        {},
        *({"version": v} for v in (1, 5, 10, 19, 20, 21, 25, 99)),
        *({"time": times[v - 1]} for v in (5, 19, 20, 23, 25)),
        {"time": times[19] - timedelta(microseconds=1)},
        {"time": times[19] + timedelta(milliseconds=500)},
        {"time": times[0] - timedelta(seconds=1)},
        {"version": 23, "time": times[21]},
    ]
    for bound in bounds:
        with dynamodb_requests(commits) as sent:
            one_query, tip_reduced = loaded(with_tips, **bound)
        two_reads, s3_reduced = loaded(with_s3, **bound)
        assert one_query == two_reads == replayed(commits, **bound), bound
        assert tip_reduced == s3_reduced, bound
        if not bound:
            assert sent == ["Query"]
            assert tip_reduced == list(range(21, 26))

    fill(with_tips, 4, clock, start=26)  # 9 past the snapshot: the most a load replays
    with dynamodb_requests(commits) as sent, requests(s3.client) as gets:
        state, seen = loaded(with_tips)
    assert (sent, gets) == (["Query"], [])
    assert state == replayed(commits) and seen == list(range(21, 30))


def test_an_instance_hydrates_forward_from_the_tip_read(
    commits: DynamoDBCommitStore, clock: ManualClock
) -> None:
    with_tips = bind(commits, DynamoDBSnapshotStore(commits), clock)
    fill(with_tips, 25, clock)
    ledger = with_tips(KEY).hydrate(version=22)
    REDUCED.clear()
    with dynamodb_requests(commits) as sent:
        ledger.hydrate()
    assert sent == ["Query"] and REDUCED == [23, 24, 25]
    assert (ledger.version, ledger.state) == replayed(commits)[:2]


def test_a_stale_tip_costs_one_more_read_and_gives_the_same_state(
    commits: DynamoDBCommitStore, clock: ManualClock
) -> None:
    tips = DynamoDBSnapshotStore(commits)
    with_tips = bind(commits, tips, clock)
    fill(with_tips, 10, clock)
    old = tips.get("Ledger", KEY)
    fill(with_tips, 19, clock, start=11)  # tips at 20, then the stale one at 10 again
    assert old is not None
    tips.put(old)
    with dynamodb_requests(commits) as sent:
        state, seen = loaded(with_tips)
    assert state == replayed(commits)
    assert seen == list(range(11, 30))
    assert sent == ["Query", "Query"]  # the commits between the tip and the newest ones


def test_a_tip_whose_head_commit_is_not_in_the_log_is_ignored(
    commits: DynamoDBCommitStore, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    tips = DynamoDBSnapshotStore(commits)
    with_tips = bind(commits, tips, clock)
    fill(with_tips, 25, clock)
    good = tips.get("Ledger", KEY)
    assert good is not None
    tips.put(Snapshot(**{**_fields(good), "head_commit_id": "not-in-the-log"}))
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        state, seen = loaded(with_tips)
    assert state == replayed(commits) and seen == list(range(1, 26))
    assert "does not hold its head commit" in caplog.text


@pytest.mark.parametrize(
    "damage",
    [
        {"j": {"S": "{not json"}},
        {"z": {"B": b"\x00not zlib"}},
        {"f": {"N": "2"}},
        {"t": {"S": "yesterday"}},
    ],
    ids=["json", "zlib", "format", "time"],
)
def test_a_corrupt_tip_is_ignored_and_the_next_snapshot_replaces_it(
    commits: DynamoDBCommitStore,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    damage: dict[str, Any],
) -> None:
    tips = DynamoDBSnapshotStore(commits)
    with_tips = bind(commits, tips, clock)
    fill(with_tips, 25, clock)
    item = tip_item(commits)
    assert item is not None
    item.pop("j", None)
    commits.client.put_item(TableName=commits.table_name, Item={**item, **damage})
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        state, seen = loaded(with_tips)
    assert state == replayed(commits) and seen == list(range(1, 26))
    assert f"ignoring the snapshot of Ledger:{KEY}" in caplog.text
    fill(with_tips, 5, clock, start=26)
    state, seen = loaded(with_tips)
    assert state == replayed(commits) and seen == []


def test_a_snapshot_too_big_for_the_tip_is_kept_on_s3_and_the_tip_points_to_it(
    commits: DynamoDBCommitStore, s3: S3SnapshotStore, clock: ManualClock
) -> None:
    tips = DynamoDBSnapshotStore(commits, overflow=s3, inline_limit=16)
    with_tips = bind(commits, tips, clock)
    fill(with_tips, 25, clock)
    item = tip_item(commits)
    assert item is not None and "j" not in item and "z" not in item
    assert item["v"] == {"N": "20"}
    on_s3 = s3.get("Ledger", KEY)
    assert on_s3 is not None and on_s3.version == 20
    assert tips.get("Ledger", KEY) == on_s3
    with dynamodb_requests(commits) as sent, requests(s3.client) as gets:
        state, seen = loaded(with_tips)
    assert state == replayed(commits) and seen == list(range(21, 26))
    assert (sent, gets) == (["Query"], ["GetObject"])
    for bound in ({"version": 15}, {"version": 22}, {"time": on_s3.head_committed_at}):
        assert loaded(with_tips, **bound)[0] == replayed(commits, **bound)


def test_small_states_stay_in_the_tip_and_large_ones_compress(
    commits: DynamoDBCommitStore, clock: ManualClock
) -> None:
    tips = DynamoDBSnapshotStore(commits)
    big = Snapshot(
        aggregate_type="Ledger",
        aggregate_key=KEY,
        version=1,
        state={"rows": ["row"] * 5000},
        head_commit_id="c1",
        head_committed_at=clock.now(),
        checksum="x",
    )
    tips.put(big)
    item = tip_item(commits)
    assert item is not None and "z" in item and len(item["z"]["B"]) < 1000
    assert tips.get("Ledger", KEY) == big


def test_without_overflow_a_state_too_big_for_an_item_is_refused(
    commits: DynamoDBCommitStore, clock: ManualClock
) -> None:
    tips = DynamoDBSnapshotStore(commits)
    with_tips = bind(commits, tips, clock)
    fill(with_tips, 10, clock)
    kept = tips.get("Ledger", KEY)
    assert kept is not None
    noise = base64.b64encode(os.urandom(450_000)).decode()  # zlib leaves about 450 KB
    with pytest.raises(ValueError, match="overflow"):
        tips.put(Snapshot(**{**_fields(kept), "version": 11, "state": {"noise": noise}}))
    assert tips.get("Ledger", KEY) == kept


def test_a_pointer_without_an_overflow_store_replays(
    commits: DynamoDBCommitStore,
    s3: S3SnapshotStore,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fill(
        bind(commits, DynamoDBSnapshotStore(commits, overflow=s3, inline_limit=0), clock), 25, clock
    )
    alone = bind(commits, DynamoDBSnapshotStore(commits), clock)
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        state, seen = loaded(alone)
    assert state == replayed(commits) and seen == list(range(1, 26))
    assert "points to an overflow store" in caplog.text


def test_snapshots_written_to_s3_before_the_tips_are_still_used(
    commits: DynamoDBCommitStore, s3: S3SnapshotStore, clock: ManualClock
) -> None:
    fill(bind(commits, s3, clock), 25, clock)  # S3 alone: no tip
    assert tip_item(commits) is None
    with_tips = bind(commits, DynamoDBSnapshotStore(commits, overflow=s3), clock)
    with requests(s3.client) as gets:
        state, seen = loaded(with_tips)
    assert state == replayed(commits) and seen == list(range(21, 26))
    assert gets == ["GetObject"]

    short = "short"
    Ledger.using(commit_store=commits, snapshots=False, clock=clock)(short).commit(
        {"type": "Entered", "amount": 1}
    )
    with requests(s3.client) as gets:
        again = with_tips.load(short)
    assert again is not None and again.version == 1
    assert gets == []  # the Query held every commit: a snapshot could not help


def test_another_commit_store_of_the_same_table_is_served(
    commits: DynamoDBCommitStore, tables: DynamoDBTables
) -> None:
    tips = DynamoDBSnapshotStore(commits)
    assert tips.serves(commits)
    assert tips.serves(DynamoDBCommitStore(commits.table_name, client=commits.client))
    assert not tips.serves(tables.commit_store())


def test_clearing_tips_leaves_the_commits(commits: DynamoDBCommitStore, clock: ManualClock) -> None:
    tips = DynamoDBSnapshotStore(commits)
    fill(bind(commits, tips, clock), 20, clock)
    tips.clear("Ledger")
    assert tips.get("Ledger", KEY) is None
    assert [c.version for c in commits.read_commits("Ledger", KEY)] == list(range(1, 21))
    assert list(commits.aggregate_keys("Ledger")) == [KEY]


def test_put_refuses_a_state_json_would_change(commits: DynamoDBCommitStore) -> None:
    tips = DynamoDBSnapshotStore(commits)
    base = Snapshot(
        aggregate_type="Ledger",
        aggregate_key=KEY,
        version=1,
        state={},
        head_commit_id="c1",
        head_committed_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
        checksum="x",
    )
    for state in ({"when": base.head_committed_at}, {"pair": (1, 2)}, {7: "int key"}, {1, 2}):
        with pytest.raises(ValueError, match="snapshot state of Ledger"):
            tips.put(Snapshot(**{**_fields(base), "state": state}))


def _fields(snapshot: Snapshot) -> dict[str, Any]:
    return {name: getattr(snapshot, name) for name in Snapshot.__dataclass_fields__}

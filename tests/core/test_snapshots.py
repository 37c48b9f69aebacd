from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from ddbes import Aggregate, Commit, Snapshot
from ddbes.aggregates.snapshot_loading import FIRST_READ
from ddbes.errors import StoreUnavailable
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.testing import ManualClock


@pytest.fixture(autouse=True, params=[False, True], ids=["get-then-read", "in-parallel"])
def parallel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test runs both ways a load can fetch its snapshot (see
    ddbes.aggregates.snapshot_loading)."""
    monkeypatch.setattr(InMemorySnapshotStore, "fetch_in_parallel", request.param)
    return bool(request.param)


class Tally(Aggregate):
    snapshots = True
    snapshots_frequency = 10

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {"sum": (state or {"sum": 0})["sum"] + event["n"], "version": commit.version}


class CountingSnapshots(InMemorySnapshotStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.puts: list[int] = []

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        self.gets += 1
        return super().get(aggregate_type, aggregate_key)

    def put(self, snapshot: Snapshot) -> None:
        self.puts.append(snapshot.version)
        super().put(snapshot)


class ReadCounter(InMemoryCommitStore):
    def __init__(self) -> None:
        super().__init__()
        self.read_versions: list[int] = []

    def read_commits(self, *args: Any, **kwargs: Any) -> Any:
        for commit in super().read_commits(*args, **kwargs):
            self.read_versions.append(commit.version)
            yield commit


def _fill(cls: type[Tally], count: int, clock: ManualClock | None = None) -> Tally:
    tally = cls.load()
    assert tally is not None
    for n in range(1, count + 1):
        if clock:
            clock.advance(timedelta(seconds=1))
        tally.commit({"type": "Added", "n": n})
    return tally


def test_snapshots_are_written_every_frequency_versions() -> None:
    snaps = CountingSnapshots()
    bound = Tally.using(commit_store=InMemoryCommitStore(), snapshot_store=snaps)
    _fill(bound, 35)
    assert snaps.puts == [10, 20, 30]
    snap = snaps.get("Tally", "@")
    assert snap is not None and snap.version == 30 and snap.state == {"sum": 465, "version": 30}


def test_load_reads_only_the_commits_it_needs_beside_the_snapshot(parallel: bool) -> None:
    store = ReadCounter()
    bound = Tally.using(commit_store=store, snapshot_store=InMemorySnapshotStore())
    written = _fill(bound, 35)
    store.read_versions.clear()
    loaded = bound.load()
    assert loaded is not None and loaded.state == written.state and loaded.version == 35
    if parallel:  # the newest snapshots_frequency + 1, newest first, while the GET runs
        assert store.read_versions == list(range(35, 24, -1))
    else:  # the snapshot's head commit and the ones after it
        assert store.read_versions == [30, 31, 32, 33, 34, 35]
    assert loaded.head_commit_id == written.head_commit_id
    assert loaded.head_committed_at == written.head_committed_at


def test_snapshot_after_the_requested_version_or_time_is_not_used() -> None:
    clock = ManualClock()
    store = ReadCounter()
    bound = Tally.using(commit_store=store, snapshot_store=InMemorySnapshotStore(), clock=clock)
    _fill(bound, 25, clock)
    at_15 = bound.load(version=15)
    assert at_15 is not None and at_15.version == 15 and at_15.state["sum"] == sum(range(16))
    at_5 = bound.load(version=5)
    assert at_5 is not None and at_5.state["sum"] == 15
    moment = list(store.read_commits("Tally", "@"))[11].committed_at
    store.read_versions.clear()
    at_time = bound.load(time=moment)
    assert at_time is not None and at_time.version == 12 and at_time.state["sum"] == sum(range(13))
    # the only snapshot (v20) is newer: a replay, which reads each commit once
    assert sorted(store.read_versions) == list(range(1, 13))
    earlier = bound.load(time=moment - timedelta(seconds=5))
    assert earlier is not None and earlier.version == 7


def test_a_corrupt_snapshot_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    snaps = InMemorySnapshotStore()
    bound = Tally.using(commit_store=InMemoryCommitStore(), snapshot_store=snaps)
    written = _fill(bound, 12)
    snaps.corrupt("Tally", "@")
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = bound.load()
    assert loaded is not None and loaded.state == written.state
    assert "ignoring the snapshot of Tally:@" in caplog.text


def test_a_snapshot_from_other_upcasters_or_snapshot_version_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    commit_store, snaps = InMemoryCommitStore(), InMemorySnapshotStore()
    _fill(Tally.using(commit_store=commit_store, snapshot_store=snaps), 10)

    class Tally2(Tally):
        aggregate_type = "Tally"
        snapshot_version = 2

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return {"sum": (state or {"sum": 0})["sum"] + 2 * event["n"], "version": commit.version}

    class Upcast(Tally):
        aggregate_type = "Tally"
        upcasters = {"Added": {0: lambda e: {**e, "n": e["n"] * 10}}}

    with caplog.at_level(logging.WARNING, logger="ddbes"):
        doubled = Tally2.using(commit_store=commit_store, snapshot_store=snaps).load()
        upcast = Upcast.using(commit_store=commit_store, snapshot_store=snaps).load()
    assert doubled is not None and doubled.state["sum"] == 110
    assert upcast is not None and upcast.state["sum"] == 550
    assert caplog.text.count("other upcasters or another snapshot_version") == 2


def test_a_snapshot_ahead_of_the_log_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    snaps = InMemorySnapshotStore()
    _fill(Tally.using(commit_store=InMemoryCommitStore(), snapshot_store=snaps), 20)
    fresh_log = InMemoryCommitStore()
    bound = Tally.using(commit_store=fresh_log, snapshot_store=snaps)
    _fill(Tally.using(commit_store=fresh_log, snapshots=False), 5)
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        loaded = bound.load()
    assert loaded is not None and loaded.version == 5 and loaded.state["sum"] == 15
    assert "does not hold its head commit" in caplog.text


def test_write_snapshot_on_demand_and_state_must_be_json() -> None:
    snaps = InMemorySnapshotStore()

    class Sets(Aggregate):
        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return {1, 2}

    bound = Sets.using(commit_store=InMemoryCommitStore(), snapshot_store=snaps)
    instance = bound.load()
    assert instance is not None
    instance.commit({"type": "X"})
    with pytest.raises(ValueError, match="JSON"):
        instance.write_snapshot()


class FirstSnapshotOnly(InMemorySnapshotStore):
    """Stores the first snapshot; later puts fail, as an unreachable bucket would."""

    def put(self, snapshot: Snapshot) -> None:
        if self.get(snapshot.aggregate_type, snapshot.aggregate_key) is not None:
            raise StoreUnavailable("bucket unreachable")
        super().put(snapshot)


def test_an_older_snapshot_still_saves_the_replay(parallel: bool) -> None:
    store = ReadCounter()
    snaps = FirstSnapshotOnly()
    bound = Tally.using(commit_store=store, snapshot_store=snaps)
    written = _fill(bound, 35)  # snapshot at 10 only: the puts at 20 and 30 fail
    store.read_versions.clear()
    loaded = bound.load()
    assert loaded is not None and loaded.state == written.state and loaded.version == 35
    assert loaded.head_commit_id == written.head_commit_id
    if parallel:  # the newest 11 commits (25..35), then the ones between the snapshot and them
        assert store.read_versions == [*range(35, 24, -1), *range(10, 25)]
    else:
        assert store.read_versions == list(range(10, 36))


class Sparse(Tally):
    snapshots_frequency = 250


def test_a_snapshot_beyond_the_first_read_costs_one_more_read(parallel: bool) -> None:
    store = ReadCounter()
    bound = Sparse.using(commit_store=store, snapshot_store=FirstSnapshotOnly())
    written = _fill(bound, 700)  # snapshot at 250 only: the puts at 500 fail
    store.read_versions.clear()
    loaded = bound.load()
    assert loaded is not None and loaded.state == written.state and loaded.version == 700
    if parallel:  # FIRST_READ newest commits beside the snapshot GET, then the ones between
        newest = range(700, 700 - FIRST_READ, -1)
        assert store.read_versions == [*newest, *range(250, 701 - FIRST_READ)]
    else:
        assert store.read_versions == list(range(250, 701))

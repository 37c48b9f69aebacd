"""Two projectors of one name and no lease store: the one whose checkpoint moves under it stops."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from ddbes.errors import CheckpointConflict, ProjectorConflict
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.ports import CheckpointStore, CommitStore
from ddbes.projection.projector import Projector
from tests.dynamodb.tables import DynamoDBTables
from tests.projector.helpers import fill

Stores = tuple[CommitStore, CheckpointStore]


@pytest.fixture(params=["memory", "dynamodb-local"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    if request.param == "memory":
        yield InMemoryCommitStore(), InMemoryCheckpointStore()
        return
    tables = DynamoDBTables(request.getfixturevalue("dynamodb_local").endpoint_url)
    try:
        yield tables.commit_store(), tables.checkpoint_store()
    finally:
        tables.delete_all()


def test_a_projector_whose_checkpoint_another_of_its_name_moved_stops_with_a_clear_error(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    commits, checkpoints = stores
    fill(commits, 12)
    first: list[int] = []
    second: list[int] = []
    other = Projector(
        {"Cart": lambda c: first.append(c.position or 0)}, name="idx",
        commit_store=commits, checkpoint_store=checkpoints, owner="first",
    )  # fmt: skip

    def handle(c: Commit) -> None:
        if c.position == 1:  # the other projector does the whole log meanwhile
            other.run()
        second.append(c.position or 0)

    projector = Projector(
        {"Cart": handle}, name="idx", commit_store=commits, checkpoint_store=checkpoints,
        owner="second",
    )  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="ddbes"), pytest.raises(ProjectorConflict) as info:
        projector.run()

    error = info.value
    assert (error.name, error.log_partition, error.current) == ("idx", 0, 12)
    message = str(error)
    assert "another projector named 'idx'" in message and "(second)" in message
    assert "from 0 to 12" in message and "lease_store" in message
    assert isinstance(error.__cause__, CheckpointConflict)
    assert projector.error is error and not projector.running
    assert other.error is None and first == list(range(1, 13))
    assert checkpoints.get("idx") == 12  # the other projector's checkpoint stands
    assert any("another projector named 'idx'" in r.getMessage() for r in caplog.records)


def test_of_two_watching_projectors_of_one_name_one_stops_and_the_other_goes_on(
    stores: Stores,
) -> None:
    commits, checkpoints = stores
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def recorder(owner: str) -> Callable[[Commit], None]:
        return lambda c: seen[owner].append(c.position or 0)

    projectors = {
        owner: Projector(
            {"Cart": recorder(owner)},
            name="idx",
            commit_store=commits,
            checkpoint_store=checkpoints,
            owner=owner,
            poll_interval=0.01,
            batch_size=5,
        )
        for owner in ("a", "b")
    }
    for projector in projectors.values():
        projector.start()
    appended = 0
    deadline = time.monotonic() + 30
    while all(p.running for p in projectors.values()):
        assert time.monotonic() < deadline, "both projectors of one name kept going"
        fill(commits, 5, start=appended)
        appended += 5
        commits.flush_log()
        time.sleep(0.02)

    stopped = [p for p in projectors.values() if not p.running]
    going = [p for p in projectors.values() if p.running]
    assert len(stopped) == 1 and len(going) == 1
    assert isinstance(stopped[0].error, ProjectorConflict)
    assert stopped[0].stop() is stopped[0].error
    fill(commits, 5, start=appended)
    commits.flush_log()
    head = commits.head_position(0)
    deadline = time.monotonic() + 30
    while checkpoints.get("idx") < head:
        assert time.monotonic() < deadline, "the remaining projector stopped working"
        time.sleep(0.01)
    assert going[0].stop() is None
    assert seen[going[0].owner][-1] == head


class _DictCheckpoints(CheckpointStore):
    """An adapter written before ``advance`` existed: it gets the port's read-then-save default."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}

    def get(self, name: str, log_partition: int = 0) -> int:
        return self.positions.get((name, log_partition), 0)

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        self.positions[(name, log_partition)] = max(position, self.get(name, log_partition))


def test_an_adapter_without_its_own_advance_still_reports_a_moved_checkpoint() -> None:
    store = _DictCheckpoints()
    store.advance("idx", 5, expected=0)
    with pytest.raises(CheckpointConflict, match="is at 5, not at 2") as info:
        store.advance("idx", 9, expected=2)
    assert info.value.current == 5 and store.get("idx") == 5
    commits = InMemoryCommitStore()
    fill(commits, 3)

    def moved_meanwhile(c: Commit) -> None:
        store.save("moved", 2)  # as another projector of the name would

    projector = Projector(
        {"*": moved_meanwhile}, name="moved", commit_store=commits, checkpoint_store=store
    )
    with pytest.raises(ProjectorConflict, match="from 0 to 2"):
        projector.run()

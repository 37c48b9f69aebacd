"""Operating projectors: reset and rebuild, versions, the new-read-model check, status and lag."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from ddbes.errors import StaleCheckpoint
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector, ProjectorProgress
from ddbes.testing import ManualClock
from tests.projector.helpers import FAST_RETRY, T0, fill


def test_a_fresh_read_model_with_an_old_checkpoint_is_refused_instead_of_missing_commits(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    """The silent failure of issue 15: a new read model, the old checkpoint, 6 of 27 handled."""
    fill(store, 21)
    Projector({"Cart": lambda c: None}, name="carts", commit_store=store,
              checkpoint_store=checkpoints).run()  # fmt: skip
    fill(store, 6, start=21)
    read_model: list[Commit] = []  # the new, empty database

    def build(on_new: str) -> Projector:
        return Projector(
            {"Cart": read_model.append}, name="carts", commit_store=store,
            checkpoint_store=checkpoints, read_model_is_new=lambda: not read_model,
            on_new_read_model=on_new,
        )  # fmt: skip

    with pytest.raises(StaleCheckpoint, match=r"looks new.*\{0: 21\}.*reset"):
        build("refuse").run()
    assert read_model == [] and checkpoints.get("carts") == 21
    build("reset").run()
    assert [c.position for c in read_model] == list(range(1, 28))  # all 27
    build("refuse").run()  # not new any more: no complaint


def test_on_new_read_model_warn_logs_and_carries_on(
    store: InMemoryCommitStore,
    checkpoints: InMemoryCheckpointStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fill(store, 5)
    checkpoints.save("p", 3)
    seen: list[Commit] = []
    projector = Projector(
        {"*": seen.append}, name="p", commit_store=store, checkpoint_store=checkpoints,
        read_model_is_new=lambda: True, on_new_read_model="warn",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        projector.run()
    assert [c.position for c in seen] == [4, 5]
    assert "looks new" in caplog.text


def test_reset_starts_the_projector_again_from_the_first_commit(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 30)
    seen: list[int] = []
    projector = Projector(
        {"Cart": lambda c: seen.append(c.position or 0)}, name="p", commit_store=store,
        checkpoint_store=checkpoints,
    )  # fmt: skip
    projector.run()
    projector.reset()
    assert checkpoints.get("p") == 0
    projector.run()
    assert seen == list(range(1, 31)) * 2


def test_reset_is_refused_while_the_projector_runs(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    projector = Projector({"*": print}, name="p", commit_store=store, checkpoint_store=checkpoints)
    projector.start(watch=True)
    try:
        with pytest.raises(RuntimeError, match="stop it before reset"):
            projector.reset()
    finally:
        projector.stop()


def test_a_new_version_builds_beside_the_live_one_and_status_reports_both(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 40)
    live: list[int] = []
    rebuilt: list[int] = []
    v1 = Projector({"Cart": lambda c: live.append(c.position or 0)}, name="carts",
                   commit_store=store, checkpoint_store=checkpoints)  # fmt: skip
    v1.run()
    fill(store, 10, start=40)
    v2 = Projector(
        {"Cart": lambda c: rebuilt.append(c.position or 0)}, name="carts", version=2,
        commit_store=store, checkpoint_store=checkpoints, batch_size=7,
    )  # fmt: skip
    v1.start(watch=True)  # the live version keeps serving
    try:
        v2.run()
        v1.wait_for(50, timeout=5)
    finally:
        v1.stop()
    assert rebuilt == list(range(1, 51))
    assert live == list(range(1, 51))
    assert (checkpoints.get("carts"), checkpoints.get("carts@v2")) == (50, 50)

    status = v2.status()
    assert (status.name, status.version, status.positions, status.caught_up) == (
        "carts", 2, {0: 50}, True
    )  # fmt: skip
    assert status.previous is not None and status.previous.version == 1
    assert status.previous.positions == {0: 50}
    v2.reset()
    assert (checkpoints.get("carts"), checkpoints.get("carts@v2")) == (50, 0)


def test_status_reports_lag_in_commits_and_seconds_before_a_run(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 12)  # committed at T0 + a few ms
    checkpoints.save("p", 2)
    clock = ManualClock(T0 + timedelta(seconds=90))
    projector = Projector({"*": print}, name="p", commit_store=store, checkpoint_store=checkpoints,
                          clock=clock)  # fmt: skip
    status = projector.status()
    assert (status.positions, status.heads, status.lag_commits) == ({0: 2}, {0: 12}, 10)
    assert 89.9 < status.lag_seconds <= 90
    assert not status.running and not status.caught_up
    assert status.parked == () and status.last_error is None
    assert status.to_json()["lag_commits"] == 10


def test_on_progress_and_status_report_parked_aggregates_and_the_last_error(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 20, keys=4)
    reports: list[ProjectorProgress] = []

    def handler(commit: Commit) -> None:
        if commit.aggregate_key == "k1":
            raise ValueError("bad cart")

    projector = Projector(
        {"Cart": handler}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=FAST_RETRY, on_failure="park", on_progress=reports.append,
    )  # fmt: skip
    progress = projector.run()
    assert progress.caught_up and progress.parked == 1
    assert progress.last_error == "ValueError('bad cart')"
    assert reports[-1].parked == 1
    status = projector.status()
    assert [p.aggregate_id for p in status.parked] == ["Cart:k1"]
    assert status.last_error == "ValueError('bad cart')"
    assert status.to_json()["parked"] == 1


def test_bad_operation_options_are_refused(store: InMemoryCommitStore) -> None:
    for bad in ({"version": 0}, {"on_failure": "skip"}, {"on_new_read_model": "ignore"},
                {"inline": True, "parallel": 2}):  # fmt: skip
        with pytest.raises(ValueError):
            Projector({"*": print}, name="p", commit_store=store, **bad)  # type: ignore[arg-type]

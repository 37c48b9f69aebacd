"""The archiving contract suites (re-exported by :mod:`ddbes.testing.contracts`):

* ``ARCHIVE_STORE_CHECKS``, each ``check(factory)`` with a factory that takes no arguments and
  returns a new, empty :class:`~ddbes.archiving.ArchiveStore`;
* ``ARCHIVABLE_STORE_CHECKS``, each ``check(factory)`` with a factory that takes no arguments
  and returns a new, empty :class:`~ddbes.archiving.ArchivableCommitStore` with an archive.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ddbes.archiving import (
    ArchivableCommitStore,
    ArchivePolicy,
    Archiver,
    ArchiveStore,
    archive_key,
    encode_archive,
)
from ddbes.errors import VersionConflict
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes.testing._assertions import raises as _raises
from ddbes.testing.clock import ManualClock

__all__ = ["ARCHIVABLE_STORE_CHECKS", "ARCHIVE_STORE_CHECKS"]

_T0 = datetime(2024, 1, 1, tzinfo=UTC)
_LATER = ManualClock(_T0 + timedelta(days=400))
_POLICY = ArchivePolicy(aggregate_types=("Order",), idle_for=timedelta(days=30))
_FLUSH = 30.0


# ------------------------------------------------------------------ archive store


def check_an_object_reads_back_exactly(factory: Callable[[], ArchiveStore]) -> None:
    store = factory()
    assert store.get("Order/a/000000000001.json.z") is None
    body = os.urandom(2048) + b"\x00\xff"
    store.put("Order/a/000000000001.json.z", body)
    assert store.get("Order/a/000000000001.json.z") == body
    assert store.get("Order/a/000000000002.json.z") is None


def check_a_put_again_replaces_the_object(factory: Callable[[], ArchiveStore]) -> None:
    store = factory()
    store.put("k/x", b"first")
    store.put("k/x", b"second")
    assert store.get("k/x") == b"second"


def check_archive_keys_of_odd_names_stay_apart(factory: Callable[[], ArchiveStore]) -> None:
    store = factory()
    names = ["a", "a:5", "a/b", "a%2Fb", ".", "..", "ø✓", "x" * 600]
    for name in names:
        store.put(archive_key("T", name, 1), name.encode())
    for name in names:
        assert store.get(archive_key("T", name, 1)) == name.encode(), name


ARCHIVE_STORE_CHECKS: dict[str, Callable[[Callable[[], ArchiveStore]], None]] = {
    name.removeprefix("check_"): check
    for name, check in globals().items()
    if name.startswith("check_")
}

# ------------------------------------------------------------------ archivable commit store


def _commit(key: str, version: int, *, commit_id: str | None = None) -> Commit:
    return Commit(
        commit_id=commit_id or uuid.uuid4().hex,
        aggregate_type="Order",
        aggregate_key=key,
        version=version,
        committed_at=_T0 + timedelta(seconds=version),
        events=({"type": "Placed", "n": version, "text": "ø" * 50 * version},),
        metadata={"user": "u1"} if version == 2 else {},
    )


def _fill(store: CommitStore, keys: tuple[str, ...] = ("a", "b"), versions: int = 3) -> None:
    for version in range(1, versions + 1):
        for key in keys:
            store.append(_commit(key, version))
    store.flush_log(timeout=_FLUSH)


def _log(store: CommitStore) -> list[Commit]:
    return [c for p in range(store.log_partitions) for c in store.read_log(log_partition=p)]


def _history(store: CommitStore, key: str) -> list[Commit]:
    return list(store.read_commits("Order", key))


def check_archived_commits_read_back_whole(factory: Callable[[], ArchivableCommitStore]) -> None:
    """Loads and log reads of an archived aggregate return every commit, once, unchanged."""
    store = factory()
    _fill(store)
    log = _log(store)
    history = _history(store, "a")
    report = Archiver(store, clock=_LATER).run(_POLICY)
    assert [(one.aggregate_key, one.version, one.rewritten) for one in report.archived] == [
        ("a", 3, 3),
        ("b", 3, 3),
    ], report
    assert _log(store) == log
    assert _history(store, "a") == history
    assert (
        list(store.read_commits("Order", "a", from_version=2, descending=True))
        == (history[1:][::-1])
    )
    tip = store.archive_tip("Order", "a")
    assert tip is not None and tip.archived and tip.version == 3


def check_a_stale_writer_of_an_archived_version_conflicts(
    factory: Callable[[], ArchivableCommitStore],
) -> None:
    """An archived version stays taken: another commit there conflicts, a retry of the same
    commit returns it."""
    store = factory()
    stored = [store.append(_commit("a", version)) for version in (1, 2)]
    store.flush_log(timeout=_FLUSH)
    Archiver(store, clock=_LATER).run(_POLICY)
    _raises(VersionConflict, lambda: store.append(_commit("a", 2)))
    _raises(VersionConflict, lambda: store.append(_commit("a", 1)))
    retried = store.append(_commit("a", 2, commit_id=stored[1].commit_id))
    assert retried.commit_id == stored[1].commit_id and retried.version == 2
    assert len(_history(store, "a")) == 2
    assert len(_log(store)) == 2


def check_a_commit_to_an_archived_aggregate_makes_it_hot(
    factory: Callable[[], ArchivableCommitStore],
) -> None:
    """The next commit is an ordinary one; the history stays archived; a later run archives
    the whole history again into a new object."""
    store = factory()
    _fill(store, ("a",), 2)
    Archiver(store, clock=_LATER).run(_POLICY)
    store.append(_commit("a", 3))
    store.flush_log(timeout=_FLUSH)
    tip = store.archive_tip("Order", "a")
    assert tip is not None and not tip.archived and tip.version == 3
    assert [c.version for c in _history(store, "a")] == [1, 2, 3]
    assert [c.position for c in _log(store)] == [1, 2, 3]
    report = Archiver(store, clock=_LATER).run(_POLICY)
    assert [(one.version, one.rewritten) for one in report.archived] == [(3, 3)], report
    assert [c.version for c in _history(store, "a")] == [1, 2, 3]
    (record,) = store.archive_records("Order")
    assert record.version == 3 and record.location == report.archived[0].location


def check_archive_runs_are_idempotent_and_resume(
    factory: Callable[[], ArchivableCommitStore],
) -> None:
    """A run that stopped after some stubs is completed by the next; a run with nothing new
    writes nothing; a dry run writes nothing."""
    store = factory()
    _fill(store, ("a",), 4)
    before = _log(store)
    dry = Archiver(store, clock=_LATER).run(_POLICY, dry_run=True)
    assert [(one.version, one.rewritten) for one in dry.archived] == [(4, 0)]
    tip = store.archive_tip("Order", "a")
    assert tip is not None and not tip.archived
    commits = _history(store, "a")
    location = archive_key("Order", "a", 4)
    assert store.archive is not None
    store.archive.put(location, encode_archive(commits))
    assert store.stub_commits(commits[:2], location) == 2  # interrupted here
    assert _log(store) == before
    report = Archiver(store, clock=_LATER).run(_POLICY)
    assert [(one.version, one.rewritten) for one in report.archived] == [(4, 2)], report
    again = Archiver(store, clock=_LATER).run(_POLICY)
    assert again.archived == () and again.skipped == {"archived": 1}, again
    assert store.stub_commits(commits, location) == 0
    assert _log(store) == before


def check_recent_aggregates_and_refusals_stay_hot(
    factory: Callable[[], ArchivableCommitStore],
) -> None:
    store = factory()
    _fill(store, ("a", "b"), 1)
    early = ManualClock(_T0 + timedelta(days=1))
    assert Archiver(store, clock=early).run(_POLICY).skipped == {"recent": 2}
    picky = ArchivePolicy(
        aggregate_types=("Order",),
        idle_for=timedelta(days=30),
        predicate=lambda commits: commits[0].aggregate_key == "b",
    )
    report = Archiver(store, clock=_LATER).run(picky)
    assert [one.aggregate_key for one in report.archived] == ["b"]
    assert report.skipped == {"predicate": 1}
    tip = store.archive_tip("Order", "a")
    assert tip is not None and not tip.archived


ARCHIVABLE_STORE_CHECKS: dict[str, Callable[[Callable[[], ArchivableCommitStore]], None]] = {
    name.removeprefix("check_"): check
    for name, check in globals().items()
    if name.startswith("check_") and name.removeprefix("check_") not in ARCHIVE_STORE_CHECKS
}

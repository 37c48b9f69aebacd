"""Writers whose clocks disagree: an aggregate's committed_at never goes backwards.

A commit is stamped ``max(clock.now(), committed_at of the version before it)``, whichever way
it is written (a command on a stale instance, ``commit(retry=True)``, ``Aggregate.append``), so
loading at a time always gives a prefix of the history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ddbes.memory import InMemoryCommitStore
from ddbes.testing import ManualClock
from tests.core.aggregates import Counter

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _writers(store: InMemoryCommitStore) -> tuple[type[Counter], type[Counter]]:
    ahead = Counter.using(commit_store=store, clock=ManualClock(T0 + timedelta(seconds=5)))
    behind = Counter.using(commit_store=store, clock=ManualClock(T0 - timedelta(seconds=5)))
    return ahead, behind


def test_a_writer_behind_takes_the_time_of_the_commit_before_its_own() -> None:
    store = InMemoryCommitStore()
    ahead, behind = _writers(store)
    fast, slow = ahead.load(), behind.load()
    assert fast is not None and slow is not None

    fast.increment("a")
    slow.increment("b")  # stale: conflicts, re-hydrates, then stamps after "a"
    slow.commit({"type": "Incremented", "id": "c"}, retry=True)
    behind.append({"type": "Incremented", "id": "d"})

    times = [c.committed_at for c in store.read_commits("Counter", "@")]
    assert times == [T0 + timedelta(seconds=5)] * 4
    assert slow.head_committed_at == T0 + timedelta(seconds=5)


def test_a_writer_ahead_moves_time_forward_and_nobody_moves_it_back() -> None:
    store = InMemoryCommitStore()
    ahead, behind = _writers(store)
    behind.append({"type": "Incremented", "id": "a"})
    ahead.append({"type": "Incremented", "id": "b"})
    behind.append({"type": "Incremented", "id": "c"})

    times = [c.committed_at for c in store.read_commits("Counter", "@")]
    assert times == [
        T0 - timedelta(seconds=5),
        T0 + timedelta(seconds=5),
        T0 + timedelta(seconds=5),
    ]


def test_loading_at_a_clamped_time_gives_the_last_commit_stamped_with_it() -> None:
    store = InMemoryCommitStore()
    ahead, behind = _writers(store)
    behind.append({"type": "Incremented", "id": "a"})
    ahead.append({"type": "Incremented", "id": "b"})
    behind.append({"type": "Incremented", "id": "c"})

    at_first = behind.load(time=T0 - timedelta(seconds=5))
    at_clamped = behind.load(time=T0 + timedelta(seconds=5))
    before_all = behind.load(time=T0 - timedelta(seconds=6))
    assert at_first is not None and at_first.state["seen"] == ["a"]
    assert at_clamped is not None and at_clamped.version == 3
    assert at_clamped.state["seen"] == ["a", "b", "c"]
    assert before_all is not None and before_all.version == 0  # keyless: an empty instance

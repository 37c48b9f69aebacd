"""Writers that commit and record what they were told, and the reconciliation of their records
with what the store holds, shared by the fault, clock-skew and restart scenarios.

Every writer performs numbered operations. An operation commits one event
``{"type": "Recorded", "op": "<writer>-<n>"}`` and is attempted once from the writer's point of
view (the library may retry inside it): its outcome is the acknowledged ``commit_id`` or the
:mod:`ddbes.errors` exception that surfaced. Anything else that escapes a writer fails the test.

The reconciliation reads the table with a clean client (no injected faults) and checks:

- every log partition is dense ``1..head`` and no ``commit_id`` appears twice;
- every aggregate's versions are dense ``1..n`` and its commits are exactly its log entries;
- every acknowledged operation is stored exactly once, under the acknowledged ``commit_id``;
- an operation that raised is stored at most once (it may be stored: the outcome of a write
  whose answer was lost is unknown);
- nothing is stored that no writer attempted.

A scenario may *forgive* an acknowledged operation that is missing when the store itself forgot
it (DynamoDB Local drops the last acknowledged transaction when SIGKILLed): it is counted apart,
not as lost. It never leaves a hole: a writer that saw the store fail re-reads the log's head.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ddbes import Aggregate, RetryPolicy, aggregate_command
from ddbes.clock import SystemClock
from ddbes.errors import DdbesError, VersionConflict
from ddbes.model import Commit, Event
from ddbes.ports import Clock, CommitStore
from tests.reliability.counts import Counts

AGGREGATE_TYPE = "Account"
COMMAND_RETRY = RetryPolicy(max_attempts=30, initial_delay=0.002, backoff=2.0, max_delay=0.05)
"""Version conflicts on the shared aggregates: re-run the command, patiently."""


class SkewedClock(Clock):
    """The system clock shifted by a fixed offset, as on a machine whose clock is wrong."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset
        self._system = SystemClock()

    def now(self) -> datetime:
        return self._system.now() + self.offset

    def __repr__(self) -> str:
        return f"SkewedClock({self.offset.total_seconds():+.0f} s)"


class Account(Aggregate):
    """The aggregate every writer commits to: it counts the operations recorded on it."""

    key_schema = ("account_id",)
    aggregate_type = AGGREGATE_TYPE

    @staticmethod
    def reducer(state: Any, event: Event, commit: Commit) -> Any:
        count = 0 if state is None else state["count"]
        return {"count": count + 1, "last_op": event["op"]}

    @aggregate_command(retry=COMMAND_RETRY)
    def record(self, op: str) -> str:
        """Commit one ``Recorded`` event; return the stored commit's id."""
        self.commit({"type": "Recorded", "op": op})
        assert self.head_commit_id is not None
        return self.head_commit_id


# -------------------------------------------------------------------------- the ledger


@dataclass(frozen=True, slots=True)
class Attempt:
    """One operation and its outcome: ``commit_id`` when acknowledged, else ``error``."""

    op: str
    key: str
    commit_id: str | None
    error: str | None
    seconds: float
    started: float


@dataclass
class Ledger:
    """What every writer attempted and was told; thread-safe."""

    attempts: list[Attempt] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def crashed(self, description: str) -> None:
        with self._lock:
            self.unexpected.append(description)

    def failures(self) -> Counter[str]:
        return Counter(a.error for a in self.attempts if a.error is not None)


Operation = Callable[[str, str], str]
"""``operation(key, op)`` commits op's event to the aggregate ``key``; returns the commit_id."""


def aggregate_operation(cls: type[Account]) -> Operation:
    """Operations as an application does them: an ``Account`` command on a cached instance
    (stale after other writers' commits: the command's retry re-hydrates it)."""
    instances: dict[str, Account] = {}

    def operation(key: str, op: str) -> str:
        instance = instances.get(key)
        if instance is None:
            instance = instances[key] = cls(key)
        try:
            return instance.record(op)
        except DdbesError:
            del instances[key]  # as an application would: load afresh after a failure
            raise

    return operation


def blind_append_operation(cls: type[Account]) -> Operation:
    """Operations through ``Account.append``: no state, appended at the head version."""

    def operation(key: str, op: str) -> str:
        return cls.append({"type": "Recorded", "op": op}, key=key).commit_id

    return operation


def store_operation(store: CommitStore, clock: Clock | None = None) -> Operation:
    """Operations straight through ``CommitStore.append``: read the head commit, append the next
    version; a conflict (nothing written) reads the head again."""
    clock = clock or SystemClock()

    def operation(key: str, op: str) -> str:
        for _ in range(COMMAND_RETRY.max_attempts):
            head = next(store.read_commits(AGGREGATE_TYPE, key, descending=True, limit=1), None)
            commit = Commit(
                commit_id=random.randbytes(16).hex(),
                aggregate_type=AGGREGATE_TYPE,
                aggregate_key=key,
                version=head.version + 1 if head else 1,
                committed_at=clock.now(),
                events=({"type": "Recorded", "op": op},),
            )
            try:
                return store.append(commit).commit_id
            except VersionConflict:
                time.sleep(random.uniform(0, 0.005))
        raise VersionConflict(f"{AGGREGATE_TYPE}:{key}", -1, "still conflicting, gave up")

    return operation


def mixed_operation(writer: int, store: CommitStore) -> Operation:
    """Writer ``writer``'s way in (0-3): two go through aggregate commands, one appends
    blindly through ``Aggregate.append``, one calls the store itself."""
    accounts = Account.using(commit_store=store)
    return (
        aggregate_operation(accounts),
        store_operation(store),
        aggregate_operation(accounts),
        blind_append_operation(accounts),
    )[writer % 4]


def own_and_shared_keys(
    writer: int, rng: random.Random, *, own: int = 6, shared: int = 3, share: float = 0.3
) -> str:
    """A key of the writer's own aggregates, or (with probability ``share``) a shared one."""
    if rng.random() < share:
        return f"shared-{rng.randrange(shared)}"
    return f"w{writer}-{rng.randrange(own)}"


def run_writer(
    writer: int,
    operation: Operation,
    ledger: Ledger,
    *,
    seed: int,
    commits: int | None = None,
    stop: threading.Event | None = None,
    choose_key: Callable[[int, random.Random], str] = own_and_shared_keys,
    pause_after_error: float = 0.0,
) -> None:
    """Attempt ``commits`` operations (or until ``stop`` is set), recording each outcome."""
    rng = random.Random(seed)
    n = 0
    try:
        while (commits is None or n < commits) and not (stop is not None and stop.is_set()):
            n += 1
            key = choose_key(writer, rng)
            op = f"{writer}-{n}"
            started = time.monotonic()
            try:
                commit_id = operation(key, op)
            except DdbesError as exc:
                took = time.monotonic() - started
                ledger.add(Attempt(op, key, None, type(exc).__name__, took, started))
                if pause_after_error:
                    time.sleep(pause_after_error)
            else:
                took = time.monotonic() - started
                ledger.add(Attempt(op, key, commit_id, None, took, started))
    except BaseException:  # not a ddbes error: the test fails with it
        ledger.crashed(f"writer {writer}: {traceback.format_exc()}")


def run_writers(targets: Sequence[Callable[[], None]]) -> float:
    """Run each target in its own thread; return the wall time until all finished."""
    started = time.monotonic()
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a writer did not finish within 300 s"
    return time.monotonic() - started


# --------------------------------------------------------------------- reconciliation


@dataclass
class Reconciled:
    """The reconciliation's counts, its structural problems, and the stored commits."""

    counts: Counts
    problems: list[str]
    commits: dict[str, list[Commit]]
    """Each aggregate key's commits in version order."""
    stored_despite_error: int
    forgotten: list[Attempt]
    """Acknowledged operations missing that ``forgiven`` blamed on the store."""
    lost: list[Attempt]
    """Acknowledged operations missing, not forgiven."""


def read_log_past_holes(
    store: CommitStore, partition: int, head: int
) -> tuple[list[Commit], list[int]]:
    """Every entry of a log partition up to ``head``, reading past holes; and the holes."""
    entries: list[Commit] = []
    holes: list[int] = []
    after = 0
    while after < head:
        batch = list(store.read_log(after=after, log_partition=partition))
        if batch:
            entries.extend(batch)
            last = batch[-1].position
            assert last is not None
            after = last
        else:  # read_log stops before a hole: step over it
            after += 1
            holes.append(after)
    return entries, holes


def wait_for_log(store: CommitStore, timeout: float = 60.0) -> None:
    """Wait until the global log holds as many commits as the aggregates do: a table that
    gives log positions in the background gets them a little after the commits are stored."""
    stored = sum(
        1
        for key in store.aggregate_keys(AGGREGATE_TYPE)
        for _ in store.read_commits(AGGREGATE_TYPE, key)
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(store.head_position(p) for p in range(store.log_partitions)) >= stored:
            return
        time.sleep(0.05)


def reconcile(
    scenario: str,
    store: CommitStore,
    ledger: Ledger,
    seconds: float,
    *,
    forgiven: Callable[[Attempt], bool] | None = None,
) -> Reconciled:
    """Compare ``ledger`` with what ``store`` (a clean one, no injected faults) holds.

    ``forgiven(attempt)`` says whether an acknowledged operation that is missing may have been
    forgotten by the store itself (DynamoDB Local at SIGKILL); those are counted apart, not as
    lost. A hole in a log partition is always a problem.
    """
    problems = [
        f"a writer raised something other than a ddbes error: {u}" for u in ledger.unexpected
    ]
    wait_for_log(store)
    log: list[Commit] = []
    holes: dict[int, list[int]] = {}
    for partition in range(store.log_partitions):
        head = store.head_position(partition)
        entries, holes[partition] = read_log_past_holes(store, partition, head)
        positions = [c.position for c in entries]
        if positions != sorted(set(positions)) or len(positions) + len(holes[partition]) != head:
            problems.append(f"log partition {partition} is not 1..{head} in order")
        log.extend(entries)

    by_id = Counter(c.commit_id for c in log)
    duplicated_ids = sum(n - 1 for n in by_id.values() if n > 1)

    commits: dict[str, list[Commit]] = {}
    for key in store.aggregate_keys(AGGREGATE_TYPE):
        history = list(store.read_commits(AGGREGATE_TYPE, key))
        commits[key] = history
        versions = [c.version for c in history]
        if versions != list(range(1, len(history) + 1)):
            problems.append(f"{AGGREGATE_TYPE}:{key} versions are not dense: {versions}")
    in_log = Counter((c.aggregate_key, c.commit_id) for c in log)
    in_aggregates = Counter((c.aggregate_key, c.commit_id) for h in commits.values() for c in h)
    if in_log != in_aggregates:
        problems.append(
            f"the log and the aggregates disagree: {len(in_log - in_aggregates)} only in the "
            f"log, {len(in_aggregates - in_log)} only in aggregates"
        )

    stored_ops: dict[str, list[str]] = {}
    for commit in log:
        for event in commit.events:
            stored_ops.setdefault(str(event.get("op")), []).append(commit.commit_id)

    duplicated = stored_despite_error = 0
    forgotten: list[Attempt] = []
    missing: list[Attempt] = []
    attempted_ops = set()
    for attempt in ledger.attempts:
        attempted_ops.add(attempt.op)
        found = stored_ops.get(attempt.op, [])
        if len(found) > 1:
            duplicated += len(found) - 1
        if attempt.commit_id is not None:
            if not found and forgiven is not None and forgiven(attempt):
                forgotten.append(attempt)
            elif not found:
                missing.append(attempt)
            elif attempt.commit_id not in found:
                problems.append(
                    f"op {attempt.op} was acknowledged as {attempt.commit_id} but stored as {found}"
                )
        elif found:
            stored_despite_error += 1
    phantoms = set(stored_ops) - attempted_ops
    if phantoms:
        problems.append(f"stored operations no writer attempted: {sorted(phantoms)[:10]}")

    for partition, missing in holes.items():
        if missing:
            problems.append(f"log partition {partition} has holes at {missing[:10]}")

    acknowledged = sum(1 for a in ledger.attempts if a.commit_id is not None)
    failed = len(ledger.attempts) - acknowledged
    counts = Counts(
        scenario=scenario,
        attempted=len(ledger.attempts),
        acknowledged=acknowledged,
        stored=len(log),
        lost=len(missing),
        duplicated=duplicated + duplicated_ids,
        failures=dict(ledger.failures()),
        seconds=seconds,
        notes=(
            f"of {failed} operations that raised, {stored_despite_error} were stored anyway "
            f"(outcome unknown to the writer), {failed - stored_despite_error} not; "
            if failed
            else "no operation raised; "
        )
        + f"{len(commits)} aggregates",
    )
    return Reconciled(counts, problems, commits, stored_despite_error, forgotten, missing)

"""Writer processes SIGKILLed at random moments, mid-write, while a reader and a projector tail
the log (issue 12).

Four writer processes (``kill_writer.py``) commit without pause to ``Tally`` aggregates on
DynamoDB Local, some of their own and some shared (so version conflicts happen and are retried by
``aggregate_command(retry=...)`` and ``commit(..., retry=...)``). Each journals an operation
before it starts and its acknowledgement once the store returned, ``fsync``ed. For 25 s (on
until 25 kills, up to 40 s, when the machine is busy) a killer picks a writer at random, waits
for it to begin a step (a fresh journal line), lets it run 5-80 ms more, SIGKILLs it and starts
it again: writers die before, inside and after their requests. Meanwhile, in this process, a
reader tails every log partition with ``read_log`` and a :class:`~ddbes.Projector` watches the
log.

Then, once the log holds every stored commit (polled: a store may sequence the log in the
background, so ``append`` never tells us a position here), the reconciliation asserts:

- nothing lost: every acknowledged commit is stored as acknowledged and is in the log;
- nothing duplicated: no ``commit_id`` and no (aggregate, version) twice in the log, no
  operation stored twice;
- every stored commit is in the log exactly once, also those whose writer died before it was
  told; every log entry is a stored commit;
- every log partition is dense ``1..head`` and lists each aggregate's versions in order;
- the tailing reader received exactly ``1..head`` of each partition, in order, each position
  with the commit the log holds there at the end (it never skipped a position that filled
  later, never saw one twice, never saw one change);
- the projector handled every commit of the log, each aggregate's in version order.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

from ddbes.errors import DdbesError
from ddbes.memory import InMemoryCheckpointStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector
from ddbes_dynamodb import DynamoDBCommitStore
from tests.dynamodb.tables import table_name
from tests.reliability import kill_writer
from tests.reliability.counts import Counts, report
from tests.reliability.writers import read_log_past_holes
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.dynamodb

WRITERS = 4
LOG_PARTITIONS = 2
KILLING = 25.0
"""Seconds of killing and restarting writers..."""
MIN_KILLS = 25
KILLING_AT_MOST = 40.0
"""...and on until MIN_KILLS kills (a busy machine makes the writers slow), at most this long."""
KILL_AFTER = (0.005, 0.080)
"""The victim runs this long (s, uniform) after it began a step, then dies."""
BETWEEN_KILLS = (0.05, 0.30)
"""Pause (s, uniform) before the killer picks its next victim, so writers also get work done."""
STEP_WAIT = 5.0
"""How long the killer waits for a (restarted) victim to begin a step before picking another."""
CATCH_UP = 60.0
"""How long the log, the reader and the projector may take to hold every stored commit."""
SHOW = 5
"""How many lost, duplicated or otherwise wrong commits a failure lists."""

TABLE_OPTIONS: list[dict[str, Any]] = [
    # Keyword arguments of create_table: both ways of giving log positions.
    {"sequencing": "background"},
    {"sequencing": "inline"},
]


# ------------------------------------------------------------------------ the writers


@dataclass
class Operation:
    """One operation of one writer incarnation, as its journal tells it."""

    op: str
    key: str
    way: str
    commit_id: str | None = None
    version: int | None = None
    error: str | None = None
    retried: bool = False


@dataclass
class Journals:
    """Every writer incarnation's journal, read back."""

    operations: dict[str, Operation] = field(default_factory=dict)
    cut_lines: int = 0
    """Lines a kill cut short (ignored: their record never completed)."""
    problems: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, paths: list[Path]) -> Journals:
        journals = cls()
        for path in paths:
            if not path.exists():
                continue  # killed before it opened its journal
            *lines, tail = path.read_text().split("\n")
            journals.cut_lines += bool(tail)
            for line in lines:
                journals._add(path, json.loads(line))
        return journals

    def _add(self, path: Path, record: dict[str, Any]) -> None:
        op = record["op"]
        if record["kind"] == "attempt":
            if op in self.operations:
                self.problems.append(f"{path.name}: op {op} attempted twice")
            self.operations[op] = Operation(op, record["key"], record["way"])
            return
        operation = self.operations.get(op)
        if operation is None:
            self.problems.append(f"{path.name}: an outcome of op {op}, never attempted")
        elif record["kind"] == "ack":
            operation.commit_id = record["commit_id"]
            operation.version = record["version"]
            operation.retried = record["retried"]
            if record["key"] != operation.key:
                self.problems.append(f"{path.name}: op {op} acknowledged on another aggregate")
        else:
            operation.error = record["error"]

    @property
    def acknowledged(self) -> list[Operation]:
        return [o for o in self.operations.values() if o.commit_id is not None]

    @property
    def unknown(self) -> list[Operation]:
        """Operations a kill interrupted: attempted, with no outcome journalled."""
        return [o for o in self.operations.values() if o.commit_id is None and o.error is None]


class Writers:
    """The writer processes, forked from a fork server that has imported ``kill_writer``."""

    def __init__(self, directory: Path, endpoint_url: str, table: str) -> None:
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([kill_writer.__name__])
        self._directory = directory
        self._endpoint_url = endpoint_url
        self._table = table
        self.processes: dict[int, BaseProcess] = {}
        self.incarnations: dict[int, int] = defaultdict(int)
        self.journals: list[Path] = []
        self.crashed: list[str] = []
        """Writers that ended by themselves (exit code), which they never should."""

    def journal(self, writer: int) -> Path:
        return self._directory / f"writer{writer}-{self.incarnations[writer]}.jsonl"

    def start(self, writer: int) -> None:
        self.incarnations[writer] += 1
        journal = self.journal(writer)
        self.journals.append(journal)
        process = self._context.Process(
            target=kill_writer.run,
            args=(str(journal),),
            kwargs={
                "endpoint_url": self._endpoint_url,
                "table": self._table,
                "writer": writer,
                "incarnation": self.incarnations[writer],
                "parent_pid": os.getpid(),
            },
            name=f"kill-writer-{writer}",
            daemon=True,
        )
        process.start()
        self.processes[writer] = process

    def kill(self, writer: int) -> None:
        process = self.processes.pop(writer, None)
        if process is None:
            return
        process.kill()  # SIGKILL
        process.join(timeout=10)
        if process.exitcode != -signal.SIGKILL:
            self.crashed.append(f"writer {writer} ended with exit code {process.exitcode}")

    def check(self) -> None:
        """Restart a writer that ended by itself, noting it (the test then fails)."""
        for writer, process in list(self.processes.items()):
            if not process.is_alive():
                self.crashed.append(f"writer {writer} ended with exit code {process.exitcode}")
                del self.processes[writer]
                self.start(writer)

    def kill_all(self) -> None:
        for writer in list(self.processes):
            self.kill(writer)


@dataclass
class Kills:
    count: int = 0
    victims: Counter[int] = field(default_factory=Counter)
    ended: float = 0.0


def kill_writers_at_random(writers: Writers, rng: random.Random) -> Kills:
    """For ``KILLING`` seconds (or on until ``MIN_KILLS`` kills, for ``KILLING_AT_MOST``
    seconds at most), SIGKILL a random writer 5-80 ms after it began a step; restart it."""
    kills = Kills()
    began = time.monotonic()
    while (now := time.monotonic() - began) < KILLING or (
        kills.count < MIN_KILLS and now < KILLING_AT_MOST
    ):
        time.sleep(rng.uniform(*BETWEEN_KILLS))
        writers.check()
        victim = rng.randrange(WRITERS)
        journal = writers.journal(victim)
        size = _size(journal)
        patience = time.monotonic() + STEP_WAIT
        while _size(journal) == size and time.monotonic() < patience:
            time.sleep(0.001)
        if _size(journal) == size:
            continue  # a slow start: pick another victim
        time.sleep(rng.uniform(*KILL_AFTER))
        writers.kill(victim)
        kills.count += 1
        kills.victims[victim] += 1
        writers.start(victim)
    kills.ended = time.monotonic()
    return kills


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


# ------------------------------------------------------------------ readers of the log


class Tail:
    """A thread that reads every log partition after the last position it received, over and
    over, and records every position (and commit) it receives, in order."""

    def __init__(self, store: DynamoDBCommitStore, partitions: int) -> None:
        self._store = store
        self.received: dict[int, list[tuple[int, str]]] = {p: [] for p in range(partitions)}
        self.last = dict.fromkeys(range(partitions), 0)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tail", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the tailing reader hung"

    def _run(self) -> None:
        while not self._stop.is_set():
            for partition, received in self.received.items():
                try:
                    for commit in self._store.read_log(
                        after=self.last[partition], log_partition=partition
                    ):
                        assert commit.position is not None
                        received.append((commit.position, commit.commit_id))
                        self.last[partition] = commit.position
                except DdbesError as exc:  # DynamoDB Local stays up: none is expected
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                except BaseException as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    return
            self._stop.wait(0.01)


@dataclass(frozen=True)
class Handled:
    position: int
    log_partition: int
    commit_id: str
    aggregate_id: str
    version: int


class Recorder:
    """The projector's handler: records every commit it is handed."""

    def __init__(self) -> None:
        self.handled: list[Handled] = []

    def __call__(self, commit: Commit) -> None:
        assert commit.position is not None
        self.handled.append(
            Handled(
                commit.position,
                commit.log_partition,
                commit.commit_id,
                commit.aggregate_id,
                commit.version,
            )
        )


def read_partition(store: DynamoDBCommitStore, partition: int) -> tuple[list[Commit], int]:
    """A partition's log up to its head, stepping over holes (which ``read_log`` stops
    before); and the head."""
    head = store.head_position(partition)
    entries, _holes = read_log_past_holes(store, partition, head)
    return entries, head


def stored_commits(store: DynamoDBCommitStore) -> dict[str, list[Commit]]:
    """Every stored commit item, per aggregate key, in version order."""
    return {
        key: list(store.read_commits(kill_writer.AGGREGATE_TYPE, key))
        for key in store.aggregate_keys(kill_writer.AGGREGATE_TYPE)
    }


def wait_for_the_log(
    store: DynamoDBCommitStore, tail: Tail, recorder: Recorder, timeout: float
) -> tuple[dict[str, list[Commit]], dict[int, list[Commit]], dict[int, int]]:
    """Poll until the log holds every stored commit and is dense, and the reader and the
    projector have reached its heads (or ``timeout`` passes); return the stored commits, the
    log and the heads as last read."""
    deadline = time.monotonic() + timeout
    flush = getattr(store, "flush_log", None)  # a store that sequences in the background
    while True:
        if callable(flush):
            flush(timeout=max(0.1, deadline - time.monotonic()))
        stored = stored_commits(store)
        log: dict[int, list[Commit]] = {}
        heads: dict[int, int] = {}
        for partition in range(store.log_partitions):
            log[partition], heads[partition] = read_partition(store, partition)
        in_log = {c.commit_id for entries in log.values() for c in entries}
        handled = {h.commit_id for h in recorder.handled}
        if (
            all(c.commit_id in in_log for history in stored.values() for c in history)
            and all(len(log[p]) == heads[p] == tail.last[p] for p in log)
            and in_log <= handled
        ) or time.monotonic() > deadline:
            return stored, log, heads
        time.sleep(0.1)


# ---------------------------------------------------------------------- the scenario


@pytest.fixture
def store(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBCommitStore]:
    made = DynamoDBCommitStore(
        table_name("ddbes-kills"), endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
    )
    yield made
    close(made)
    made.delete_table(wait=False)


def close(store: DynamoDBCommitStore) -> None:
    """Stop a store's background work, if it has any (a store that sequences the log in the
    background runs a thread in every process that reads or writes the log)."""
    stop = getattr(store, "close", None)
    if callable(stop):
        stop()


def _options_id(options: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(options.items())) or "default"


@pytest.mark.parametrize("table_options", TABLE_OPTIONS, ids=_options_id)
def test_writers_killed_mid_write_lose_nothing_and_the_log_stays_whole(
    store: DynamoDBCommitStore,
    dynamodb_local: DynamoDBLocal,
    tmp_path: Path,
    table_options: dict[str, Any],
) -> None:
    store.create_table(log_partitions=LOG_PARTITIONS, **table_options)
    endpoint = dynamodb_local.endpoint_url
    started = time.monotonic()
    writers = Writers(tmp_path, endpoint, store.table_name)
    readers = [
        DynamoDBCommitStore(store.table_name, endpoint_url=endpoint, region_name="us-east-1")
        for _ in range(2)
    ]
    tail = Tail(readers[0], LOG_PARTITIONS)
    recorder = Recorder()
    projector = Projector(
        {"*": recorder},
        name="kills",
        commit_store=readers[1],
        checkpoint_store=InMemoryCheckpointStore(),
        poll_interval=0.05,
        batch_size=100,
    )
    try:
        tail.start()
        projector.start(watch=True)
        for writer in range(WRITERS):
            writers.start(writer)
        kills = kill_writers_at_random(writers, random.Random())
        writers.kill_all()
        stored, log, heads = wait_for_the_log(store, tail, recorder, CATCH_UP)
        caught_up = time.monotonic() - kills.ended
    finally:
        writers.kill_all()  # whatever happened, no writer outlives the test
        projector_error = projector.stop(timeout=30)
        tail.stop()
        for reader in readers:
            close(reader)
    seconds = time.monotonic() - started
    journals = Journals.read(writers.journals)
    counts, problems = reconcile(
        f"writer kills ({_options_id(table_options)})",
        journals,
        stored=stored,
        log=log,
        heads=heads,
        tail=tail,
        recorder=recorder,
        seconds=seconds,
    )
    counts.notes += (
        f"; {kills.count} SIGKILLs (per writer {dict(sorted(kills.victims.items()))}), "
        f"{journals.cut_lines} journal lines cut short; log, reader and projector complete "
        f"{caught_up:.1f} s after the last kill"
    )
    problems += [f"writer crashed: {c}" for c in writers.crashed]
    if projector_error is not None:
        problems.append(f"the projector stopped with {projector_error!r}")
    for problem in problems:  # shown with the counts should report() fail first
        print("PROBLEM", problem)
    report(counts)
    assert problems == [], "\n".join([counts.line(), *problems])
    assert kills.count >= 15, f"only {kills.count} kills"
    assert len(journals.unknown) > 0, "no kill interrupted an operation"
    assert any(o.retried for o in journals.acknowledged), "no version conflict was retried"
    assert counts.acknowledged >= 50, counts.line()


def reconcile(
    scenario: str,
    journals: Journals,
    *,
    stored: dict[str, list[Commit]],
    log: dict[int, list[Commit]],
    heads: dict[int, int],
    tail: Tail,
    recorder: Recorder,
    seconds: float,
) -> tuple[Counts, list[str]]:
    """Compare the writers' journals, the stored commits, the log, what the tailing reader
    received and what the projector handled; return the counts and every other problem."""
    problems = list(journals.problems)
    kind = kill_writer.AGGREGATE_TYPE
    stored_by_id: dict[str, Commit] = {}
    stored_at: dict[tuple[str, int], Commit] = {}
    for key, history in stored.items():
        if [c.version for c in history] != list(range(1, len(history) + 1)):
            problems.append(f"{kind}:{key} versions are not 1..{len(history)}")
        for commit in history:
            stored_by_id[commit.commit_id] = commit
            stored_at[(key, commit.version)] = commit
    entries = [c for partition in sorted(log) for c in log[partition]]
    log_ids = Counter(c.commit_id for c in entries)
    log_versions = Counter((c.aggregate_key, c.version) for c in entries)

    # Acknowledged commits: stored as acknowledged, and in the log.
    lost: list[str] = []
    for operation in journals.acknowledged:
        assert operation.version is not None
        there = stored_at.get((operation.key, operation.version))
        if there is None or there.commit_id != operation.commit_id:
            lost.append(
                f"op {operation.op}: {kind}:{operation.key} v{operation.version} "
                f"{operation.commit_id} acknowledged, stored: {there.commit_id if there else None}"
            )
        elif operation.commit_id not in log_ids:
            lost.append(f"op {operation.op}: {operation.commit_id} stored, not in the log")

    # Nothing twice: commit ids and versions in the log, operations in the table.
    stored_ops: dict[str, list[str]] = defaultdict(list)
    for commit in stored_by_id.values():
        for event in commit.events:
            stored_ops[str(event["op"])].append(commit.commit_id)
    twice = [f"commit {i} {n}x in the log" for i, n in log_ids.items() if n > 1]
    twice += [f"{kind}:{k} v{v} {n}x in the log" for (k, v), n in log_versions.items() if n > 1]
    twice += [f"op {op} stored as {ids}" for op, ids in stored_ops.items() if len(ids) > 1]
    duplicated = sum(n - 1 for n in log_ids.values() if n > 1)
    duplicated += sum(n - 1 for n in log_versions.values() if n > 1)
    duplicated += sum(len(ids) - 1 for ids in stored_ops.values() if len(ids) > 1)

    # Every stored commit in the log (acknowledged or not), every log entry a stored commit.
    unsequenced = [c for c in stored_by_id.values() if c.commit_id not in log_ids]
    if unsequenced:
        problems.append(
            f"{len(unsequenced)} stored commits are not in the log after {CATCH_UP:.0f} s, "
            f"e.g. {[f'{c.aggregate_id} v{c.version} {c.commit_id}' for c in unsequenced[:SHOW]]}"
        )
    for entry in entries:
        original = stored_by_id.get(entry.commit_id)
        if original is None:
            problems.append(f"log entry {entry.log_partition}/{entry.position} is no stored commit")
        elif (original.aggregate_key, original.version, original.events) != (
            entry.aggregate_key,
            entry.version,
            entry.events,
        ):
            problems.append(
                f"log entry {entry.log_partition}/{entry.position} differs from {original}"
            )
    phantoms = sorted(set(stored_ops) - set(journals.operations))
    if phantoms:
        problems.append(f"stored operations no writer attempted: {phantoms[:SHOW]}")

    # The log: dense per partition, each aggregate's versions in order.
    for partition, partition_entries in log.items():
        positions = [c.position for c in partition_entries]
        if positions != list(range(1, heads[partition] + 1)):
            holes = sorted(set(range(1, heads[partition] + 1)).difference(positions))
            problems.append(
                f"log partition {partition} is not 1..{heads[partition]}: holes {holes[:SHOW]}"
            )
        latest: dict[str, int] = {}
        for commit in partition_entries:
            if commit.version <= latest.get(commit.aggregate_key, 0):
                problems.append(
                    f"log partition {partition}: {commit.aggregate_id} v{commit.version} at "
                    f"{commit.position} after v{latest[commit.aggregate_key]}"
                )
            latest[commit.aggregate_key] = commit.version

    # The tailing reader: exactly 1..head of each partition, each with the final log's commit.
    for partition, received in tail.received.items():
        positions = [position for position, _ in received]
        if positions != list(range(1, heads[partition] + 1)):
            seen = Counter(positions)
            problems.append(
                f"the reader received partition {partition} as {len(positions)} positions, "
                f"not 1..{heads[partition]}: twice {[p for p, n in seen.items() if n > 1][:SHOW]}"
                f", missing {sorted(set(range(1, heads[partition] + 1)) - set(seen))[:SHOW]}, "
                f"first out of order at index "
                f"{next((i for i, p in enumerate(positions) if p != i + 1), None)}"
            )
        final = {c.position: c.commit_id for c in log[partition]}
        changed = [p for p, commit_id in received if final.get(p) != commit_id]
        if changed:
            problems.append(
                f"the reader received other commits at partition {partition} positions "
                f"{changed[:SHOW]} than the log holds there now"
            )
    if tail.errors:
        problems.append(f"the reader failed {len(tail.errors)}x: {tail.errors[:SHOW]}")

    # The projector: every log commit at least once, each aggregate's in version order.
    where = {c.commit_id: (c.log_partition, c.position) for c in entries}
    first: dict[str, Handled] = {}
    order: dict[str, list[int]] = defaultdict(list)
    for handled in recorder.handled:
        if handled.commit_id in first:
            continue  # delivery is at least once: a repeat is allowed
        first[handled.commit_id] = handled
        order[handled.aggregate_id].append(handled.version)
        if where.get(handled.commit_id) != (handled.log_partition, handled.position):
            problems.append(
                f"the projector handled {handled} at another position than the log's "
                f"{where.get(handled.commit_id)}"
            )
    unhandled = [i for i in log_ids if i not in first]
    if unhandled:
        problems.append(f"the projector never handled {len(unhandled)}: {unhandled[:SHOW]}")
    for aggregate, versions in order.items():
        if versions != sorted(versions):
            problems.append(f"the projector handled {aggregate} out of order: {versions}")

    unknown = journals.unknown
    unknown_stored = sum(1 for o in unknown if o.op in stored_ops)
    failed = Counter(o.error for o in journals.operations.values() if o.error is not None)
    retried = sum(1 for o in journals.acknowledged if o.retried)
    counts = Counts(
        scenario=scenario,
        attempted=len(journals.operations),
        acknowledged=len(journals.acknowledged),
        stored=len(stored_by_id),
        lost=len(lost),
        duplicated=duplicated,
        delivered={
            "log": len(entries),
            "tailing reader": sum(len(r) for r in tail.received.values()),
            "projector": len(recorder.handled),
        },
        failures=dict(failed),
        seconds=seconds,
        notes=(
            f"{len(unknown)} operations cut by a kill before their outcome was journalled, "
            f"{unknown_stored} of them stored anyway, {len(unknown) - unknown_stored} not; "
            f"{retried} acknowledged after retrying a version conflict; {len(stored)} "
            f"aggregates; log heads {dict(sorted(heads.items()))}; projector repeats "
            f"{len(recorder.handled) - len(first)}"
        )
        + (f"; LOST {lost[:SHOW]}" if lost else "")
        + (f"; DUPLICATED {twice[:SHOW]}" if twice else ""),
    )
    return counts, problems

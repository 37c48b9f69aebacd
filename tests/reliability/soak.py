"""The soak pipeline: writer threads → commit store → projector and websocket clients.

:func:`run_soak` commits ``commits`` single-event commits from several writer threads (each
owns its aggregates, so no commit conflicts), while a :class:`~ddbes.projection.projector.Projector`
follows the log and an :class:`~ddbes_ws.EventStreamServer` streams it to four clients:

* ``ws all``: every event, from the start of the log;
* ``ws filtered``: ``Order`` commits whose event is ``Flagged`` (a regexp and a list), a subset
  whose size the writers know exactly;
* ``ws resumed``: every event; it closes itself early in the run and a new stream resumes
  from the first one's :attr:`~ddbes_ws.EventStream.position`;
* ``ws cut``: every event, through a TCP relay that drops every connection once mid-run (no
  close frames); the stream reconnects by itself.

Each hop's commit ids are reconciled with the hop before it: the store's log with what the
writers had acknowledged, the projector and the clients with the log (the filtered client with
its subset). ``lost`` is what a hop should have received and did not, ``duplicated`` what it
received more than once; the clients reading everything must also see each log partition's
positions as 1, 2, 3, ... in order, across their reconnections.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ddbes.errors import StoreUnavailable
from ddbes.model import Commit
from ddbes.ports import CheckpointStore, CommitStore
from ddbes.projection.projector import Projector
from ddbes_ws import EventStream, EventStreamServer, StreamItem
from tests.reliability.counts import Counts
from tests.ws.conftest import Proxy

FILTERED = [{"aggregateType": {"regexp": "^Ord"}, "type": ["Flagged"]}]
"""The ``ws filtered`` client's filter: ``Order`` commits whose event is ``Flagged``."""

KEYS_PER_WRITER = 20
STORE_RETRIES = 20


def aggregate_type_of(index: int) -> str:
    return "Order" if index % 2 else "Cart"


def event_type_of(index: int) -> str:
    return "Flagged" if index % 7 == 3 else "Added"


def wanted_by_filter(index: int) -> bool:
    """Whether commit ``index`` matches :data:`FILTERED` (computed without the filter code)."""
    return aggregate_type_of(index) == "Order" and event_type_of(index) == "Flagged"


@dataclass
class Writers:
    """Commit ``soak-0`` ... ``soak-<n-1>`` from ``threads`` threads; thread ``w`` takes every
    ``threads``-th index from ``w``, round-robin over its own aggregates, at most ``rate``
    commits per second in all (``None``: as fast as the store takes them)."""

    store: CommitStore
    commits: int
    threads: int
    rate: float | None = None
    attempted: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)
    done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._write, args=(w,), name=f"soak-writer-{w}", daemon=True)
            for w in range(self.threads)
        ]
        for thread in threads:
            thread.start()
        return threads

    def _write(self, writer: int) -> None:
        versions: dict[tuple[str, str], int] = {}
        begun = time.monotonic()
        for made, index in enumerate(range(writer, self.commits, self.threads)):
            if self.rate is not None:
                ahead = begun + made * self.threads / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            kind = aggregate_type_of(index)
            key = f"w{writer}-k{(index // self.threads) % KEYS_PER_WRITER}"
            version = versions.get((kind, key), 0) + 1
            versions[(kind, key)] = version
            commit = Commit(
                commit_id=f"soak-{index}",
                aggregate_type=kind,
                aggregate_key=key,
                version=version,
                committed_at=datetime.now(UTC),
                events=({"type": event_type_of(index), "index": index},),
            )
            with self._lock:
                self.attempted.add(commit.commit_id)
            self._append(commit)

    def _append(self, commit: Commit) -> None:
        """Append, retrying an unknown outcome with the same commit (the store is idempotent)."""
        for _ in range(STORE_RETRIES):
            try:
                self.store.append(commit)
            except StoreUnavailable as exc:
                with self._lock:
                    self.failures[type(exc).__name__] += 1
                time.sleep(0.05)
                continue
            except Exception as exc:  # counted, and the commit is then missing downstream
                with self._lock:
                    self.failures[type(exc).__name__] += 1
                return
            with self._lock:
                self.acknowledged.add(commit.commit_id)
            return


@dataclass
class Hop:
    """What one consumer received, in order."""

    name: str
    commit_ids: list[str] = field(default_factory=list)
    positions: dict[int, list[int]] = field(default_factory=dict)

    def take(self, commit_id: str, log_partition: int, position: int) -> None:
        self.commit_ids.append(commit_id)
        self.positions.setdefault(log_partition, []).append(position)

    @property
    def distinct(self) -> set[str]:
        return set(self.commit_ids)


async def _consume(stream: EventStream, hop: Hop, stop_after: int | None = None) -> None:
    async for item in stream:
        _take(hop, item)
        if stop_after is not None and len(hop.commit_ids) >= stop_after:
            return


def _take(hop: Hop, item: StreamItem) -> None:
    hop.take(item.commit_id, item.log_partition, item.position)


async def _until(check: Callable[[], bool], deadline: float) -> bool:
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def read_whole_log(store: CommitStore) -> Hop:
    """Every commit of every log partition, checking that positions are dense."""
    log = Hop("log")
    for partition in range(store.log_partitions):
        for commit in store.read_log(after=0, log_partition=partition):
            assert commit.position is not None
            log.take(commit.commit_id, partition, commit.position)
    return log


def dense(hop: Hop, heads: dict[int, int]) -> list[str]:
    """How ``hop``'s positions differ from 1, 2, ..., head in each partition (empty if not)."""
    problems = []
    for partition, head in heads.items():
        got = hop.positions.get(partition, [])
        if got != list(range(1, head + 1)):
            gaps = sorted(set(range(1, head + 1)) - set(got))[:5]
            repeats = [p for p, n in Counter(got).items() if n > 1][:5]
            problems.append(
                f"{hop.name} partition {partition}: {len(got)} positions for head {head}, "
                f"missing {gaps}, repeated {repeats}, in order {got == sorted(got)}"
            )
    return problems


async def run_soak(
    scenario: str,
    store: CommitStore,
    checkpoints: CheckpointStore,
    *,
    commits: int,
    writers: int,
    timeout: float,
    rate: float | None = None,
) -> tuple[Counts, list[str]]:
    """Run the pipeline and reconcile every hop; returns the counts and any order problems.

    ``rate`` paces the writers (commits per second in all) so that the clients' disconnections
    happen while commits are still being written."""
    started = time.monotonic()
    partitions = store.log_partitions
    origin = [0] * partitions
    projected = Hop("projector")
    projector_lock = threading.Lock()

    def project(commit: Commit) -> None:
        with projector_lock:
            projected.take(commit.commit_id, commit.log_partition, commit.position or 0)

    projector = Projector(
        {"*": project},
        name=f"soak-{scenario}",
        commit_store=store,
        checkpoint_store=checkpoints,
        poll_interval=0.05,
        batch_size=500,
    )
    hops = {name: Hop(name) for name in ("ws all", "ws filtered", "ws resumed", "ws cut")}
    notes: list[str] = []
    async with EventStreamServer(commit_store=store, poll_delay=0.05) as server:
        proxy = await Proxy(server.port).start()
        streams = {
            "ws all": EventStream(server.url, events=[{}], after=origin),
            "ws filtered": EventStream(server.url, events=FILTERED, after=origin),
            "ws cut": EventStream(proxy.url, events=[{}], after=origin, backoff_max=0.5),
        }
        first_resumed = EventStream(server.url, events=[{}], after=origin)
        for stream in (*streams.values(), first_resumed):
            await stream.start()
        tasks = [
            asyncio.create_task(_consume(stream, hops[name])) for name, stream in streams.items()
        ]
        projector.start(watch=True)
        writing = Writers(store, commits, writers, rate)
        threads = writing.start()

        def join_writers() -> None:
            for thread in threads:
                thread.join()

        writers_done = asyncio.create_task(asyncio.to_thread(join_writers))

        # "ws resumed": stop early, then resume from the stream's own position.
        deadline = started + timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await _consume(first_resumed, hops["ws resumed"], stop_after=max(1, commits // 10))
        resume_at = first_resumed.position
        await first_resumed.close()
        notes.append(
            f"ws resumed closed after {len(hops['ws resumed'].commit_ids)} commits "
            f"({'while' if not writers_done.done() else 'after'} writing)"
        )
        assert resume_at is not None
        resumed = EventStream(server.url, events=[{}], after=resume_at)
        await resumed.start()
        streams["ws resumed"] = resumed
        tasks.append(asyncio.create_task(_consume(resumed, hops["ws resumed"])))

        # "ws cut": drop its connection once it is well into the log.
        await _until(lambda: len(hops["ws cut"].commit_ids) >= commits // 5, deadline)
        proxy.cut()
        notes.append(
            f"ws cut dropped at {len(hops['ws cut'].commit_ids)} commits "
            f"({'while' if not writers_done.done() else 'after'} writing)"
        )

        await writers_done
        flush = getattr(store, "flush_log", None)  # a store that sequences in the background:
        if callable(flush):  # acknowledged commits enter its log shortly after
            await asyncio.to_thread(flush, timeout=max(1.0, deadline - time.monotonic()))
        log = read_whole_log(store)
        heads = {p: store.head_position(p) for p in range(partitions)}
        stored = log.distinct
        expected = {
            "projector": stored,
            "ws all": stored,
            "ws filtered": {c for c in stored if wanted_by_filter(int(c.split("-")[1]))},
            "ws resumed": stored,
            "ws cut": stored,
        }

        def finished() -> bool:
            with projector_lock:
                if projected.distinct < stored:
                    return False
            return all(hops[name].distinct >= expected[name] for name in hops)

        await _until(finished, deadline)
        await asyncio.sleep(0.5)  # anything sent twice arrives now
        projector.stop(timeout=30)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for stream in streams.values():
            await stream.close()
        notes.append(
            f"reconnects: ws cut {streams['ws cut'].reconnects}, "
            f"ws all {streams['ws all'].reconnects}"
        )
        await proxy.close()
    if projector.error is not None:
        notes.append(f"projector error: {projector.error!r}")

    received = {"projector": projected, **hops}
    acknowledged = writing.acknowledged
    lost = len(acknowledged - stored) + sum(
        len(expected[name] - hop.distinct) for name, hop in received.items()
    )
    duplicated = (len(log.commit_ids) - len(stored)) + sum(
        len(hop.commit_ids) - len(hop.distinct) for hop in received.values()
    )
    problems = dense(log, heads)
    for name in ("projector", "ws all", "ws resumed", "ws cut"):
        problems += dense(received[name], heads)
    for name, hop in received.items():
        phantoms = hop.distinct - expected[name]
        if phantoms:
            problems.append(f"{name} received {len(phantoms)} commits it should not have")
    if acknowledged != writing.attempted:
        problems.append(f"{len(writing.attempted - acknowledged)} commits were not acknowledged")
    counts = Counts(
        scenario=scenario,
        attempted=len(writing.attempted),
        acknowledged=len(acknowledged),
        stored=len(log.commit_ids),
        lost=lost,
        duplicated=duplicated,
        delivered={name: len(hop.commit_ids) for name, hop in received.items()},
        failures=dict(writing.failures),
        seconds=time.monotonic() - started,
        notes=(
            f"{writers} writers"
            + (f" at {rate:,.0f} commits/s" if rate else "")
            + f", {partitions} log partitions; ws filtered expected "
            f"{len(expected['ws filtered'])}; " + "; ".join(notes)
        ),
    )
    return counts, problems

"""Projector operations: the idle cost of many watching projectors, and a rebuild beside the live
version.

* **Idle cost.** N projectors watch a caught-up log in one process for a while; the store's
  reads (``read_log`` and ``head_position`` calls) are counted. With one commit store object
  they share one poll of the heads; the comparison row gives each projector its own store
  object (the same table), which is what every projector paid before the shared poll: one
  read per log partition per poll each. Target: 10 idle projectors ≤ 1.1x the reads/s of one.
* **Rebuild beside the live one.** Version 1 of a projector follows the log (``start(watch=True)``)
  while a writer appends; version 2 of the same name catches up from position 0 with
  ``run()``, under its own checkpoint. Its rate is compared with a raw ``read_log`` in batches
  of 500 over the same log (target: ≥ 0.8x, as for a plain catch-up).

On the in-memory store and on DynamoDB Local; rounds are interleaved.

    scripts/private-net uv run python bench/projector_ops.py [--rounds 3] [--commits 50000]
        [--only memory|dynamodb]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import dynamodb_endpoint, machine, write_section
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.ports import CheckpointStore, CommitStore
from ddbes.projection.projector import Projector

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AGGREGATES = 100
BATCH = 500


def log_commits(count: int) -> Iterator[Commit]:
    for number in range(count):
        yield Commit(
            commit_id=f"c{number}",
            aggregate_type="Meter",
            aggregate_key=f"meter-{number % AGGREGATES:03d}",
            version=number // AGGREGATES + 1,
            committed_at=T0 + timedelta(milliseconds=number),
            events=({"type": "Read", "value": number},),
        )


class Counted:
    """Counts a commit store's reads of the log (a subclass per store class, made below)."""

    reads = 0
    _counting = threading.Lock()

    def read_log(self, **kwargs: Any) -> Iterator[Commit]:
        with Counted._counting:
            Counted.reads += 1
        return super().read_log(**kwargs)  # type: ignore[misc, no-any-return]

    def head_position(self, log_partition: int = 0) -> int:
        with Counted._counting:
            Counted.reads += 1
        return super().head_position(log_partition)  # type: ignore[misc, no-any-return]


def idle_reads_per_second(
    make_store: Callable[[], CommitStore],
    make_checkpoints: Callable[[], CheckpointStore],
    projectors: int,
    *,
    shared: bool,
    seconds: float,
    poll: float,
) -> float:
    stores = [make_store()] * projectors if shared else [make_store() for _ in range(projectors)]
    running = [
        Projector(
            {"*": lambda c: None},
            name=f"idle-{uuid.uuid4().hex[:6]}",
            commit_store=store,
            checkpoint_store=make_checkpoints(),
            poll_interval=poll,
        )
        for store in stores
    ]
    for p in running:
        p.start(watch=True)
    head = stores[0].head_position(0)
    for p in running:
        p.wait_for(head, timeout=120)
    time.sleep(poll * 2)
    before = Counted.reads
    time.sleep(seconds)
    rate = (Counted.reads - before) / seconds
    for p in running:
        p.stop()
    return rate


def bench_idle(
    label: str,
    make_store: Callable[[], CommitStore],
    make_checkpoints: Callable[[], CheckpointStore],
    rounds: int,
    *,
    unshared: bool,
) -> list[str]:
    seconds, poll = 3.0, 0.1
    variants = [("1 projector", 1, True), ("10 projectors, one store object", 10, True)]
    if unshared:
        variants.append(("10 projectors, a store object each (no sharing)", 10, False))
    rows: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for _ in range(rounds):
        for name, count, shared in variants:
            rows[name].append(idle_reads_per_second(
                make_store, make_checkpoints, count, shared=shared, seconds=seconds, poll=poll
            ))  # fmt: skip
    one = statistics.median(rows["1 projector"])
    lines = [
        f"**{label}**: store reads per second while idle (poll_interval={poll} s, "
        f"{seconds:.0f} s per round, one log partition)",
        "",
        "| projectors | reads/s (median) | spread | vs one |",
        "|---|---|---|---|",
    ]
    for name, values in rows.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.1f} | {min(values):.1f}-{max(values):.1f} | {median / one:.2f}x |"
        )
    return [*lines, ""]


def bench_rebuild(
    label: str, store: CommitStore, make_checkpoints: Callable[[], CheckpointStore], rounds: int
) -> list[str]:
    head = store.head_position(0)
    raw_rates: list[float] = []
    rebuild_rates: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        after, events = 0, 0
        while True:
            batch = list(store.read_log(after=after, limit=BATCH))
            if not batch:
                break
            events += sum(len(c.events) for c in batch)
            after = batch[-1].position or 0
            if after >= head:
                break
        raw_rates.append(head / (time.perf_counter() - started))

        checkpoints = make_checkpoints()
        name = f"rebuild-{uuid.uuid4().hex[:6]}"
        live = Projector({"*": _nothing}, name=name, commit_store=store,
                         checkpoint_store=checkpoints, poll_interval=0.1)  # fmt: skip
        checkpoints.save(name, head)  # version 1 is live and caught up
        live.start(watch=True)
        counter = Counter()
        rebuild = Projector({"*": counter.count}, name=name, version=2, commit_store=store,
                            checkpoint_store=checkpoints, batch_size=BATCH)  # fmt: skip
        started = time.perf_counter()
        progress = rebuild.run()
        elapsed = time.perf_counter() - started
        live.stop()
        assert counter.commits == progress.handled >= head, (counter.commits, head)
        assert checkpoints.get(f"{name}@v2") >= head
        rebuild_rates.append(progress.handled / elapsed)
    raw, rebuilt = statistics.median(raw_rates), statistics.median(rebuild_rates)
    return [
        f"**{label}**: version 2 rebuilding {head:,} commits while version 1 watches",
        "",
        "| reader | commits/s (median) | spread |",
        "|---|---|---|",
        f"| raw read_log, limit={BATCH} | {raw:,.0f} | "
        f"{min(raw_rates):,.0f}-{max(raw_rates):,.0f} |",
        f"| projector version 2, run() beside version 1 | {rebuilt:,.0f} | "
        f"{min(rebuild_rates):,.0f}-{max(rebuild_rates):,.0f} |",
        f"| ratio | **{rebuilt / raw:.2f}x** | |",
        "",
    ]


def _nothing(commit: Commit) -> None:
    return None


class Counter:
    def __init__(self) -> None:
        self.commits = 0
        self.events = 0

    def count(self, commit: Commit) -> None:
        self.commits += 1
        self.events += len(commit.events)


class CountedMemoryStore(Counted, InMemoryCommitStore):
    pass


def load_dynamodb(endpoint: str, count: int) -> tuple[str, Any, Callable[[], None]]:
    """A fresh table holding ``count`` commits (written with BatchWriteItem, as
    ``bench/projector.py`` does)."""
    from ddbes._validation import encoded_events
    from ddbes_dynamodb import DynamoDBCommitStore
    from ddbes_dynamodb._items import commit_items, keys_pk, pad

    table = f"bench-ops-{uuid.uuid4().hex[:8]}"
    store = DynamoDBCommitStore(table, endpoint_url=endpoint)
    store.create_table(log_partitions=1, sequencing="inline")
    items: list[dict[str, Any]] = []
    for position, commit in enumerate(log_commits(count), start=1):
        payload, compressed = encoded_events(commit)
        commit_item, log_item = commit_items(commit, 0, payload, compressed)
        commit_item["n"] = {"N": str(position)}
        log_item["s"] = {"S": pad(position)}
        items += [commit_item, log_item]
        if commit.version == 1:
            items.append(
                {"p": {"S": keys_pk(commit.aggregate_type)}, "s": {"S": commit.aggregate_key}}
            )
    client = store.client
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
    assert store.head_position(0) == count
    return table, client, store.delete_table


def in_memory(commits: int, rounds: int) -> list[str]:
    """The in-memory store's parts."""
    memory = CountedMemoryStore()
    for commit in log_commits(commits):
        memory.append(commit)
    return [
        *bench_idle(
            "In-memory store", lambda: memory, InMemoryCheckpointStore, rounds, unshared=False
        ),
        *bench_rebuild("In-memory store", memory, InMemoryCheckpointStore, rounds),
    ]


def on_dynamodb(given_endpoint: str | None, commits: int, rounds: int) -> list[str]:
    """DynamoDB Local's parts (started here unless ``given_endpoint`` names one)."""
    endpoint, local = dynamodb_endpoint(given_endpoint)
    try:
        from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore

        class CountedDynamoDBStore(Counted, DynamoDBCommitStore):
            pass

        table, client, drop = load_dynamodb(endpoint, commits)
        try:

            def dynamodb() -> CommitStore:
                return CountedDynamoDBStore(table, client=client)

            def checkpoints() -> CheckpointStore:
                return DynamoDBCheckpointStore(table, client=client)

            return [
                *bench_idle("DynamoDB Local", dynamodb, checkpoints, rounds, unshared=True),
                *bench_rebuild("DynamoDB Local", dynamodb(), checkpoints, rounds),
            ]
        finally:
            drop()
    finally:
        if local is not None:
            local.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=50_000)
    parser.add_argument("--dynamodb-endpoint", help="an already running DynamoDB Local")
    parser.add_argument("--only", choices=["memory", "dynamodb"], help="one store's parts only")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    if args.write and args.only:
        parser.error("--write records every part: leave --only out")

    lines: list[str] = []
    if args.only != "dynamodb":
        lines += in_memory(args.commits, args.rounds)
    if args.only != "memory":
        lines += on_dynamodb(args.dynamodb_endpoint, args.commits, args.rounds)

    body = "\n".join(
        [
            "Idle cost of watching projectors in one process, and a rebuild at version 2 beside "
            "a live version 1 (see `docs/projectors.md`, Operations).",
            "",
            "```shell",
            f"scripts/private-net uv run python bench/projector_ops.py --rounds {args.rounds} "
            f"--commits {args.commits}",
            "```",
            f"Machine: {machine()}. Median of {args.rounds} rounds (spread = min-max).",
            "",
            *lines,
        ]
    )
    print(body)
    if args.write:
        write_section("Projector operations", body)


if __name__ == "__main__":
    main()

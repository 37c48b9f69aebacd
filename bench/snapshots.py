"""What snapshots buy: loading a long aggregate costs about as much as loading a short one.

On DynamoDB Local + S3 (moto, serving one request at a time) and on the in-memory stores, one run:

* the baseline: a 100-commit aggregate, loaded by replaying its commits;
* a 10,000-commit aggregate with a snapshot every 100 versions (the latest at 10,000), once with
  snapshots as tips in the commit table (``DynamoDBSnapshotStore`` with an S3 overflow: one
  Query per load) and once with snapshots on S3 alone (a GET beside a Query);
* the same aggregates grown to 10,099 commits: the worst case, 99 commits after the snapshot;
* the 10,000-commit aggregate without snapshots (a full replay), to show what snapshots buy.

Rounds are interleaved so that noise on this shared machine hits every variant alike. The
commit store is DynamoDB Local (AWS's engine), never moto; moto only serves S3.

    scripts/private-net uv run python bench/snapshots.py [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import dynamodb_endpoint, machine, why, write_section
from ddbes import Aggregate, Commit
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CommitStore, SnapshotStore

FREQUENCY = 100
LONG = 10_000
SHORT = 100
TAILS = (50, FREQUENCY - 1)
"""Commits after the snapshot in phases 2 and 3: the average case, and the most a load replays."""


class Meter(Aggregate):
    """A typical small aggregate: a few counters and the last readings."""

    key_schema = ("meter_id",)
    snapshots_frequency = FREQUENCY

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = state or {"total": 0, "readings": 0, "last": []}
        return {
            "total": state["total"] + event["value"],
            "readings": state["readings"] + 1,
            "last": [*state["last"][-9:], {"value": event["value"], "at": event["at"]}],
        }


@dataclass
class Variant:
    """One kind of load, timed over interleaved rounds."""

    label: str
    load: Callable[[], Any]
    loads_per_round: int
    baseline: Variant | None = None
    """The baseline timed in the same rounds (``None`` for a baseline)."""
    seconds: list[float] = field(default_factory=list)

    def run_round(self) -> None:
        start = time.perf_counter()
        for _ in range(self.loads_per_round):
            self.load()
        self.seconds.append((time.perf_counter() - start) / self.loads_per_round)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def ratio(self) -> float:
        return 1.0 if self.baseline is None else self.median_ms / self.baseline.median_ms

    @property
    def spread(self) -> str:
        return f"{min(self.seconds) * 1000:.2f}-{max(self.seconds) * 1000:.2f}"


def fill(cls: Any, key: str, count: int, start: int = 1) -> None:
    meter = cls.load(key) or cls(key)
    for number in range(start, start + count):
        meter.commit({"type": "Read", "value": number % 17, "at": f"t{number}"})


def loader(cls: Any, key: str, version: int) -> Callable[[], Any]:
    def load() -> Any:
        meter = cls.load(key)
        assert meter is not None and meter.version == version, (key, meter)
        return meter

    return load


def interleave(variants: list[Variant], rounds: int) -> None:
    for variant in variants:  # warm-up
        variant.load()
    for _ in range(rounds):
        for variant in variants:
            variant.run_round()


def bench_stack(
    name: str,
    commit_store: CommitStore,
    snapshot_stores: dict[str, SnapshotStore],
    rounds: int,
    fast: int,
) -> list[Variant]:
    """Fill a short aggregate and one long aggregate per snapshot store (labelled by its key in
    ``snapshot_stores``), then time the loads in three phases, every variant of a phase in the
    same interleaved rounds.

    ``fast``: loads per round of the cheap variants (the full replay of 10,000 commits gets a
    tenth of that, at least 1).
    """
    replaying = Meter.using(commit_store=commit_store, snapshots=False)
    setups = [
        (
            label,
            f"long-{index}",
            Meter.using(commit_store=commit_store, snapshot_store=store, snapshots=True),
        )
        for index, (label, store) in enumerate(snapshot_stores.items())
    ]
    started = time.perf_counter()
    fill(replaying, "short", SHORT)
    for label, key, bound in setups:
        fill(bound, key, LONG)
        snapshot = snapshot_stores[label].get("Meter", key)
        assert snapshot is not None and snapshot.version == LONG, snapshot
    filled = SHORT + LONG * len(setups)
    print(f"{name}: filled {filled:,} commits in {time.perf_counter() - started:.1f} s")

    baseline = Variant(f"{SHORT} commits, replayed", loader(replaying, "short", SHORT), fast)
    at_snapshot = [
        Variant(
            f"{LONG:,} commits, snapshot at {LONG:,}{label}",
            loader(bound, key, LONG),
            fast,
            baseline,
        )
        for label, key, bound in setups
    ]
    replay_long = Variant(
        f"{LONG:,} commits, no snapshots (full replay)",
        loader(replaying, setups[0][1], LONG),
        max(1, fast // 10),
        baseline,
    )
    interleave([baseline, *at_snapshot, replay_long], rounds)

    rows = [baseline, *at_snapshot, replay_long]
    head = LONG
    for phase, tail in enumerate(TAILS, start=2):
        for _label, key, bound in setups:
            fill(bound, key, LONG + tail - head, start=head + 1)
        head = LONG + tail
        again = Variant(f"{SHORT} commits, replayed (phase {phase})", baseline.load, fast)
        after = [
            Variant(
                f"{head:,} commits: snapshot at {LONG:,} + {tail} commits{label} (phase {phase})",
                loader(bound, key, head),
                fast,
                again,
            )
            for label, key, bound in setups
        ]
        interleave([again, *after], rounds)
        rows += [again, *after]
    for row in rows:
        print(f"  {row.label}: {row.median_ms:.2f} ms/load, {row.ratio:.2f}x")
    return rows


TIPS = ", tips in DynamoDB (one Query)"
S3_ONLY = ", S3 only (GET beside a Query)"


def aws_stores(
    given_dynamodb: str | None, s3_endpoint: str | None
) -> tuple[Any, dict[str, SnapshotStore], list[Any]]:
    """The commit store on DynamoDB Local, and two snapshot stores: tips in its table (with an
    S3 overflow for large states, unused by these small ones) and S3 alone."""
    from bench import _moto_process
    from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBSnapshotStore
    from ddbes_s3 import S3SnapshotStore

    stop: list[Any] = []
    endpoint, local = dynamodb_endpoint(given_dynamodb)
    if local is not None:
        stop.append(local.kill)
    if s3_endpoint is None:
        s3_endpoint, stop_moto = _moto_process.start()
        stop.append(stop_moto)
    suffix = uuid.uuid4().hex[:8]
    commit_store = DynamoDBCommitStore(f"bench-snapshots-{suffix}", endpoint_url=endpoint)
    commit_store.create_table()
    s3 = S3SnapshotStore(f"bench-snapshots-{suffix}", "bench", endpoint_url=s3_endpoint)
    s3.create_bucket()
    overflow = S3SnapshotStore(f"bench-snapshots-{suffix}", "bench-tips", client=s3.client)
    tips = DynamoDBSnapshotStore(commit_store, overflow=overflow)
    return commit_store, {TIPS: tips, S3_ONLY: s3}, stop


def worst_case(rows: list[Variant], label: str) -> Variant:
    """The phase-3 load (most commits after the snapshot) of one snapshot store."""
    return next(r for r in reversed(rows) if label in r.label)


def headlines(rows: list[Variant]) -> list[str]:
    """The worst cases (most commits after the snapshot) and the full replay, for the README."""
    full = next(r for r in rows if "no snapshots" in r.label)
    lines = []
    for label, claim in (
        (TIPS, "snapshots as tips in DynamoDB (one Query), worst case (DynamoDB Local)"),
        (S3_ONLY, "snapshots on S3 alone, worst case (DynamoDB Local + moto)"),
    ):
        worst = worst_case(rows, label)
        assert worst.baseline is not None
        lines.append(
            why(
                f"Load a 10,000-commit aggregate, {claim}",
                f"{worst.median_ms:.1f} ms",
                f"a 100-commit aggregate: {worst.baseline.median_ms:.1f} ms",
                f"{worst.ratio:.2f}x the time",
            )
        )
    return [
        *lines,
        why(
            "The same aggregate without snapshots",
            f"{full.median_ms:,.0f} ms",
            f"a 100-commit aggregate: {full.baseline.median_ms:.1f} ms" if full.baseline else "",
            f"{full.ratio:.0f}x the time",
        ),
    ]


def table(rows: list[Variant]) -> list[str]:
    lines = [
        "| load | ms/load (median, spread) | loads/s | ratio to the 100-commit load of its phase |",
        "|---|---|---|---|",
    ]
    for row in rows:
        ratio = "baseline" if row.baseline is None else f"**{row.ratio:.2f}x**"
        lines.append(
            f"| {row.label} | {row.median_ms:.2f} ({row.spread}) | {1000 / row.median_ms:,.0f} "
            f"| {ratio} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dynamodb-endpoint", help="an already running DynamoDB Local")
    parser.add_argument("--s3-endpoint", help="an already running S3 (moto) endpoint")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()

    memory = bench_stack(
        "in-memory", InMemoryCommitStore(), {"": InMemorySnapshotStore()}, args.rounds, fast=200
    )
    commit_store, snapshot_stores, stop = aws_stores(args.dynamodb_endpoint, args.s3_endpoint)
    try:
        aws = bench_stack(
            "DynamoDB Local + S3", commit_store, snapshot_stores, args.rounds, fast=30
        )
    finally:
        for action in stop:
            action()

    lines = [
        "Loading an aggregate of 10,000 commits with a snapshot every 100 versions, against "
        "loading one of 100 commits (target: ≤ 1.3x with snapshots as tips in DynamoDB), with "
        "the two snapshot stores side by side; and the same long aggregate without snapshots. "
        "One run; within each phase the rounds of every variant are interleaved. Phases 2 and "
        "3 grow the aggregates to 50 commits after the snapshot (the average case) and 99 (the "
        "worst: a load never replays more) and time the baseline again beside them.",
        "",
        "```shell",
        f"scripts/private-net uv run python bench/snapshots.py --rounds {args.rounds}",
        "```",
        f"Machine: {machine()}. Median of {args.rounds} rounds (spread = min-max).",
        "With tips (`DynamoDBSnapshotStore(commit_store, overflow=S3SnapshotStore(...))`, the "
        "recommended setup) the latest snapshot is an item in the aggregate's commit partition "
        "that sorts after every version, so a load is one strongly consistent Query, newest "
        "first: the tip, then the newest `snapshots_frequency + 1` commits, which reach back "
        "to the snapshot's head commit (checked, so a stale snapshot is never used). States "
        "over 64 KiB would live on S3, the tip pointing to them; these are about 1 KB. With S3 "
        "alone a load fetches the snapshot (one GET, on a worker thread) while it reads the "
        "same commits with one Query; here the client, DynamoDB Local and moto share 2 cores, "
        "so the two requests compete for CPU instead of overlapping their waits as they would "
        "on AWS. The in-memory snapshot store is read first, then the commits from the "
        "snapshot's head on.",
        "",
        "**DynamoDB Local + S3 (moto, serialized).** The commit store is DynamoDB Local; moto, "
        "in a process of its own as a remote S3 would be, serves only S3, whose latency here "
        "is moto's, not AWS's.",
        "",
        *table(aws),
        "",
        "**In-memory stores.**",
        "",
        *table(memory),
        "",
        *headlines(aws),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("Snapshots", "\n".join(lines))


if __name__ == "__main__":
    main()

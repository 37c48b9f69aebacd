"""The JavaScript-table importer against ddbes's own commit path, on DynamoDB Local.

Builds a table in the JavaScript ddbes's format (``tests/migrate_js/jstables.py``: 10 commits
each of 10,000 aggregates by default, one ~400-byte event per commit, commit times 1 ms apart),
migrates it with ``ddbes_dynamodb.migrate_js`` into a new default (background) table, and
compares the rate (the whole run: reading, planning, writing and verifying) with ddbes's own
commit path with batching: ``DynamoDBCommitStore.append`` from 8 threads (each its own
aggregates), until every commit is in the log (``flush_log``), on a background table (the
sequencer batches up to 50 commits per transaction) and on an inline table (group commit, up to
25 per transaction). The better of the two is the baseline.

scripts/private-net uv run --no-sync python -m bench.migrate_js [--commits N] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.migrate_js.jstables import JsTables, js_item

from bench._harness import dynamodb_endpoint, machine, write_section
from ddbes import Commit
from ddbes_dynamodb import DynamoDBCommitStore, migrate_js
from ddbes_dynamodb._client import make_client

T0 = datetime(2017, 1, 1, tzinfo=UTC)
THREADS = 8


def _event(n: int) -> dict[str, Any]:
    return {
        "type": "ItemAdded",
        "name": f"item-{n}",
        "sku": f"SKU-{n:08d}",
        "note": "x" * 300,
    }


def build_source(tables: JsTables, commits: int, per_aggregate: int = 10) -> str:
    """A JavaScript-format table of ``commits`` commits, written by 4 threads."""
    name = tables.create()
    aggregates = commits // per_aggregate

    def items(part: int) -> list[dict[str, Any]]:
        return [
            js_item(
                "Cart",
                f"cart-{n % aggregates}",
                n // aggregates + 1,
                [_event(n)],
                T0 + timedelta(milliseconds=n),
            )
            for n in range(part, commits, 4)
        ]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda part: tables.put(name, items(part)), range(4)))
    return name


def own_commit_path(client: Any, sequencing: str, commits: int) -> float:
    """Commits/s of ``append`` from THREADS threads until all are in the log."""
    store = DynamoDBCommitStore(f"bench-own-{uuid.uuid4().hex[:10]}", client=client)
    store.create_table(sequencing=sequencing)
    per_thread = commits // THREADS
    barrier = threading.Barrier(THREADS + 1)

    def write(thread: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            store.append(
                Commit(
                    commit_id=uuid.uuid4().hex,
                    aggregate_type="Cart",
                    aggregate_key=f"t{thread}-{n % 50}",
                    version=n // 50 + 1,
                    committed_at=datetime.now(UTC),
                    events=(_event(n),),
                )
            )

    workers = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    store.flush_log()
    elapsed = time.perf_counter() - start
    assert store.head_position() == per_thread * THREADS
    store.close()
    store.delete_table(wait=False)
    return per_thread * THREADS / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--baseline-commits", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()

    endpoint, local = dynamodb_endpoint()
    client = make_client("dynamodb", table="bench", endpoint_url=endpoint, region_name="us-east-1")
    tables = JsTables(client)
    try:
        print("warm-up ...", flush=True)
        own_commit_path(client, "background", 800)
        print(f"building a {args.commits:,}-commit JavaScript table ...", flush=True)
        began = time.perf_counter()
        source = build_source(tables, args.commits)
        built = time.perf_counter() - began
        print(f"  {built:.0f} s", flush=True)

        background: list[float] = []
        inline: list[float] = []
        migrations: list[tuple[float, float, Any]] = []
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}: own commit path ...", flush=True)
            background.append(own_commit_path(client, "background", args.baseline_commits))
            inline.append(own_commit_path(client, "inline", args.baseline_commits))
            if round_ == 0 or args.commits <= 20_000:
                print(f"round {round_ + 1}: migration ...", flush=True)
                target = DynamoDBCommitStore(
                    f"bench-migrated-{uuid.uuid4().hex[:8]}", client=client
                )
                phases: dict[str, float] = {}

                def phase(progress: Any, phases: dict[str, float] = phases) -> None:
                    phases.setdefault(progress.phase, time.perf_counter())

                start = time.perf_counter()
                report = migrate_js(source, target, client=client, on_progress=phase)
                elapsed = time.perf_counter() - start
                end = start + elapsed
                writing = phases["verifying"] - phases["writing"]
                split = (phases["writing"] - start, writing, end - phases["verifying"])
                assert report.verified and report.commits_written == args.commits
                migrations.append((elapsed, writing, split))
                target.close()
                target.delete_table(wait=False)
    finally:
        tables.delete_all()
        if local is not None:
            local.kill()

    own_background = statistics.median(background)
    own_inline = statistics.median(inline)
    baseline = max(own_background, own_inline)
    elapsed = statistics.median(m[0] for m in migrations)
    writing = statistics.median(m[1] for m in migrations)
    reading, _, verifying = migrations[0][2]
    whole = args.commits / elapsed
    writes = args.commits / writing
    command = "scripts/private-net uv run --no-sync python -m bench.migrate_js"
    bg_row = (
        f"| own path: `append`, {THREADS} threads, background table, until in the log | "
        f"{own_background:,.0f} ({min(background):,.0f}-{max(background):,.0f}) | "
        f"{own_background / baseline:.2f}x |"
    )
    inline_row = (
        f"| own path: `append`, {THREADS} threads, inline table (group commit) | "
        f"{own_inline:,.0f} ({min(inline):,.0f}-{max(inline):,.0f}) | "
        f"{own_inline / baseline:.2f}x |"
    )
    whole_row = (
        f"| **migration, whole run** (read, plan, write, verify: {elapsed:.0f} s) | "
        f"**{whole:,.0f}** | **{whole / baseline:.2f}x** (target ≥ 0.8x) |"
    )
    body = f"""
`ddbes_dynamodb.migrate_js` (`ddbes migrate-js`) moving a {args.commits:,}-commit table of the
JavaScript ddbes (10 commits each of {args.commits // 10:,} aggregates, one ~400-byte event per
commit) into a new default table, against ddbes's own commit path with batching: `append` from
{THREADS} threads until every commit is in the log, on a background table (sequencer batches)
and on an inline table (group commit). Both on the same DynamoDB Local, which shares the 2
cores with the client.

```shell
{command}
```
Machine: {machine()}. Own commit path: median of {args.rounds} rounds of
{args.baseline_commits:,} commits; migration: {len(migrations)} run(s) of the whole table
(building it took {built:.0f} s and is not counted).

| | commits/s | vs the better own path |
|---|---|---|
{bg_row}
{inline_row}
{whole_row}
| migration, write phase alone ({writing:.0f} s) | {writes:,.0f} | {writes / baseline:.2f}x |

The migration's phases: reading and planning {reading:.0f} s (a strongly consistent Scan of
every item, gunzip, JSON, ddbes's checks and encoding), writing {writing:.0f} s, verifying
{verifying:.0f} s.

The importer writes each log partition in transactions of up to 49 commits (commit item and
log entry each, the key registry for an aggregate's first commit, and the partition's progress
marker: 100 actions), one after the other, so the log stays dense and a resume exact; ddbes's
own path writes five rows per commit on a background table (the commit, its index entry, the
log entry, the update that sets its position, the index removal), the importer two.
"""
    print(body)
    if not args.no_write:
        write_section("Migrating JavaScript ddbes tables", body)


if __name__ == "__main__":
    main()

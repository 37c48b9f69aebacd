"""What the DynamoDB adapter costs on top of boto3, on DynamoDB Local, in one run.

* a ddbes commit (``DynamoDBCommitStore.append``) against the same ``TransactWriteItems``
  (commit item, log entry, previous-version check) hand-written with boto3 (target ≤ 1.15x);
* loading a 100-commit aggregate (``read_commits``) against a raw paginated Query of the same
  items (target ≤ 1.2x), and reading 1,000 log entries (``read_log``) against a raw Query;
* commits per second with 1 and 4 threads, beside the hand-written transaction.

Both sides of every comparison use the same boto3 client (ddbes's configuration: one attempt per
call, no parameter validation) and the same item shapes; only the adapter's own work differs.
Warm-up first (DynamoDB Local's JIT), then the variants' rounds interleaved.

    scripts/private-net uv run python bench/dynamodb.py [--rounds 7] [--no-write]

DynamoDB Local is started privately unless ``DDBES_BENCH_DYNAMODB_ENDPOINT`` (or
``DDBES_TEST_DYNAMODB_ENDPOINT``) names a running one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import Rate, compare, dynamodb_endpoint, machine, why, write_section
from ddbes.model import Commit
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

PAD = "x" * 280  # one event: a commit item of about 400 bytes, like the anchor figures


def _event(n: int) -> dict[str, Any]:
    return {"type": "ItemAdded", "sku": f"sku-{n}", "quantity": n % 7, "note": PAD}


class RawWriter:
    """The hand-written baseline: the transaction ddbes sends, built directly with boto3."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.positions = itertools.count(1)

    def commit(self, aggregate_key: str, version: int) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        events = json.dumps([_event(version)], separators=(",", ":"))
        position = next(self.positions)
        commit_id = uuid.uuid4().hex
        pk = f"c#5#Bench#{aggregate_key}"
        third: dict[str, Any]
        if version == 1:
            third = {
                "Put": {
                    "TableName": self.table,
                    "Item": {"p": {"S": "k#Bench"}, "s": {"S": aggregate_key}},
                }
            }
        else:
            third = {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": {"p": {"S": pk}, "s": {"S": f"{version - 1:012d}"}},
                    "ConditionExpression": "attribute_exists(p)",
                }
            }
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "p": {"S": pk},
                            "s": {"S": f"{version:012d}"},
                            "i": {"S": commit_id},
                            "t": {"S": now},
                            "e": {"S": events},
                            "n": {"N": str(position)},
                        },
                        "ConditionExpression": "attribute_not_exists(p)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "p": {"S": "l#0"},
                            "s": {"S": f"{position:012d}"},
                            "a": {"S": "Bench"},
                            "k": {"S": aggregate_key},
                            "v": {"N": str(version)},
                            "i": {"S": commit_id},
                            "t": {"S": now},
                            "e": {"S": events},
                        },
                        "ConditionExpression": "attribute_not_exists(p)",
                    }
                },
                third,
            ]
        )


class Aggregates:
    """Sequential versions of one aggregate per thread, for either writer."""

    def __init__(self, write: Callable[[str, int], None]) -> None:
        self.write = write
        self.local = threading.local()

    def run(self, operations: int) -> None:
        key = getattr(self.local, "key", None)
        if key is None:
            key = self.local.key = uuid.uuid4().hex[:10]
            self.local.version = 0
        for _ in range(operations):
            self.local.version += 1
            self.write(key, self.local.version)

    def threaded(self, threads: int) -> Callable[[int], None]:
        def action(operations: int) -> None:
            workers = [
                threading.Thread(target=self.run, args=(operations // threads,))
                for _ in range(threads)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()

        return action


def _ddbes_writer(store: DynamoDBCommitStore) -> Callable[[str, int], None]:
    def write(aggregate_key: str, version: int) -> None:
        store.append(
            Commit(
                commit_id=uuid.uuid4().hex,
                aggregate_type="Bench",
                aggregate_key=aggregate_key,
                version=version,
                committed_at=datetime.now(UTC),
                events=(_event(version),),
            )
        )

    return write


def _raw_query(client: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page_request = dict(request)
    while True:
        page = client.query(**page_request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        page_request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _why(claim: str, rate: Rate, raw: Rate, unit: str) -> str:
    return why(
        claim,
        f"{rate.median:,.0f} {unit}",
        f"hand-written boto3: {raw.median:,.0f} {unit}",
        f"{raw.median / rate.median:.2f}x the time",
    )


def _row(name: str, rate: Rate, unit: str, baseline: Rate | None = None, target: str = "") -> str:
    ratio = f"**{baseline.median / rate.median:.2f}x**" if baseline else "baseline"
    seconds = 1 / rate.median
    per_op = f"{seconds * 1e3:.2f} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.1f} µs"
    return f"| {name} | {rate.median:,.0f} {unit} ({rate.spread}) | {per_op} | {ratio} | {target} |"


def _throughput(name: str, rate: Rate, raw: Rate) -> str:
    return f"| {name} | {rate.median:,.0f} ({rate.spread}) | {rate.median / raw.median:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()

    endpoint, local = dynamodb_endpoint()
    client = make_client("dynamodb", table="bench", endpoint_url=endpoint, region_name="us-east-1")
    stores: list[DynamoDBCommitStore] = []

    def new_store(log_partitions: int = 1) -> DynamoDBCommitStore:
        store = DynamoDBCommitStore(f"bench-{uuid.uuid4().hex[:10]}", client=client)
        # The transaction per commit that the raw writer hand-writes is the inline table's; the
        # default background table is measured against plain puts in bench/scale.py.
        store.create_table(log_partitions=log_partitions, sequencing="inline")
        stores.append(store)
        return store

    try:
        rounds = args.rounds
        ddbes_store, raw_store = new_store(), new_store()
        ddbes_commits = Aggregates(_ddbes_writer(ddbes_store))
        raw_commits = Aggregates(RawWriter(client, raw_store.table_name).commit)
        # Warm-up: DynamoDB Local's JIT and the connection pool.
        ddbes_commits.run(300)
        raw_commits.run(300)
        print("commits ...", flush=True)
        commit_ddbes, commit_raw = compare(
            [("ddbes", ddbes_commits.run), ("raw", raw_commits.run)], 200, rounds
        )

        print("loads ...", flush=True)
        load_store = new_store()
        writer = _ddbes_writer(load_store)
        for version in range(1, 101):
            writer("load100", version)
        pk = "c#5#Bench#load100"
        load_request = {
            "TableName": load_store.table_name,
            "KeyConditionExpression": "p = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
            "ConsistentRead": True,
        }
        assert len(_raw_query(client, load_request)) == 100
        assert len(list(load_store.read_commits("Bench", "load100"))) == 100

        def load_ddbes(operations: int) -> None:
            for _ in range(operations):
                list(load_store.read_commits("Bench", "load100"))

        def load_raw(operations: int) -> None:
            for _ in range(operations):
                _raw_query(client, load_request)

        load_ddbes_rate, load_raw_rate = compare(
            [("ddbes", load_ddbes), ("raw", load_raw)], 40, rounds
        )

        print("log reads ...", flush=True)
        log_request = {
            "TableName": ddbes_store.table_name,
            "KeyConditionExpression": "p = :p AND s BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":p": {"S": "l#0"},
                ":a": {"S": f"{1:012d}"},
                ":b": {"S": f"{1000:012d}"},
            },
            "ConsistentRead": True,
        }
        assert len(_raw_query(client, log_request)) == 1000

        def log_ddbes(operations: int) -> None:
            for _ in range(operations // 1000):
                assert len(list(ddbes_store.read_log(after=0, limit=1000))) == 1000

        def log_raw(operations: int) -> None:
            for _ in range(operations // 1000):
                _raw_query(client, log_request)

        log_ddbes_rate, log_raw_rate = compare(
            [("ddbes", log_ddbes), ("raw", log_raw)], 5000, rounds
        )

        print("throughput ...", flush=True)
        partitioned = Aggregates(_ddbes_writer(new_store(log_partitions=4)))
        shared = Aggregates(_ddbes_writer(new_store()))
        raw_threads = Aggregates(RawWriter(client, new_store().table_name).commit)
        one, four, four_partitioned, raw_one, raw_four = compare(
            [
                ("ddbes 1 thread", shared.run),
                ("ddbes 4 threads", shared.threaded(4)),
                ("ddbes 4 threads, 4 partitions", partitioned.threaded(4)),
                ("raw 1 thread", raw_threads.run),
                ("raw 4 threads", raw_threads.threaded(4)),
            ],
            400,
            max(3, rounds - 2),
        )
    finally:
        for store in stores:
            store.delete_table(wait=False)
        if local is not None:
            local.kill()

    command = "scripts/private-net uv run python bench/dynamodb.py"
    if rounds != 7:
        command += f" --rounds {rounds}"
    body = f"""
Machine: {machine()}. DynamoDB Local 3.3 and the client share the 2 cores: these are CPU-bound
figures for comparison on this box, not AWS latencies. One run of `{command}`; warm-up first,
then the rounds of the compared variants interleaved; median of {rounds} rounds (spread =
min-max). "Raw" is the same request hand-written with boto3 on the same client: a ratio is
ddbes's time per operation over raw's. The tables are `create_table(sequencing="inline")`,
whose commit is the transaction the raw writer sends; the default table, whose commit is one
`PutItem` and whose log is written in the background, is measured in *Writes that scale out*.

| operation | ddbes / raw rate (spread) | time per op | ratio | target |
|---|---|---|---|---|
{_row("commit, 1 event (~400 B), 1 thread: raw TransactWriteItems", commit_raw, "commits/s")}
{_row("commit: `DynamoDBCommitStore.append`", commit_ddbes, "commits/s", commit_raw, "≤ 1.15x")}
{_row("load 100 commits: raw paginated Query", load_raw_rate, "loads/s")}
{_row("load 100 commits: `read_commits`", load_ddbes_rate, "loads/s", load_raw_rate, "≤ 1.2x")}
{_row("read 1,000 log entries: raw paginated Query", log_raw_rate, "entries/s")}
{_row("read 1,000 log entries: `read_log`", log_ddbes_rate, "entries/s", log_raw_rate, "≤ 1.25x")}

Throughput (each thread commits to its own aggregate; one shared store and client):

| writers | commits/s (spread) | vs raw, same threads |
|---|---|---|
| raw TransactWriteItems, 1 thread | {raw_one.median:,.0f} ({raw_one.spread}) | |
| raw TransactWriteItems, 4 threads | {raw_four.median:,.0f} ({raw_four.spread}) | |
{_throughput("ddbes, 1 thread", one, raw_one)}
{_throughput("ddbes, 4 threads, 1 log partition (group commit)", four, raw_four)}
{_throughput("ddbes, 4 threads, 4 log partitions", four_partitioned, raw_four)}

The raw 4-thread writer takes positions from an in-process counter and never conflicts; ddbes
threads of one store that append to one log partition at the same time share one transaction
(group commit), which is why they can beat it. Capacity-unit costs are in `docs/data-model.md`.

{_why("Commit, gap-free global log (DynamoDB Local)", commit_ddbes, commit_raw, "commits/s")}
{_why("Load 100 commits (DynamoDB Local)", load_ddbes_rate, load_raw_rate, "loads/s")}
"""
    print(body)
    if not args.no_write:
        write_section("DynamoDB adapter", body)


if __name__ == "__main__":
    main()

"""ddbes against ``eventsourcing-dynamodb`` 0.1.0 and hand-written boto3, on one DynamoDB Local.

* commits/s: one event (~400 B) per commit on one long-lived aggregate, through each library's
  aggregate API (ddbes ``Aggregate.commit`` on a ``DynamoDBCommitStore``; eventsourcing's
  ``Application.save``), beside the hand-written ``TransactWriteItems`` that ddbes sends
  (``RawWriter`` of ``bench/dynamodb.py``);
* loads/s: aggregates of 10 such events, beside a raw consistent Query of the same 10 items;
* lost events: two writers load version 1 of an aggregate, each commits one event; count the
  events that each library acknowledged and the events stored.

``eventsourcing-dynamodb`` pins eventsourcing 9.3, so it runs in its own environment
(``bench/esdynamodb``, synced here when missing) as a worker process that this script drives
over line-JSON; its rounds are interleaved with ddbes's on the same DynamoDB Local.

    uv run --no-sync python -m bench.dynamodb_alternatives [--rounds 15] [--no-write]

DynamoDB Local is started privately unless ``DDBES_BENCH_DYNAMODB_ENDPOINT`` (or
``DDBES_TEST_DYNAMODB_ENDPOINT``) names a running one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import ROOT, Rate, compare, dynamodb_endpoint, machine, why, write_section
from bench.alternatives import Account
from bench.dynamodb import PAD, Aggregates, RawWriter, _event, _raw_query
from ddbes.errors import VersionConflict
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

PROJECT = ROOT / "bench" / "esdynamodb"
LOAD_AGGREGATES = 20
CONFLICTS = 10


def _uv() -> list[str]:
    uv = shutil.which("uv")
    return [uv] if uv else [sys.executable, "-m", "uv"]


class EsDynamoDB:
    """The eventsourcing-dynamodb worker process (``bench/esdynamodb/worker.py``)."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")
        if not (PROJECT / ".venv").exists():
            print("syncing bench/esdynamodb's environment ...", flush=True)
            subprocess.run(
                [*_uv(), "sync", "--frozen", "--project", str(PROJECT)],
                check=True,
                cwd=ROOT,
                env=env,
            )
        self.process = subprocess.Popen(
            [*_uv(), "run", "--project", str(PROJECT), "--frozen", "python", "worker.py"],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the eventsourcing-dynamodb worker exited during {op!r}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"eventsourcing-dynamodb worker, {op!r}: {answer['error']}")
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write('{"op": "quit"}\n')
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _deposit(account: Account, n: int) -> None:
    account.deposit(n % 7, sku=f"sku-{n}", note=PAD)


def _ddbes_conflicts(store: DynamoDBCommitStore) -> dict[str, Any]:
    """The worker's ``conflict`` scenario, through ddbes."""
    bound = Account.using(commit_store=store)
    acknowledged = raised = 0
    errors: set[str] = set()
    keys = []
    for i in range(CONFLICTS):
        key = f"conflict-{i}"
        bound.create(id=key)
        acknowledged += 1
        keys.append(key)
        stale_a, stale_b = bound.load(key), bound.load(key)
        assert stale_a is not None and stale_b is not None
        for stale, amount in ((stale_a, 1), (stale_b, 2)):
            try:
                stale.deposit(amount, note=PAD)
                acknowledged += 1
            except VersionConflict as exc:
                raised += 1
                errors.add(type(exc).__name__)
    stored = sum(
        len(commit.events) for key in keys for commit in store.read_commits("Account", key)
    )
    return {
        "acknowledged": acknowledged,
        "stored": stored,
        "lost": acknowledged - stored,
        "raised": raised,
        "errors": sorted(errors),
    }


def _cell(rate: Rate) -> str:
    return f"{rate.median:,.0f} ({rate.spread})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    started = time.monotonic()
    load = os.getloadavg()[0]

    endpoint, local = dynamodb_endpoint()
    client = make_client("dynamodb", table="bench", endpoint_url=endpoint, region_name="us-east-1")
    stores: list[DynamoDBCommitStore] = []
    es_table = f"bench-esdynamodb-{uuid.uuid4().hex[:10]}"

    def new_store() -> DynamoDBCommitStore:
        store = DynamoDBCommitStore(f"bench-alt-{uuid.uuid4().hex[:10]}", client=client)
        store.create_table()
        stores.append(store)
        return store

    es = EsDynamoDB()
    try:
        print("preparing ...", flush=True)
        es.call("setup", endpoint=endpoint, table=es_table, pad=PAD)
        account = Account.using(commit_store=new_store()).create(id="bench")
        versions = iter(range(1, 10**9))

        def ddbes_commits(n: int) -> None:
            for _ in range(n):
                _deposit(account, next(versions))

        def es_commits(n: int) -> None:
            es.call("commits", n=n)

        raw_commits = Aggregates(RawWriter(client, new_store().table_name).commit).run
        plain_table = new_store().table_name
        plain_versions = iter(range(1, 10**9))

        def plain_writes(n: int) -> None:
            # What eventsourcing-dynamodb sends per save: one unconditional item in a batch.
            for _ in range(n):
                version = next(plain_versions)
                item = {
                    "p": {"S": "plain"},
                    "s": {"S": f"{version:012d}"},
                    "e": {"S": json.dumps([_event(version)], separators=(",", ":"))},
                }
                client.batch_write_item(
                    RequestItems={plain_table: [{"PutRequest": {"Item": item}}]}
                )

        load_store = new_store()
        loaded_cls = Account.using(commit_store=load_store)
        for i in range(LOAD_AGGREGATES):
            created = loaded_cls.create(id=f"a{i}")
            for n in range(9):
                _deposit(created, n)
        es.call("prepare_loads", aggregates=LOAD_AGGREGATES)
        raw_requests = [
            {
                "TableName": load_store.table_name,
                "KeyConditionExpression": "p = :p",
                "ExpressionAttributeValues": {":p": {"S": f"c#7#Account#a{i}"}},
                "ConsistentRead": True,
            }
            for i in range(LOAD_AGGREGATES)
        ]
        assert len(_raw_query(client, raw_requests[0])) == 10

        def ddbes_loads(n: int) -> None:
            for i in range(n):
                loaded = loaded_cls.load(f"a{i % LOAD_AGGREGATES}")
                assert loaded is not None and loaded.version == 10

        def es_loads(n: int) -> None:
            es.call("loads", n=n)

        def raw_loads(n: int) -> None:
            for i in range(n):
                _raw_query(client, raw_requests[i % LOAD_AGGREGATES])

        # Warm-up: DynamoDB Local's JIT and the connection pools.
        ddbes_commits(200)
        es_commits(200)
        raw_commits(200)
        plain_writes(200)
        print("commits ...", flush=True)
        commits_and_plain = compare(
            [
                ("ddbes", ddbes_commits),
                ("es", es_commits),
                ("raw", raw_commits),
                ("plain", plain_writes),
            ],
            100,
            args.rounds,
        )
        commits, plain = commits_and_plain[:3], commits_and_plain[3]
        print("loads ...", flush=True)
        loads = compare(
            [("ddbes", ddbes_loads), ("es", es_loads), ("raw", raw_loads)], 60, args.rounds
        )
        print("conflicts ...", flush=True)
        ddbes_conflict = _ddbes_conflicts(new_store())
        es_conflict = es.call("conflict", aggregates=CONFLICTS)
    finally:
        es.close()
        for store in stores:
            store.delete_table(wait=False)
        if local is None:
            client.delete_table(TableName=es_table)
        else:
            local.kill()

    command = "uv run --no-sync python -m bench.dynamodb_alternatives"
    if args.rounds != 15:
        command += f" --rounds {args.rounds}"
    rows = []
    for label, (mine, theirs, raw) in (
        ("commits/s, one event (~400 B) per commit", commits),
        ("loads/s, aggregates of 10 events", loads),
    ):
        rows.append(
            f"| {label} | {_cell(mine)} | {_cell(theirs)} | **{mine.median / theirs.median:.2f}x**"
            f" | {_cell(raw)} | **{mine.median / raw.median:.2f}x** |"
        )
    rows_text = "\n".join(rows)
    header = (
        "| operation | ddbes (`DynamoDBCommitStore`) | eventsourcing-dynamodb 0.1.0 | ratio "
        "| hand-written boto3 | ratio |\n|---|---|---|---|---|---|"
    )

    def lost_row(name: str, result: dict[str, Any], second: str) -> str:
        return (
            f"| {name} | {result['acknowledged']} | {result['stored']} | **{result['lost']}** "
            f"| {second} |"
        )

    es_second = (
        f"{es_conflict['raised']} raised; its event replaced the first writer's "
        f"in {es_conflict['second_overwrote_first']} of {CONFLICTS}"
    )
    headlines = "\n".join(
        [
            why(
                "Commits on DynamoDB Local (ddbes: conditional, with a global log)",
                f"{commits[0].median:,.0f} commits/s",
                f"eventsourcing-dynamodb 0.1.0 (unconditional): {commits[1].median:,.0f} commits/s",
                f"{commits[0].median / commits[1].median:.2f}x the rate",
            ),
            why(
                "Loads of 10-event aggregates on DynamoDB Local",
                f"{loads[0].median:,.0f} loads/s",
                f"eventsourcing-dynamodb 0.1.0: {loads[1].median:,.0f} loads/s",
                f"{loads[0].median / loads[1].median:.2f}x the rate",
            ),
            why(
                f"Events lost when two stale writers commit, x{CONFLICTS} (DynamoDB Local)",
                f"{ddbes_conflict['lost']} (the second writer gets VersionConflict)",
                f"eventsourcing-dynamodb 0.1.0: {es_conflict['lost']} of "
                f"{es_conflict['acknowledged']} acknowledged",
                "none lost" if ddbes_conflict["lost"] == 0 else "LOST EVENTS",
            ),
        ]
    )
    ddbes_second = f"{ddbes_conflict['raised']} raised {', '.join(ddbes_conflict['errors'])}"
    body = f"""
ddbes's DynamoDB adapter against `eventsourcing-dynamodb` 0.1.0 (eventsourcing 9.3, in its own
environment `bench/esdynamodb`, driven as a worker process) and against hand-written boto3, all
on the same DynamoDB Local, the rounds of the three interleaved. Both libraries go through their
aggregate APIs (ddbes `Aggregate` commands and `load`; eventsourcing `Application.save` and
`repository.get`). A ratio is ddbes's median rate over the other's: above 1 is ddbes faster.

```shell
{command}
```
Machine: {machine()}; load average {load:.1f} when the run started (others share the
cores: hence the spreads, and the ratios). DynamoDB Local and the clients share the 2 cores
(CPU-bound figures for comparison, not AWS latencies). Median of {args.rounds} rounds (spread =
min-max). Wall time {time.monotonic() - started:.0f} s.

{header}
{rows_text}

ddbes commits to a table made with `create_table()`: one conditional `PutItem` per commit, its
log positions given by the background sequencer (`docs/data-model.md`). The hand-written commit
is the `TransactWriteItems` of an inline table (the commit item, its global-log entry, the
previous-version check: `RawWriter` in `bench/dynamodb.py`), on the same client as ddbes's;
the hand-written load is one consistent Query of the aggregate's 10 items.
eventsourcing-dynamodb does less per commit: one unconditional `BatchWriteItem` of one item,
with no global log. The same unconditional one-item `BatchWriteItem`,
hand-written with boto3, ran at {plain.median:,.0f} commits/s ({plain.spread}) in this run:
ddbes commits at **{commits[0].median / plain.median:.2f}x** that rate. This saving is what the
next table pays for: with no condition, a stale writer overwrites. It has no global log either
(its notification log raises `NotImplementedError`), and its Queries are eventually consistent.

**Lost events.** Two writers load version 1 of an aggregate and each commits one event (version
2); {CONFLICTS} aggregates. "Acknowledged" counts the events whose save or commit returned without
an error (the creations included); "stored" counts the events in the table afterwards.

| library | events acknowledged | events stored | lost | second writer |
|---|---|---|---|---|
{lost_row("ddbes", ddbes_conflict, ddbes_second)}
{lost_row("eventsourcing-dynamodb 0.1.0", es_conflict, es_second)}

{headlines}
"""
    print(body)
    if not args.no_write:
        write_section("Alternatives on DynamoDB Local: eventsourcing-dynamodb and boto3", body)


if __name__ == "__main__":
    main()

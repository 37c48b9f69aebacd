"""What DynamoDB Local spends per written item, by request shape: why the scale-out gap lives
where it does.

DynamoDB Local's CPU (read from /proc for the process this benchmark starts) per item written:

* one conditional ``PutItem`` per item (a plain put: the JavaScript library's commit);
* ``TransactWriteItems`` of 1, 10, 50 and 100 conditional puts;
* the sequencer's shape: transactions of (put a log entry, update a commit item) pairs, 5 and
  50 pairs per transaction.

One thread, no proxy: the client waits for each request, so DynamoDB Local's CPU is the cost.

    scripts/private-net uv run --no-sync python -m bench.dynamodb_costs [--items 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import machine, write_section
from ddbes_dynamodb._client import make_client

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

TABLE = "costs"
PAYLOAD = "x" * 400


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _item() -> dict[str, Any]:
    return {
        "p": {"S": uuid.uuid4().hex},
        "s": {"S": "000000000001"},
        "e": {"S": PAYLOAD},
        "t": {"S": "2030-01-01T00:00:00.000000Z"},
    }


def _put(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(p)"}
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from tests.services import start_dynamodb_local

    local = start_dynamodb_local()
    assert local.process is not None
    pid = local.process.pid
    client = make_client(
        "dynamodb", table=TABLE, endpoint_url=local.endpoint_url, region_name="us-east-1"
    )
    load = os.getloadavg()[0]
    try:
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "p", "KeyType": "HASH"},
                {"AttributeName": "s", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "s", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

        def puts(n: int) -> None:
            for _ in range(n):
                client.put_item(
                    TableName=TABLE, Item=_item(), ConditionExpression="attribute_not_exists(p)"
                )

        def transactions(size: int) -> Callable[[int], None]:
            def run(n: int) -> None:
                for _ in range(n // size):
                    client.transact_write_items(TransactItems=[_put(_item()) for _ in range(size)])

            return run

        def sequencer(pairs: int) -> Callable[[int], None]:
            def run(n: int) -> None:
                existing = []
                for _ in range(n):
                    item = _item()
                    client.put_item(TableName=TABLE, Item=item)
                    existing.append(item)
                began = _cpu(pid)
                for start in range(0, n, pairs):
                    actions = []
                    for item in existing[start : start + pairs]:
                        actions.append(_put(_item()))
                        actions.append(
                            {
                                "Update": {
                                    "TableName": TABLE,
                                    "Key": {"p": item["p"], "s": item["s"]},
                                    "UpdateExpression": "SET n = :n",
                                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                                }
                            }
                        )
                    client.transact_write_items(TransactItems=actions)
                run.cpu = _cpu(pid) - began  # type: ignore[attr-defined]

            return run

        for _ in range(2):  # DynamoDB Local's JIT
            puts(300)
            transactions(10)(300)
        rows = []
        n = args.items
        for label, action in [
            ("PutItem, one item per request", puts),
            ("TransactWriteItems of 1 put", transactions(1)),
            ("TransactWriteItems of 10 puts", transactions(10)),
            ("TransactWriteItems of 50 puts", transactions(50)),
            ("TransactWriteItems of 100 puts", transactions(100)),
        ]:
            began, wall = _cpu(pid), time.perf_counter()
            action(n)
            cpu = (_cpu(pid) - began) * 1000 / n
            rows.append(f"| {label} | {cpu:.2f} | {(time.perf_counter() - wall) * 1000 / n:.2f} |")
        seq_rows = []
        for pairs in (5, 50):
            run = sequencer(pairs)
            run(n // 2)
            per_commit = run.cpu * 1000 / (n // 2)  # type: ignore[attr-defined]
            seq_rows.append(
                f"| {pairs} commits per transaction ({2 * pairs} actions) | {per_commit:.2f} |"
            )
    finally:
        local.kill()
    body = f"""
What DynamoDB Local spends per item written, by request shape: one thread, no proxy, DynamoDB
Local's own CPU read from /proc (milliseconds per item). Items of about 450 bytes.

```shell
scripts/private-net uv run --no-sync python -m bench.dynamodb_costs
```
Machine: {machine()}; load average {load:.1f} at the start. {n} items per row.

| request shape | DynamoDB Local CPU ms per item | wall ms per item |
|---|---|---|
{chr(10).join(rows)}

The sequencer's shape, a log entry put and a commit item update per commit:

| transaction | DynamoDB Local CPU ms per commit |
|---|---|
{chr(10).join(seq_rows)}

DynamoDB Local charges mostly per request: a transaction of 50 puts costs a fraction per item of
a single put. On a shared 2-core machine that CPU, not the network, bounds throughput, so the
sequencer's cost per commit falls with its batch size, and its batches grow with the rate.
"""
    if not args.no_write:
        write_section("What DynamoDB Local charges per item", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

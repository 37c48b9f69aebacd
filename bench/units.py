"""What an atomic unit costs: a transfer (debit one account, credit another) saved as one
``UnitOfWork`` against the same two commits made one after the other, in one run.

* in memory (the library's own cost);
* on DynamoDB Local, directly and through ``bench/latency_proxy.py`` adding 5 ms per request
  (the network, where a unit's one transaction saves a round trip), on the default table
  (background sequencing) and on an ``inline`` one.

Each transfer loads both accounts first (the same reads for both variants), so the ratio is
that of whole business actions.

    scripts/private-net uv run python -m bench.units [--rounds 5] [--no-write]

DynamoDB Local is started privately unless ``DDBES_BENCH_DYNAMODB_ENDPOINT`` (or
``DDBES_TEST_DYNAMODB_ENDPOINT``) names a running one.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ddbes
from bench._harness import Rate, compare, dynamodb_endpoint, machine, write_section
from bench.latency_proxy import start_proxy
from ddbes.memory import InMemoryCommitStore
from ddbes.ports import CommitStore
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

ACCOUNTS = 20


class Account(ddbes.Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Any) -> Any:
        balance = (state or {}).get("balance", 0)
        sign = -1 if event["type"] == "Debited" else 1
        return {"balance": balance + sign * event.get("amount", 0)}


def _transfers(store: CommitStore, *, unit: bool) -> Callable[[int], None]:
    accounts = Account.using(commit_store=store)
    prefix = uuid.uuid4().hex[:6]
    keys = [f"{prefix}-{n}" for n in range(ACCOUNTS)]
    for key in keys:
        accounts(key).commit({"type": "Opened", "amount": 1000})
    step = [0]

    def run(operations: int) -> None:
        for _ in range(operations):
            step[0] += 1
            source = accounts.load(keys[step[0] % ACCOUNTS])
            target = accounts.load(keys[(step[0] + 7) % ACCOUNTS])
            assert source is not None and target is not None
            debit = {"type": "Debited", "amount": 1}
            credit = {"type": "Credited", "amount": 1}
            if unit:
                with ddbes.UnitOfWork() as work:
                    work.commit(source, debit)
                    work.commit(target, credit)
            else:
                source.commit(debit)
                target.commit(credit)

    return run


def _pair(store: CommitStore, operations: int, rounds: int) -> tuple[Rate, Rate]:
    separate, atomic = compare(
        [
            ("two commits", _transfers(store, unit=False)),
            ("one unit", _transfers(store, unit=True)),
        ],
        operations,
        rounds,
    )
    store.flush_log(timeout=60)
    return separate, atomic


def _row(where: str, separate: Rate, atomic: Rate) -> str:
    return (
        f"| {where} | {separate.median:,.0f} ({separate.spread}) "
        f"| {atomic.median:,.0f} ({atomic.spread}) | **{atomic.median / separate.median:.2f}x** |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = [_row("in memory", *_pair(InMemoryCommitStore(), 2000, args.rounds))]
    endpoint, local = dynamodb_endpoint()
    proxy, stop_proxy = start_proxy(endpoint, 5.0)
    tables: list[DynamoDBCommitStore] = []
    try:
        for where, url in (("DynamoDB Local", endpoint), ("DynamoDB Local, 5 ms network", proxy)):
            for sequencing in ("background", "inline"):
                client = make_client(
                    "dynamodb", table="bench", endpoint_url=url, region_name="us-east-1"
                )
                store = DynamoDBCommitStore(f"bench-units-{uuid.uuid4().hex[:8]}", client=client)
                store.create_table(sequencing=sequencing)
                tables.append(store)
                print(f"{where}, {sequencing} ...", flush=True)
                rows.append(_row(f"{where}, `{sequencing}` table", *_pair(store, 60, args.rounds)))
    finally:
        for store in tables:
            store.close()
            store.delete_table(wait=False)
        stop_proxy()
        if local is not None:
            local.kill()
    body = "\n".join(
        [
            "A transfer (load two accounts, debit one, credit the other) saved as one "
            "`UnitOfWork` (one `append_all`: one transaction) against the same two commits made "
            "one after the other. Rates are transfers per second, medians of "
            f"{args.rounds} interleaved rounds (spread); the ratio is the unit's rate over the "
            "two commits'.",
            "",
            "```shell",
            "scripts/private-net uv run python -m bench.units",
            "```",
            f"Machine: {machine()}; load average {load:.1f} at the start.",
            "",
            "| where | two commits, transfers/s | one unit, transfers/s | unit vs two commits |",
            "|---|---|---|---|",
            *rows,
            "",
            "A unit is all or nothing and keeps the two commits side by side in the log; on "
            "DynamoDB it is one `TransactWriteItems` where two commits on a background table are "
            "two `PutItem`s (a transaction costs DynamoDB about twice a put per item), and on an "
            "inline table two transactions.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Atomic units across aggregates", body)


if __name__ == "__main__":
    main()

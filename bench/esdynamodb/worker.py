"""eventsourcing-dynamodb 0.1.0 (on eventsourcing 9.3) driven by bench/dynamodb_alternatives.py.

It runs in its own environment (this folder's uv project: the library pins eventsourcing 9.3,
the workspace has 9.5) and talks line-JSON: one command per line on stdin, one answer per line
on stdout.

    {"op": "setup", "endpoint": "http://127.0.0.1:8000", "table": "es-bench", "pad": "xxx"}
    {"op": "commits", "n": 200}            one event per save, on one long-lived aggregate
    {"op": "prepare_loads", "aggregates": 20}   aggregates of 10 events (1 + 9 saves each)
    {"op": "loads", "n": 100}              repository.get of those aggregates, round robin
    {"op": "conflict", "aggregates": 10}   two stale writers per aggregate; what survives
    {"op": "quit"}

Every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. The rounds are timed
by the caller (one pipe round trip per round is noise next to hundreds of DynamoDB calls).

    uv run --project bench/esdynamodb --frozen python bench/esdynamodb/worker.py
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any
from uuid import UUID

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    """The same aggregate as ddbes's side: opened, then one deposit per command."""

    @event("Opened")
    def __init__(self) -> None:
        self.balance = 0
        self.count = 0

    @event("Deposited")
    def deposit(self, amount: int, sku: str, note: str) -> None:
        self.balance += amount
        self.count += 1


class Bank(Application):
    """One application per writer; all of them on one table."""

    is_snapshotting_enabled = False


class Worker:
    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.pad = ""
        self.bank: Bank | None = None
        self.account: Account | None = None
        self.load_ids: list[UUID] = []
        self.loaded = 0

    def new_bank(self) -> Bank:
        return Bank(env=self.env)

    def setup(self, endpoint: str, table: str, pad: str = "") -> dict[str, Any]:
        # The library expects the table to exist: originator_id (S) + originator_version (N).
        client = boto3.client("dynamodb", endpoint_url=endpoint)
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "originator_id", "KeyType": "HASH"},
                {"AttributeName": "originator_version", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "originator_id", "AttributeType": "S"},
                {"AttributeName": "originator_version", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table)
        self.env = {
            "PERSISTENCE_MODULE": "eventsourcing_dynamodb",
            "DYNAMO_TABLE": table,
            "DYNAMO_ENDPOINT_URL": endpoint,
        }
        self.pad = pad
        self.bank = self.new_bank()
        self.account = Account()
        self.bank.save(self.account)
        return {}

    def commits(self, n: int) -> dict[str, Any]:
        assert self.bank is not None and self.account is not None
        for i in range(n):
            self.account.deposit(i % 7, f"sku-{i}", self.pad)
            self.bank.save(self.account)
        return {"version": self.account.version}

    def prepare_loads(self, aggregates: int) -> dict[str, Any]:
        assert self.bank is not None
        for _ in range(aggregates):
            account = Account()
            self.bank.save(account)
            for i in range(9):
                account.deposit(i % 7, f"sku-{i}", self.pad)
                self.bank.save(account)
            self.load_ids.append(account.id)
        return {}

    def loads(self, n: int) -> dict[str, Any]:
        assert self.bank is not None
        for _ in range(n):
            account = self.bank.repository.get(self.load_ids[self.loaded % len(self.load_ids)])
            assert account.version == 10, account.version
            self.loaded += 1
        return {}

    def conflict(self, aggregates: int) -> dict[str, Any]:
        """Two writers load the same version, each commits one event; count what is stored."""
        first, second = self.new_bank(), self.new_bank()
        acknowledged = stored = raised = second_won = 0
        errors: list[str] = []
        for _ in range(aggregates):
            account = Account()
            first.save(account)
            acknowledged += 1
            stale_a = first.repository.get(account.id)
            stale_b = second.repository.get(account.id)
            stale_a.deposit(1, "first-writer", self.pad)
            stale_b.deposit(2, "second-writer", self.pad)
            for bank, stale in ((first, stale_a), (second, stale_b)):
                try:
                    bank.save(stale)
                    acknowledged += 1
                except Exception as exc:
                    raised += 1
                    errors.append(type(exc).__name__)
            events = first.recorder.select_events(account.id)
            stored += len(events)
            final = first.repository.get(account.id)
            second_won += final.balance == 2
        return {
            "acknowledged": acknowledged,
            "stored": stored,
            "lost": acknowledged - stored,
            "raised": raised,
            "errors": sorted(set(errors)),
            "second_overwrote_first": second_won,
        }


def main() -> None:
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.pop("op")
        if op == "quit":
            break
        try:
            answer = {"ok": True, **getattr(worker, op)(**command)}
        except Exception as exc:
            traceback.print_exc()
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""ddbes's in-memory store against the eventsourcing library 9.5's in-memory (POPO) store.

Same work through both in one run: commits/s (one event per commit, on a long-lived aggregate)
and loads/s (aggregates of 10 events). Rounds are interleaved.

    uv run python -m bench.core [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from uuid import UUID

os.environ.setdefault("PERSISTENCE_MODULE", "eventsourcing.popo")

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as EsAggregate
from eventsourcing.domain import event

from bench._harness import compare, machine, write_section
from ddbes import Aggregate, Commit
from ddbes.memory import InMemoryCommitStore

# --------------------------------------------------------------------------- ddbes


class Account(Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, evt: dict[str, Any], commit: Commit) -> Any:
        if evt["type"] == "Opened":
            return {"balance": 0, "count": 0}
        return {"balance": state["balance"] + evt["amount"], "count": state["count"] + 1}

    def create(self, id: str) -> Account:
        return self.commit({"type": "Opened"})

    def deposit(self, amount: int) -> Account:
        return self.commit({"type": "Deposited", "amount": amount})


# ------------------------------------------------------------------- eventsourcing


class EsAccount(EsAggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.balance = 0
        self.count = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount
        self.count += 1


class Bank(Application[UUID]):
    is_snapshotting_enabled = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--loads", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()

    ddbes_account = Account.using(commit_store=InMemoryCommitStore()).create(id="bench")
    bank = Bank()
    es_account = EsAccount()
    bank.save(es_account)

    def ddbes_commits(n: int) -> None:
        for _ in range(n):
            ddbes_account.deposit(1)

    def es_commits(n: int) -> None:
        for _ in range(n):
            es_account.deposit(1)
            bank.save(es_account)

    loaded_cls = Account.using(commit_store=InMemoryCommitStore())
    for i in range(100):
        account = loaded_cls.create(id=f"a{i}")
        for _ in range(9):
            account.deposit(1)
    es_ids = []
    for _ in range(100):
        es = EsAccount()
        for _ in range(9):
            es.deposit(1)
        bank.save(es)
        es_ids.append(es.id)

    def ddbes_loads(n: int) -> None:
        for i in range(n):
            loaded = loaded_cls.load(f"a{i % 100}")
            assert loaded is not None and loaded.version == 10

    def es_loads(n: int) -> None:
        for i in range(n):
            loaded = bank.repository.get(es_ids[i % 100])
            assert loaded.version == 10

    commits = compare(
        [("ddbes", ddbes_commits), ("eventsourcing", es_commits)], args.commits, args.rounds
    )
    loads = compare([("ddbes", ddbes_loads), ("eventsourcing", es_loads)], args.loads, args.rounds)

    lines = [
        "In-memory stores, same work through both libraries, rounds interleaved.",
        "",
        "```shell",
        f"uv run python -m bench.core --rounds {args.rounds}",
        "```",
        f"Machine: {machine()}. Median of {args.rounds} rounds (spread = min-max).",
        "",
        "| operation | ddbes (in-memory) | eventsourcing 9.5 (POPO) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for label, (mine, theirs), unit in (
        ("commits/s, one event per commit", commits, f"{args.commits} commits"),
        ("loads/s, aggregates of 10 events", loads, f"{args.loads} loads"),
    ):
        ratio = mine.median / theirs.median
        lines.append(
            f"| {label} ({unit}) | {mine.median:,.0f} ({mine.spread}) | "
            f"{theirs.median:,.0f} ({theirs.spread}) | **{ratio:.2f}x** | ≥ 1.5x |"
        )
        print(
            f"{label}: ddbes {mine.median:,.0f}/s, "
            f"eventsourcing {theirs.median:,.0f}/s, ratio {ratio:.2f}x"
        )
    if not args.no_write:
        write_section("Core: in-memory store vs eventsourcing (bench/core.py)", "\n".join(lines))


if __name__ == "__main__":
    main()

"""What the asyncio API costs: ``AsyncAggregate`` against ``Aggregate`` on the in-memory store.

Both run the same sans-I/O core; the async shell adds a coroutine per call. One process, one
event loop, the commands awaited one after the other (no concurrency to hide the overhead):

* commits/s: ``await account.deposit(1)`` against ``account.deposit(1)``, one event per commit;
* loads/s: ``await Account.load(key)`` against ``Account.load(key)``, aggregates of 10 events.

Rounds are interleaved so that noise on this shared machine hits both alike. Target (issue 14):
the async API's commits/s at least 0.7x the sync API's.

    uv run --no-sync python -m bench.async_api [--rounds 15] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import compare_timed, machine, rate_cell, write_section
from ddbes import Aggregate, AsyncAggregate, Commit
from ddbes.memory import InMemoryCommitStore

LOAD_AGGREGATES = 100
TARGET = 0.7


def _reducer(state: Any, evt: dict[str, Any], commit: Commit) -> Any:
    if evt["type"] == "Opened":
        return {"balance": 0, "count": 0}
    return {"balance": state["balance"] + evt["amount"], "count": state["count"] + 1}


class Account(Aggregate):
    key_schema = ("id",)
    reducer = staticmethod(_reducer)

    def create(self, id: str) -> Account:
        return self.commit({"type": "Opened"})

    def deposit(self, amount: int) -> Account:
        return self.commit({"type": "Deposited", "amount": amount})


class AsyncAccount(AsyncAggregate):
    aggregate_type = "Account"
    key_schema = ("id",)
    reducer = staticmethod(_reducer)

    async def create(self, id: str) -> AsyncAccount:
        return await self.commit({"type": "Opened"})

    async def deposit(self, amount: int) -> AsyncAccount:
        return await self.commit({"type": "Deposited", "amount": amount})


Action = Callable[[int], None]


def sync_actions() -> tuple[Action, Action]:
    store = InMemoryCommitStore()
    bound = Account.using(commit_store=store)
    account = bound.create(id="bench")
    for i in range(LOAD_AGGREGATES):
        created = bound.create(id=f"a{i}")
        for _ in range(9):
            created.deposit(1)

    def commits(n: int) -> None:
        for _ in range(n):
            account.deposit(1)

    def loads(n: int) -> None:
        for i in range(n):
            loaded = bound.load(f"a{i % LOAD_AGGREGATES}")
            assert loaded is not None and loaded.version == 10

    return commits, loads


def async_actions(loop: asyncio.AbstractEventLoop) -> tuple[Action, Action]:
    store = InMemoryCommitStore().as_async()
    bound = AsyncAccount.using(commit_store=store)

    async def setup() -> AsyncAccount:
        for i in range(LOAD_AGGREGATES):
            created = await bound.create(id=f"a{i}")
            for _ in range(9):
                await created.deposit(1)
        return await bound.create(id="bench")  # type: ignore[no-any-return]

    account = loop.run_until_complete(setup())

    async def commit_many(n: int) -> None:
        for _ in range(n):
            await account.deposit(1)

    async def load_many(n: int) -> None:
        for i in range(n):
            loaded = await bound.load(f"a{i % LOAD_AGGREGATES}")
            assert loaded is not None and loaded.version == 10

    return (
        lambda n: loop.run_until_complete(commit_many(n)),
        lambda n: loop.run_until_complete(load_many(n)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.2, help="of each variant's round")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    started = time.monotonic()
    load = os.getloadavg()[0]
    loop = asyncio.new_event_loop()
    try:
        sync_commits, sync_loads = sync_actions()
        async_commits, async_loads = async_actions(loop)
        commits = compare_timed(
            [("sync", sync_commits), ("async", async_commits)], args.rounds, args.seconds
        )
        loads = compare_timed(
            [("sync", sync_loads), ("async", async_loads)], args.rounds, args.seconds
        )
    finally:
        loop.close()
    rows = []
    ratios = {}
    for name, (sync_rate, async_rate) in (
        ("commits/s, one event per commit", commits),
        ("loads/s, aggregates of 10 events", loads),
    ):
        ratio = async_rate.median / sync_rate.median
        ratios[name] = ratio
        rows.append(
            f"| {name} | {rate_cell(sync_rate)} | {rate_cell(async_rate)} | **{ratio:.2f}x** |"
        )
    commit_ratio = ratios["commits/s, one event per commit"]
    verdict = "meets" if commit_ratio >= TARGET else "misses"
    body = f"""
Both APIs on one sans-I/O core, in memory, one process: the async shell's cost per call. The
commands are awaited one after the other, so no concurrency hides it. Target: async commits/s
at least {TARGET}x the sync API's.

```shell
uv run --no-sync python -m bench.async_api
```
Machine: {machine()}; load average {load:.1f} when the run started (others share the cores:
hence the spreads). Median of {args.rounds} interleaved rounds (spread = min-max), each about
{args.seconds:g} s. Wall time {time.monotonic() - started:.0f} s.

| operation | `Aggregate` (sync) | `AsyncAggregate` | async / sync |
|---|---|---|---|
{chr(10).join(rows)}

Async commits: **{commit_ratio:.2f}x** the sync rate ({verdict} the {TARGET}x target).
"""
    if args.no_write:
        print(body)
    else:
        write_section("Async API, in memory", body)
        print(body)
    return 0 if commit_ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

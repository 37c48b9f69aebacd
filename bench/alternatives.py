"""ddbes against the eventsourcing library 9.5, in one run: commits, loads and global-log reads.

The same work through both libraries, rounds interleaved:

* commits/s: one event per commit, on one long-lived aggregate;
* loads/s: aggregates of 10 events (created, then 9 commands), round robin over 100 of them;
* global-log reads: the whole log of those 1,000 events, in one read of 1,000
  (``store.read_log(after=0, limit=1000)`` against ``recorder.select_notifications(1, 1000)``),
  reported in events/s. ddbes hands back decoded commits; eventsourcing's notifications are still
  bytes, so a second row also decodes them into domain events (``mapper.to_domain_event``), which
  is what a reader of the log needs.

In memory: ddbes's ``InMemoryCommitStore`` against eventsourcing's POPO recorders (the
like-for-like pair). Durable: ddbes on DynamoDB Local against eventsourcing's SQLite recorders
(a file in a temporary folder, WAL): different kinds of persistence (a network database shared
with the benchmark's 2 cores against an embedded file), shown as context; the like-for-like
DynamoDB comparison is ``bench/dynamodb_alternatives.py``.

    uv run --no-sync python -m bench.alternatives [--rounds 15] [--no-write]

DynamoDB Local is started privately unless ``DDBES_BENCH_DYNAMODB_ENDPOINT`` (or
``DDBES_TEST_DYNAMODB_ENDPOINT``) names a running one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as EsAggregate
from eventsourcing.domain import event

from bench._harness import Rate, dynamodb_endpoint, machine, measure, why, write_section
from ddbes import Aggregate, Commit
from ddbes.memory import InMemoryCommitStore
from ddbes.ports import CommitStore

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

LOAD_AGGREGATES = 100  # x 10 events: also the global log that the log reads read
LOG_EVENTS = LOAD_AGGREGATES * 10

# --------------------------------------------------------------------------- ddbes


class Account(Aggregate):
    """The benchmark's aggregate: opened, then one deposit event per command."""

    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, evt: dict[str, Any], commit: Commit) -> Any:
        if evt["type"] == "Opened":
            return {"balance": 0, "count": 0}
        return {"balance": state["balance"] + evt["amount"], "count": state["count"] + 1}

    def create(self, id: str) -> Account:
        return self.commit({"type": "Opened"})

    def deposit(self, amount: int, **extra: Any) -> Account:
        return self.commit({"type": "Deposited", "amount": amount, **extra})


# ------------------------------------------------------------------- eventsourcing


class EsAccount(EsAggregate):
    """The same aggregate in eventsourcing."""

    @event("Opened")
    def __init__(self) -> None:
        self.balance = 0
        self.count = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount
        self.count += 1


class Bank(Application[UUID]):
    """An eventsourcing application; its persistence comes from ``env``."""

    is_snapshotting_enabled = False


# ------------------------------------------------------------------------- actions

Action = Callable[[int], None]


class Side:
    """The three timed actions of one library on one backend."""

    commits: Action
    loads: Action
    log: Action
    log_decoded: Action


class DdbesSide(Side):
    def __init__(self, make_store: Callable[[], CommitStore]) -> None:
        account = Account.using(commit_store=make_store()).create(id="bench")
        store = make_store()
        loaded_cls = Account.using(commit_store=store)
        for i in range(LOAD_AGGREGATES):
            created = loaded_cls.create(id=f"a{i}")
            for _ in range(9):
                created.deposit(1)
        assert len(list(store.read_log(after=0, limit=LOG_EVENTS))) == LOG_EVENTS

        def commits(n: int) -> None:
            for _ in range(n):
                account.deposit(1)

        def loads(n: int) -> None:
            for i in range(n):
                loaded = loaded_cls.load(f"a{i % LOAD_AGGREGATES}")
                assert loaded is not None and loaded.version == 10

        def log(n: int) -> None:
            for _ in range(n // LOG_EVENTS):
                events = 0
                for commit in store.read_log(after=0, limit=LOG_EVENTS):
                    events += len(commit.events)
                assert events == LOG_EVENTS

        self.commits, self.loads, self.log, self.log_decoded = commits, loads, log, log


class EsSide(Side):
    def __init__(self, env: Callable[[str], dict[str, str]]) -> None:
        bank = Bank(env=env("commits"))
        account = EsAccount()
        bank.save(account)
        loaded_bank = Bank(env=env("loads"))
        ids = []
        for _ in range(LOAD_AGGREGATES):
            created = EsAccount()
            for _ in range(9):
                created.deposit(1)
            loaded_bank.save(created)
            ids.append(created.id)
        recorder = loaded_bank.recorder
        mapper = loaded_bank.mapper
        assert len(recorder.select_notifications(start=1, limit=LOG_EVENTS)) == LOG_EVENTS

        def commits(n: int) -> None:
            for _ in range(n):
                account.deposit(1)
                bank.save(account)

        def loads(n: int) -> None:
            for i in range(n):
                loaded: EsAccount = loaded_bank.repository.get(ids[i % LOAD_AGGREGATES])
                assert loaded.version == 10

        def log(n: int) -> None:
            for _ in range(n // LOG_EVENTS):
                notifications = recorder.select_notifications(start=1, limit=LOG_EVENTS)
                assert len(notifications) == LOG_EVENTS

        def log_decoded(n: int) -> None:
            for _ in range(n // LOG_EVENTS):
                notifications = recorder.select_notifications(start=1, limit=LOG_EVENTS)
                events = [mapper.to_domain_event(item) for item in notifications]
                assert len(events) == LOG_EVENTS

        self.commits, self.loads, self.log, self.log_decoded = commits, loads, log, log_decoded


def compare_timed(
    variants: Sequence[tuple[str, Action, int]], rounds: int, seconds: float
) -> list[Rate]:
    """Like ``_harness.compare``, but each variant's round is sized to take about ``seconds``.

    The backends differ a hundredfold in speed: one count for all would make a round of the
    slowest take minutes or one of the fastest take microseconds. Each variant is given as
    ``(name, action, unit)``: its warm-up runs ``unit`` operations, twice, and sizes its rounds
    (a multiple of ``unit``) from the second.
    """
    sizes = []
    for _, action, unit in variants:
        action(unit)
        rate = measure(action, unit)
        sizes.append(max(unit, round(rate * seconds / unit) * unit))
    results = [Rate(name, []) for name, _, _ in variants]
    for _ in range(rounds):
        for result, (_, action, _), operations in zip(results, variants, sizes, strict=True):
            result.rates.append(measure(action, operations))
    return results


# --------------------------------------------------------------------------- main


def _cell(rate: Rate) -> str:
    return f"{rate.median:,.0f} ({rate.spread})"


def _ratio(mine: Rate, theirs: Rate) -> str:
    return f"**{mine.median / theirs.median:.2f}x**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.2, help="of each variant's round")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    started = time.monotonic()
    load = os.getloadavg()[0]

    from ddbes_dynamodb import DynamoDBCommitStore
    from ddbes_dynamodb._client import make_client

    endpoint, local = dynamodb_endpoint()
    client = make_client("dynamodb", table="bench", endpoint_url=endpoint, region_name="us-east-1")
    tables: list[DynamoDBCommitStore] = []

    def dynamodb_store() -> CommitStore:
        store = DynamoDBCommitStore(f"bench-alt-{uuid.uuid4().hex[:10]}", client=client)
        store.create_table()
        tables.append(store)
        return store

    with tempfile.TemporaryDirectory(prefix="ddbes-bench-sqlite-") as folder:

        def sqlite_env(name: str) -> dict[str, str]:
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(folder) / f"{name}.sqlite"),
            }

        def popo_env(name: str) -> dict[str, str]:
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}

        try:
            print("preparing ...", flush=True)
            memory = DdbesSide(InMemoryCommitStore)
            popo = EsSide(popo_env)
            sqlite = EsSide(sqlite_env)
            # eventsourcing switches a file database to WAL; check that it did.
            assert (Path(folder) / "loads.sqlite-wal").exists()
            dynamodb = DdbesSide(dynamodb_store)

            print("commits ...", flush=True)
            commits = compare_timed(
                [
                    ("ddbes in-memory", memory.commits, 500),
                    ("eventsourcing POPO", popo.commits, 500),
                    ("ddbes DynamoDB Local", dynamodb.commits, 50),
                    ("eventsourcing SQLite", sqlite.commits, 200),
                ],
                args.rounds,
                args.seconds,
            )
            print("loads ...", flush=True)
            loads = compare_timed(
                [
                    ("ddbes in-memory", memory.loads, 200),
                    ("eventsourcing POPO", popo.loads, 200),
                    ("ddbes DynamoDB Local", dynamodb.loads, 20),
                    ("eventsourcing SQLite", sqlite.loads, 200),
                ],
                args.rounds,
                args.seconds,
            )
            print("global log ...", flush=True)
            log_mem, log_popo, log_popo_dec, log_ddb, log_sqlite, log_sqlite_dec = compare_timed(
                [
                    ("ddbes in-memory", memory.log, LOG_EVENTS),
                    ("eventsourcing POPO", popo.log, LOG_EVENTS),
                    ("POPO decoded", popo.log_decoded, LOG_EVENTS),
                    ("ddbes DynamoDB Local", dynamodb.log, LOG_EVENTS),
                    ("eventsourcing SQLite", sqlite.log, LOG_EVENTS),
                    ("SQLite decoded", sqlite.log_decoded, LOG_EVENTS),
                ],
                args.rounds,
                args.seconds,
            )
        finally:
            for store in tables:
                store.delete_table(wait=False)
            if local is not None:
                local.kill()

    command = "uv run --no-sync python -m bench.alternatives"
    if args.rounds != 15:
        command += f" --rounds {args.rounds}"
    if args.seconds != 0.2:
        command += f" --seconds {args.seconds}"
    wall = time.monotonic() - started
    rows: list[tuple[str, Rate, Rate, Rate, Rate]] = [
        ("commits/s, one event per commit", *commits),  # type: ignore[list-item]
        ("loads/s, aggregates of 10 events", *loads),  # type: ignore[list-item]
        (
            f"global log, events/s (reads of {LOG_EVENTS:,}; eventsourcing: raw notifications)",
            log_mem,
            log_popo,
            log_ddb,
            log_sqlite,
        ),
        (
            "global log, events/s (eventsourcing: notifications decoded to domain events)",
            log_mem,
            log_popo_dec,
            log_ddb,
            log_sqlite_dec,
        ),
    ]
    table = [
        "| operation | ddbes in-memory | eventsourcing 9.5 POPO | ratio "
        "| ddbes on DynamoDB Local | eventsourcing 9.5 SQLite (file, WAL) | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, mem, popo_rate, ddb, sqlite_rate in rows:
        table.append(
            f"| {label} | {_cell(mem)} | {_cell(popo_rate)} | {_ratio(mem, popo_rate)} "
            f"| {_cell(ddb)} | {_cell(sqlite_rate)} | {_ratio(ddb, sqlite_rate)} |"
        )
    table_text = "\n".join(table)

    def headline(claim: str, mine: Rate, theirs: Rate, other: str, unit: str) -> str:
        return why(
            claim,
            f"{mine.median:,.0f} {unit}",
            f"{other}: {theirs.median:,.0f} {unit}",
            f"{mine.median / theirs.median:.2f}x the rate",
        )

    headlines = "\n".join(
        [
            headline("Commits, in memory", commits[0], commits[1], "eventsourcing 9.5 POPO", "/s"),
            headline(
                "Loads of 10-event aggregates, in memory",
                loads[0],
                loads[1],
                "eventsourcing 9.5 POPO",
                "/s",
            ),
            headline(
                "Global-log reads, in memory, events decoded",
                log_mem,
                log_popo_dec,
                "eventsourcing 9.5 POPO, notifications decoded",
                "events/s",
            ),
            headline(
                "Global-log reads, in memory, eventsourcing left undecoded",
                log_mem,
                log_popo,
                "eventsourcing 9.5 POPO, raw notifications",
                "events/s",
            ),
        ]
    )
    body = f"""
The same work through ddbes and the `eventsourcing` library 9.5 in one run, the rounds of every
variant interleaved: commits (one event per commit on one long-lived aggregate), loads of
aggregates of 10 events (100 of them, round robin), and reads of the global log (the 1,000 events
of those aggregates in one read: ddbes `read_log(after=0, limit=1000)`, eventsourcing
`select_notifications(start=1, limit=1000)`). A ratio is ddbes's median rate over
eventsourcing's: above 1 is ddbes faster.

```shell
{command}
```
Machine: {machine()}; load average {load:.1f} when the run started (others share the
cores: hence the spreads, and the ratios). Median of {args.rounds} rounds (spread = min-max);
each variant's rounds are sized from its warm-up to take about {args.seconds} s. Wall time
{wall:.0f} s.

{table_text}

- **In memory** (like for like): target ≥ 1.5x on commits/s and loads/s. ddbes's in-memory
  store keeps commits encoded, as a real store does, and decodes them on every read;
  eventsourcing's POPO recorder hands back notifications whose state is still bytes: the
  second log row adds the decoding a reader of the log needs.
- **Durable** (context, not like for like): ddbes goes over HTTP to DynamoDB Local, a Java
  process sharing the benchmark's 2 cores, with a conditional transaction per commit and a
  gap-free global log; eventsourcing's SQLite recorder writes an embedded file in a temporary
  folder. The like-for-like comparison on DynamoDB is in "Alternatives on DynamoDB Local".

{headlines}
"""
    print(body)
    if not args.no_write:
        write_section("Alternatives: eventsourcing 9.5 in memory and on SQLite", body)


if __name__ == "__main__":
    main()

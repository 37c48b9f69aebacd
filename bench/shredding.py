"""What crypto-shredding costs: commits and loads through ``EncryptingCommitStore`` against the
same store without it, in memory and on DynamoDB Local, in one run.

* a commit of one event with two personal fields (AES-GCM per event, key cached) and one
  without personal data (the policy's pass-through), against the bare store;
* a commit for a subject never seen before: the key is read, created (conditional put) and
  the aggregate indexed, on top of the commit;
* a load of a 10-commit aggregate whose every event holds personal data, with the key cached
  (the usual case) and with a cold cache (the first load in a process: one key read).

    scripts/private-net uv run python bench/shredding.py [--rounds 7] [--no-write]

DynamoDB Local is started privately unless ``DDBES_BENCH_DYNAMODB_ENDPOINT`` (or
``DDBES_TEST_DYNAMODB_ENDPOINT``) names a running one.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import Rate, compare, dynamodb_endpoint, machine, write_section
from ddbes import Aggregate, Commit
from ddbes.memory import InMemoryCommitStore
from ddbes.ports import CommitStore
from ddbes.shredding import InMemoryKeyStore, KeyStore, PersonalData, Shredder, ShreddingPolicy
from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBKeyStore
from ddbes_dynamodb._client import make_client

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

PAD = "x" * 200  # with the personal fields: an event of about 300 bytes


class Customer(Aggregate):
    key_schema = ("customer_id",)
    personal_data = {
        "Contacted": PersonalData(subject="customer_id", fields=("name", "email")),
    }

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {"contacts": (state or {}).get("contacts", 0) + 1, "name": event.get("name")}


def _event(key: str, n: int, personal: bool) -> dict[str, Any]:
    if not personal:
        return {"type": "Noted", "customer_id": key, "n": n, "note": PAD}
    return {
        "type": "Contacted",
        "customer_id": key,
        "name": f"Customer {key}",
        "email": f"{key}@example.com",
        "n": n,
        "note": PAD,
    }


class Writer:
    """Commits to a rotating set of aggregates (one subject each), next version each time."""

    def __init__(self, store: CommitStore, *, personal: bool, subjects: int = 50) -> None:
        self.store = store
        self.personal = personal
        self.prefix = uuid.uuid4().hex[:8]
        self.keys = itertools.cycle([f"{self.prefix}-{n}" for n in range(subjects)])
        self.versions: dict[str, int] = {}

    def write(self, key: str) -> None:
        version = self.versions.get(key, 0) + 1
        self.versions[key] = version
        self.store.append(
            Commit(
                commit_id=uuid.uuid4().hex,
                aggregate_type="Customer",
                aggregate_key=key,
                version=version,
                committed_at=datetime.now(UTC),
                events=(_event(key, version, self.personal),),
            )
        )

    def run(self, operations: int) -> None:
        for _ in range(operations):
            self.write(next(self.keys))

    def new_subjects(self, operations: int) -> None:
        for _ in range(operations):
            self.write(uuid.uuid4().hex)


def _shredder(keys: KeyStore, **options: Any) -> Shredder:
    return Shredder(keys=keys, policy=ShreddingPolicy.from_aggregates(Customer), **options)


def _loader(store: CommitStore, key: str) -> Callable[[int], None]:
    cls = Customer.using(commit_store=store)

    def load(operations: int) -> None:
        for _ in range(operations):
            loaded = cls.load(key)
            assert loaded is not None and loaded.version == 10

    return load


def _cold_loader(bare: CommitStore, keys: KeyStore, key: str) -> Callable[[int], None]:
    """Loads as the first load of a new process: a new shredder, nothing cached."""

    def load(operations: int) -> None:
        for _ in range(operations):
            cls = Customer.using(commit_store=_shredder(keys).commit_store(bare))
            loaded = cls.load(key)
            assert loaded is not None and loaded.version == 10

    return load


def _suite(
    bare: CommitStore, make_keys: Callable[[], KeyStore], rounds: int, scale: int
) -> dict[str, Rate]:
    keys = make_keys()
    encrypting = _shredder(keys).commit_store(bare)
    plain_writer = Writer(bare, personal=True)
    shredded = Writer(encrypting, personal=True)
    passing = Writer(encrypting, personal=False)
    for writer in (plain_writer, shredded, passing):
        writer.run(100)  # warm-up, and every rotating subject's key created
    bare.flush_log(timeout=60)
    commits = compare(
        [
            ("bare", plain_writer.run),
            ("personal", shredded.run),
            ("pass-through", passing.run),
            ("new subject", shredded.new_subjects),
        ],
        20 * scale,
        rounds,
    )
    load_key = f"{uuid.uuid4().hex[:8]}-load"
    for _ in range(10):
        shredded.write(load_key)
    plain_key = f"{uuid.uuid4().hex[:8]}-plain"
    for _ in range(10):
        plain_writer.write(plain_key)
    bare.flush_log(timeout=60)
    loads = compare(
        [
            ("bare", _loader(bare, plain_key)),
            ("cached", _loader(encrypting, load_key)),
            ("cold", _cold_loader(bare, keys, load_key)),
        ],
        10 * scale,
        rounds,
    )
    names = ["commit bare", "commit personal", "commit pass", "commit new", "load bare"]
    names += ["load cached", "load cold"]
    return dict(zip(names, [*commits, *loads], strict=True))


def _row(name: str, rate: Rate, unit: str, base: Rate | None) -> str:
    ratio = f"**{base.median / rate.median:.2f}x**" if base else "baseline"
    seconds = 1 / rate.median
    per_op = f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"
    return f"| {name} | {rate.median:,.0f} {unit} ({rate.spread}) | {per_op} | {ratio} |"


def _table(r: dict[str, Rate]) -> str:
    cb, lb = r["commit bare"], r["load bare"]
    return "\n".join(
        [
            "| operation | rate (spread) | time per op | ratio (time) |",
            "|---|---|---|---|",
            _row("commit, bare store", cb, "commits/s", None),
            _row("commit, 2 personal fields, key cached", r["commit personal"], "commits/s", cb),
            _row("commit, no personal data (pass-through)", r["commit pass"], "commits/s", cb),
            _row(
                "commit for a new subject (key created, indexed)", r["commit new"], "commits/s", cb
            ),
            _row("load 10 commits, bare store", lb, "loads/s", None),
            _row("load 10 personal commits, key cached", r["load cached"], "loads/s", lb),
            _row("load 10 personal commits, cold cache", r["load cold"], "loads/s", lb),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    rounds = args.rounds

    print("in memory ...", flush=True)
    memory = _suite(InMemoryCommitStore(), InMemoryKeyStore, rounds, scale=100)

    endpoint, local = dynamodb_endpoint()
    client = make_client("dynamodb", table="bench", endpoint_url=endpoint, region_name="us-east-1")
    commits = DynamoDBCommitStore(f"bench-{uuid.uuid4().hex[:10]}", client=client)
    key_tables: list[DynamoDBKeyStore] = []

    def dynamodb_keys() -> KeyStore:
        store = DynamoDBKeyStore(f"bench-keys-{uuid.uuid4().hex[:10]}", client=client)
        store.create_table()
        key_tables.append(store)
        return store

    try:
        commits.create_table()
        print("DynamoDB Local ...", flush=True)
        dynamodb = _suite(commits, dynamodb_keys, rounds, scale=5)
    finally:
        commits.close()
        commits.delete_table(wait=False)
        for table in key_tables:
            table.delete_table(wait=False)
        if local is not None:
            local.kill()

    command = "scripts/private-net uv run python bench/shredding.py"
    if rounds != 7:
        command += f" --rounds {rounds}"
    body = f"""
Machine: {machine()}. One run of `{command}`; warm-up first, then the variants' rounds
interleaved; median of {rounds} rounds (spread = min-max); a ratio is the variant's time per
operation over the bare store's. Each commit holds one event of about 300 bytes; "personal"
events have two personal fields (`name`, `email`) of one subject, encrypted with AES-256-GCM
under the subject's data key. Commits rotate over 50 aggregates, one subject each, whose keys
are cached after the warm-up; "new subject" commits to a new aggregate of a new subject each
time (a key read, a conditional key write and the aggregate index write before the commit).
Loads are `Customer.load(key)` of 10 commits; "cold cache" loads through a new `Shredder`
each time, as the first load in a new process does (one key read). The DynamoDB tables are
the defaults (`sequencing="background"`), the key store a `DynamoDBKeyStore` table on the same
DynamoDB Local.

In memory (`InMemoryCommitStore`, `InMemoryKeyStore`):

{_table(memory)}

On DynamoDB Local (`DynamoDBCommitStore`, `DynamoDBKeyStore`):

{_table(dynamodb)}
"""
    print(body)
    if not args.no_write:
        write_section("Crypto-shredding", body)


if __name__ == "__main__":
    main()

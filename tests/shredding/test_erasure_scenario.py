"""The erasure scenario, on the in-memory stores and on DynamoDB Local: customers commit, a
projector and a websocket client follow, one customer is forgotten; then loads, a projector
replay and a resumed stream see placeholders, and nothing in storage (commits, log, snapshots,
key table) still reads as that customer's plaintext, whoever reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import ddbes
from ddbes import Commit, Projector
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.shredding import ERASED, InMemoryKeyStore, KeyStore
from ddbes.snapshot_tip import TipSnapshotStore
from ddbes_dynamodb import DynamoDBKeyStore, DynamoDBSnapshotStore
from ddbes_ws import EventStream, EventStreamServer
from tests.dynamodb.tables import DynamoDBTables
from tests.shredding.conftest import Customer
from tests.shredding.helpers import shredder

CUSTOMERS = {
    "c-ada": ("Ada Lovelace", "ada@example.com", "12 St James's Square"),
    "c-grace": ("Grace Hopper", "grace@example.com", "Arlington Ridge Rd"),
    "c-alan": ("Alan Turing", "alan@example.com", "Hollymeade, Wilmslow"),
}
FORGOTTEN = "c-ada"


@dataclass
class Backend:
    commits: CommitStore
    snapshots: SnapshotStore
    keys: KeyStore
    raw_dump: Any  # () -> str: every stored byte, decompressed, as text


@contextlib.contextmanager
def _backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        commits = InMemoryCommitStore()
        snapshots = InMemorySnapshotStore()
        keys = InMemoryKeyStore()

        def dump_memory() -> str:
            log = [c.events for c in commits.read_log()]
            tips = [snapshots.get("Customer", key) for key in CUSTOMERS]
            return repr((log, tips, [keys.get(key) for key in CUSTOMERS]))

        yield Backend(commits, snapshots, keys, dump_memory)
        return
    tables = DynamoDBTables(request.getfixturevalue("dynamodb_local").endpoint_url)
    key_store = DynamoDBKeyStore(f"ddbes-keys-{uuid.uuid4().hex[:12]}", client=tables.client)
    key_store.create_table()
    dynamodb = tables.commit_store()
    try:

        def dump_tables() -> str:
            texts: list[str] = []
            for table in (dynamodb.table_name, key_store.table_name):
                pages = tables.client.get_paginator("scan").paginate(TableName=table)
                for item in (item for page in pages for item in page["Items"]):
                    for value in item.values():
                        if "S" in value:
                            texts.append(value["S"])
                        elif "B" in value:
                            data = bytes(value["B"])
                            with contextlib.suppress(zlib.error):
                                data = zlib.decompress(data)
                            texts.append(data.decode("utf-8", "replace"))
            return "\n".join(texts)

        yield Backend(dynamodb, DynamoDBSnapshotStore(dynamodb), key_store, dump_tables)
    finally:
        tables.delete_all()
        key_store.delete_table(wait=False)


@pytest.fixture(params=["memory", "dynamodb-local"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with _backend(request) as made:
        yield made


def _project(store: CommitStore, name: str) -> dict[str, dict[str, Any]]:
    """A read model: each customer's fields, as a projector sees them."""
    model: dict[str, dict[str, Any]] = {}

    def on_customer(commit: Commit) -> None:
        for event in commit.events:
            fields = {k: v for k, v in event.items() if k != "type"}
            model.setdefault(commit.aggregate_key, {}).update(fields)

    Projector(
        {"Customer": on_customer},
        name=name,
        commit_store=store,
        checkpoint_store=InMemoryCheckpointStore(),
    ).run()
    return model


async def _stream(store: CommitStore, count: int) -> list[dict[str, Any]]:
    """Every event a websocket client resuming from the start receives."""
    async with (
        EventStreamServer(commit_store=store, port=0, poll_delay=0.02) as server,
        EventStream(server.url, events=[{}], after=0) as stream,
        asyncio.timeout(10),
    ):
        return [(await anext(stream)).event for _ in range(count)]


async def test_a_forgotten_customer_reads_as_placeholders_everywhere(backend: Backend) -> None:
    shred = shredder(backend.keys)
    commits = shred.commit_store(backend.commits)
    snapshots = shred.snapshot_store(backend.snapshots)
    if isinstance(backend.snapshots, TipSnapshotStore):  # loads keep their one read
        assert isinstance(snapshots, TipSnapshotStore) and snapshots.serves(commits)
    ddbes.config.update(
        commit_store=commits,
        snapshot_store=snapshots,
        snapshots=True,
        snapshots_frequency=2,
    )
    for key, (name, email, street) in CUSTOMERS.items():
        Customer.create(customer_id=key, name=name, email=email).move("London", street)
    Customer.load(FORGOTTEN).upgrade()  # type: ignore[union-attr]
    backend.commits.flush_log(timeout=30)
    events = 2 * len(CUSTOMERS) + 1

    before = _project(commits, "before")
    assert before[FORGOTTEN]["name"] == "Ada Lovelace"
    streamed = await _stream(commits, events)
    assert "Ada Lovelace" in repr(streamed)
    stored = backend.raw_dump()
    for name, email, street in CUSTOMERS.values():
        assert name not in stored and email not in stored and street not in stored

    touched = shred.forget(FORGOTTEN)
    print(f"\nforgot {FORGOTTEN}: aggregates {touched}")
    assert touched == (f"Customer:{FORGOTTEN}",)

    # loads, in this process and in a fresh one (nothing cached)
    for reader in (shred, shredder(backend.keys)):
        ddbes.config.update(
            commit_store=reader.commit_store(backend.commits),
            snapshot_store=reader.snapshot_store(backend.snapshots),
        )
        erased = Customer.load(FORGOTTEN)
        assert erased is not None
        assert erased.state == {
            "name": ERASED,
            "email": ERASED,
            "plan": "max",
            "city": ERASED,
            "street": ERASED,
            "events": 3,
        }
        kept = Customer.load("c-grace")
        assert kept is not None and kept.state["name"] == "Grace Hopper"

    # a projector replay and a resumed stream
    after = _project(commits, "replay")
    assert after[FORGOTTEN] == {
        "customer_id": ERASED,  # "Moved" names its subject with a function: all of it is personal
        "name": ERASED,
        "email": ERASED,
        "plan": "max",
        "city": ERASED,
        "street": ERASED,
    }
    assert after["c-alan"]["street"] == "Hollymeade, Wilmslow"
    restreamed = await _stream(commits, events)
    ada_events = [e for e in restreamed if e.get("customer_id") in (FORGOTTEN, ERASED)]
    assert ada_events and "Ada" not in repr(restreamed) and "St James" not in repr(restreamed)
    assert "Grace Hopper" in repr(restreamed)

    # nothing stored reads as the plaintext: no key, no snapshot of the forgotten customer
    assert backend.keys.get(FORGOTTEN) is None
    assert backend.snapshots.get("Customer", FORGOTTEN) is None
    stored = backend.raw_dump()
    assert "Ada Lovelace" not in stored and "ada@example.com" not in stored
    print(
        f"events: {events} committed, {len(restreamed)} streamed after forget; "
        f"placeholders in load, replay and stream; plaintext found in storage: 0"
    )

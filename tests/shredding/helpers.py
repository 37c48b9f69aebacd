"""What the shredding tests share."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes.shredding import InMemoryKeyStore, KeyStore, Shredder, ShreddingPolicy
from tests.shredding.conftest import Customer


class Clock:
    """A monotonic clock for key caches that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shredder(keys: KeyStore | None = None, **options: Any) -> Shredder:
    return Shredder(
        keys=keys if keys is not None else InMemoryKeyStore(),
        policy=ShreddingPolicy.from_aggregates(Customer),
        **options,
    )


def commit(
    key: str, version: int, *events: dict[str, Any], aggregate_type: str = "Customer"
) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=datetime.now(UTC),
        events=tuple(events),
    )


def registered(
    key: str, name: str = "Ada Lovelace", email: str = "ada@example.com"
) -> dict[str, Any]:
    return {"type": "Registered", "customer_id": key, "name": name, "email": email, "plan": "pro"}


def raw_text(store: CommitStore) -> str:
    """Everything the store's global log holds, as stored (no decryption)."""
    return repr(
        [c.events for p in range(store.log_partitions) for c in store.read_log(log_partition=p)]
    )

"""Fixtures for crypto-shredding: key stores on every adapter, and a ``Customer`` aggregate
whose personal data the policy names."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ddbes
from ddbes import Aggregate, Commit
from ddbes.shredding import InMemoryKeyStore, KeyStore, PersonalData
from ddbes_dynamodb import DynamoDBKeyStore
from tests.dynamodb.tables import client_for


class Customer(Aggregate):
    key_schema = ("customer_id",)
    personal_data = {
        "Registered": PersonalData(subject="customer_id", fields=("name", "email")),
        "Moved": PersonalData(subject=lambda event: event["customer_id"]),
    }

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = dict(state or {})
        state.update({k: v for k, v in event.items() if k not in ("type", "customer_id")})
        state["events"] = state.get("events", 0) + 1
        return state

    def create(self, customer_id: str, name: str, email: str) -> Customer:
        return self.commit(
            {
                "type": "Registered",
                "customer_id": customer_id,
                "name": name,
                "email": email,
                "plan": "pro",
            }
        )

    def move(self, city: str, street: str) -> Customer:
        return self.commit(
            {"type": "Moved", "customer_id": self.key, "city": city, "street": street}
        )

    def upgrade(self) -> Customer:
        return self.commit({"type": "Upgraded", "plan": "max"})


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    ddbes.config.reset()
    yield
    ddbes.config.reset()


class KeyTables:
    """Key stores on fresh tables of one endpoint, deleted after the test."""

    def __init__(self, endpoint_url: str) -> None:
        self.client = client_for(endpoint_url)
        self.made: list[DynamoDBKeyStore] = []

    def __call__(self) -> DynamoDBKeyStore:
        store = DynamoDBKeyStore(f"ddbes-keys-{uuid.uuid4().hex[:12]}", client=self.client)
        store.create_table()
        self.made.append(store)
        return store

    def delete_all(self) -> None:
        for store in self.made:
            store.delete_table(wait=False)


@pytest.fixture(params=["memory", "dynamodb-local", "moto"])
def key_store_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], KeyStore]]:
    if request.param == "memory":
        yield InMemoryKeyStore
        return
    service = "moto_server" if request.param == "moto" else "dynamodb_local"
    tables = KeyTables(request.getfixturevalue(service).endpoint_url)
    yield tables
    tables.delete_all()

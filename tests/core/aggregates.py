"""Aggregates shared by the core tests."""

from __future__ import annotations

from typing import Any

from ddbes import Aggregate, Commit, KeyPart, aggregate_command


class Counter(Aggregate):
    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = state or {"count": 0, "seen": []}
        if event["type"] == "Incremented":
            return {
                "count": state["count"] + event.get("by", 1),
                "seen": [*state["seen"], event["id"]],
            }
        return state

    @aggregate_command(retry=True)
    def increment(self, event_id: str, by: int = 1) -> Counter:
        return self.commit({"type": "Incremented", "id": event_id, "by": by})


class Cart(Aggregate):
    key_schema = ("account_id", KeyPart("store_id", optional=True))

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = state or {"items": []}
        if event["type"] == "Created":
            return {**state, "account_id": event["account_id"], "created_at": commit.committed_at}
        if event["type"] == "ItemAdded":
            return {**state, "items": [*state["items"], event["name"]]}
        if event["type"] == "ItemRemoved":
            return {**state, "items": [i for i in state["items"] if i != event["name"]]}
        return state

    def create(self, account_id: str, store_id: str | None = None) -> Cart:
        return self.commit({"type": "Created", "account_id": account_id, "store_id": store_id})

    @aggregate_command(retry=True)
    def add_item(self, name: str) -> Cart:
        return self.commit({"type": "ItemAdded", "name": name})

"""The example's domain: a shopping cart, as an async aggregate."""

from __future__ import annotations

from typing import Any

from ddbes import AsyncAggregate, Commit, aggregate_command


class Cart(AsyncAggregate):
    """A cart: created once, then items added and removed; commands retry on conflicts."""

    key_schema = ("cart_id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        if event["type"] == "CartCreated":
            return {"cart_id": event["cart_id"], "items": []}
        if event["type"] == "ItemAdded":
            return {**state, "items": [*state["items"], event["name"]]}
        if event["type"] == "ItemRemoved":
            items = list(state["items"])
            items.remove(event["name"])
            return {**state, "items": items}
        return state

    async def create(self, cart_id: str) -> Cart:
        return await self.commit({"type": "CartCreated", "cart_id": cart_id})

    @aggregate_command(retry=True)
    async def add_item(self, name: str) -> Cart:
        return await self.commit({"type": "ItemAdded", "name": name})

    @aggregate_command(retry=True)
    async def remove_item(self, name: str) -> Cart:
        if name not in self.state["items"]:
            raise LookupError(name)
        return await self.commit({"type": "ItemRemoved", "name": name})

"""The FastAPI example, driven through its ASGI interface (lifespan included), on the
in-memory store and on DynamoDB Local."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from examples.fastapi_app.app import create_app

from ddbes_dynamodb import DynamoDBCommitStore


@pytest.fixture(params=["memory", "dynamodb-local"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    settings: dict[str, object] = {"backend": "memory"}
    table = None
    if request.param == "dynamodb-local":
        endpoint = request.getfixturevalue("dynamodb_local").endpoint_url
        table = DynamoDBCommitStore(f"example-{uuid.uuid4().hex[:10]}", endpoint_url=endpoint)
        table.create_table()
        settings = {"backend": "dynamodb", "table_name": table.table_name, "endpoint_url": endpoint}
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://carts") as http:
                yield http
    finally:
        if table is not None:
            table.close()
            table.delete_table(wait=False)


async def test_carts_are_created_filled_and_read(client: httpx.AsyncClient) -> None:
    created = await client.post("/carts", json={"cart_id": "c1"})
    assert created.status_code == 201
    assert created.json() == {"cart_id": "c1", "version": 1, "items": []}
    assert (await client.post("/carts", json={"cart_id": "c1"})).status_code == 409

    added = await asyncio.gather(
        *(client.post("/carts/c1/items", json={"name": f"i{n}"}) for n in range(10))
    )
    assert {response.status_code for response in added} == {200}

    cart = (await client.get("/carts/c1")).json()
    assert cart["version"] == 11
    assert sorted(cart["items"]) == sorted(f"i{n}" for n in range(10))

    removed = await client.delete("/carts/c1/items/i3")
    assert removed.status_code == 200 and "i3" not in removed.json()["items"]
    assert (await client.delete("/carts/c1/items/i3")).status_code == 404
    assert (await client.get("/carts/missing")).status_code == 404

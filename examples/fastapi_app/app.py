"""A FastAPI app on ddbes's asyncio API: carts as async aggregates, stores from the container.

Run it (``pip install uvicorn``)::

    DDBES_BACKEND=memory uvicorn examples.fastapi_app.app:app
    DDBES_BACKEND=dynamodb DDBES_ENDPOINT_URL=http://127.0.0.1:8000 \\
        uvicorn examples.fastapi_app.app:app      # after `ddbes table create`

The stores are built once, at startup, by :mod:`ddbes.container` (``async_commit_store``:
``AsyncDynamoDBCommitStore`` on aiobotocore, or the in-memory store's async view), and the
async clients are closed at shutdown. Every request handler awaits the aggregate: no thread
per request, and the event loop never blocks on DynamoDB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from examples.fastapi_app.model import Cart
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from ddbes.container import create_container
from ddbes.errors import AggregateNotFound, RetriesExhausted, VersionConflict


class NewCart(BaseModel):
    cart_id: str


class Item(BaseModel):
    name: str


def _view(cart: Any) -> dict[str, Any]:
    return {"cart_id": cart.key, "version": cart.version, "items": cart.state["items"]}


def create_app(settings: Mapping[str, Any] | None = None) -> FastAPI:
    """The app, its stores configured by ``settings`` (else ``DDBES_*`` variables)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = create_container(settings)
        store = container.async_commit_store()
        app.state.carts = Cart.using(commit_store=store)
        try:
            yield
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                await close()
            await container.resources().aclose()

    app = FastAPI(title="ddbes carts", lifespan=lifespan)

    async def _load(request: Request, cart_id: str) -> Any:
        try:
            return await request.app.state.carts.load(cart_id, fail=True)
        except AggregateNotFound:
            raise HTTPException(404, f"no cart {cart_id!r}") from None

    @app.post("/carts", status_code=201)
    async def create_cart(request: Request, body: NewCart) -> dict[str, Any]:
        try:
            cart = await request.app.state.carts.create(cart_id=body.cart_id)
        except VersionConflict:
            raise HTTPException(409, f"cart {body.cart_id!r} exists") from None
        return _view(cart)

    @app.get("/carts/{cart_id}")
    async def get_cart(request: Request, cart_id: str) -> dict[str, Any]:
        return _view(await _load(request, cart_id))

    @app.post("/carts/{cart_id}/items")
    async def add_item(request: Request, cart_id: str, body: Item) -> dict[str, Any]:
        cart = await _load(request, cart_id)
        try:
            return _view(await cart.add_item(body.name))
        except RetriesExhausted:
            raise HTTPException(409, "the cart is too busy: try again") from None

    @app.delete("/carts/{cart_id}/items/{name}")
    async def remove_item(request: Request, cart_id: str, name: str) -> dict[str, Any]:
        cart = await _load(request, cart_id)
        try:
            return _view(await cart.remove_item(name))
        except LookupError:
            raise HTTPException(404, f"no item {name!r} in cart {cart_id!r}") from None

    return app


app = create_app()

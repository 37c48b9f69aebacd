"""The async DynamoDB adapter keeps the event loop responsive: a bound on requests in flight,
and a user agent botocore does not rebuild per request."""

from __future__ import annotations

import asyncio

import pytest

from ddbes_dynamodb import AsyncDynamoDBCommitStore
from ddbes_dynamodb._client import _user_agent, make_async_client, make_client
from ddbes_dynamodb._errors import AsyncCaller


async def test_the_caller_keeps_at_most_max_in_flight_requests_in_flight() -> None:
    call = AsyncCaller("t", max_in_flight=3)
    now = peak = 0

    async def operation(**kwargs: object) -> dict[str, object]:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.001)
        now -= 1
        return {"ok": kwargs}

    results = await asyncio.gather(*(call(operation, "get", i=i) for i in range(20)))

    assert peak == 3
    assert [r["ok"] for r in results] == [{"i": i} for i in range(20)]


async def test_without_a_bound_every_request_goes_at_once() -> None:
    call = AsyncCaller("t", max_in_flight=None)
    started: list[int] = []
    release = asyncio.Event()

    async def operation(i: int) -> int:
        started.append(i)
        await release.wait()
        return i

    calls = asyncio.gather(*(call(operation, "get", i=i) for i in range(50)))
    while len(started) < 50:
        await asyncio.sleep(0)
    release.set()
    assert await calls == list(range(50))


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_a_bad_max_in_flight_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        AsyncDynamoDBCommitStore("ddbes-t", endpoint_url="http://127.0.0.1:1", max_in_flight=value)  # type: ignore[arg-type]


async def test_clients_send_a_fixed_user_agent() -> None:
    options = {"table": "ddbes-t", "endpoint_url": "http://127.0.0.1:1", "region_name": "us-east-1"}
    sync = make_client("dynamodb", **options)
    async with make_async_client("dynamodb", **options) as client:
        agent = client.meta.config.user_agent
    built_once = _user_agent()
    assert built_once.startswith("Botocore/") and built_once.endswith(" ddbes")
    assert agent.startswith(built_once)
    assert sync.meta.config.user_agent.startswith(built_once)

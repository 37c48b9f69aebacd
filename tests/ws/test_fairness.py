"""Fairness: an expensive or slow client costs itself, never the others."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ddbes.filters import compile_filters
from ddbes.model import Commit
from ddbes_ws import EventStream, EventStreamServer, StreamRequest
from ddbes_ws._budget import FilterBudget
from ddbes_ws._sharing import FilterPool
from ddbes_ws._throttle import ThrottledWarning
from tests.ws.conftest import Log, ServerFactory

FIELDS = 8
HEAVY_VALUE = "xy" * 1024


def heavy_filter(n: int) -> list[dict[str, object]]:
    """Linear-time but expensive: every field is searched in full; matches events with z=..."""
    sets: list[dict[str, object]] = [
        {f"f{j}": {"regexp": f"(x|y)*z{n}q{j}$"}} for j in range(FIELDS)
    ]
    sets.append({"z": {"regexp": f"^{n % 2}$"}})
    return sets


def write(log: Log, first: int, count: int) -> None:
    for n in range(first, first + count):
        event = {
            "type": "T",
            "n": n,
            "z": str(n % 2),
            **{f"f{j}": HEAVY_VALUE for j in range(FIELDS)},
        }
        log.commit("Cart", event, key=f"k{n % 7}")


async def timed_receive(stream: EventStream, count: int) -> tuple[float, list[int]]:
    started = time.perf_counter()
    received = [(await anext(stream)).event["n"] for _ in range(count)]
    return time.perf_counter() - started, received


async def test_clients_with_expensive_filters_slow_only_themselves(
    server: EventStreamServer, log: Log
) -> None:
    count = 150
    async with EventStream(server.url, events=[{"aggregateType": "Cart"}]) as good:
        write(log, 0, count)
        async with asyncio.timeout(60):
            alone, first = await timed_receive(good, count)
        heavy = [EventStream(server.url, events=heavy_filter(n)) for n in range(20)]
        for stream in heavy:
            await stream.start()
        try:
            write(log, count, count)
            async with asyncio.timeout(120):
                crowded, second = await timed_receive(good, count)
                for stream in heavy[4:]:
                    await stream.close()
                # the heavy clients are slowed, and still lose nothing
                for n, stream in enumerate(heavy[:4]):
                    wanted = [m for m in range(count, 2 * count) if m % 2 == n % 2]
                    got = [(await anext(stream)).event["n"] for _ in wanted]
                    assert got == wanted
        finally:
            for stream in heavy:
                await stream.close()
    assert first == list(range(count)) and second == list(range(count, 2 * count))
    # unfair, this took over 50 times as long; allow a loaded machine plenty of noise
    # The heavy filters' work on these commits, measured now, on this (maybe loaded) machine:
    # unfair, the good client waited all of it.
    commits = list(log.store.read_log(after=count, log_partition=0, limit=count))
    started = time.perf_counter()
    for n in range(20):
        compiled = compile_filters(heavy_filter(n))
        for commit in commits:
            compiled.matching_events(commit)
    work = time.perf_counter() - started
    print(f"{count} commits: {alone:.2f} s alone, {crowded:.2f} s beside filters of {work:.2f} s")
    assert crowded < alone + work / 3, (alone, crowded, work)


def test_identical_filters_are_compiled_once_and_share_their_answers() -> None:
    pool = FilterPool(None)
    one = pool.compile([{"type": "A", "aggregateType": {"regexp": "^C"}}])
    twin = pool.compile([{"aggregateType": {"regexp": "^C"}, "type": "A"}])
    other = pool.compile([{"type": "B"}])
    assert one is twin and one is not other and len(pool) == 2
    commit = Commit(
        commit_id="c1",
        aggregate_type="Cart",
        aggregate_key="k",
        version=1,
        committed_at=__import__("datetime").datetime.now(__import__("datetime").UTC),
        events=({"type": "A"},),
        position=7,
    )
    assert one.remembered(0, commit) is None
    one.remember(0, commit, [0])
    assert twin.remembered(0, commit) == [0]
    assert twin.remembered(1, commit) is None  # another partition's position 7
    del one, twin
    assert len(pool) == 1  # a filter nobody uses is dropped
    assert compile_filters([{"type": "B"}]).filter_sets == other.filter_sets


def test_a_filter_budget_refills_at_its_rate_and_paces_debts() -> None:
    budget = FilterBudget(0.1, 0.02, now=0.0)
    assert not budget.exhausted(0.0)
    budget.charge(0.05, now=0.0)
    assert budget.exhausted(0.0)
    assert budget.wait(0.0) == pytest.approx(0.3, abs=0.01)  # 0.03 s of debt at 0.1 s/s
    assert not budget.exhausted(0.31)
    budget.share(0.25, 10)  # ten paced clients share a quarter of the loop: 0.025 s/s each
    budget.charge(0.02, now=0.31)
    assert budget.wait(0.31) > 0.3


async def test_a_slow_plain_function_hook_delays_only_its_own_connection(
    serve: ServerFactory, log: Log
) -> None:
    release = threading.Event()

    def authenticate(request: StreamRequest) -> str | None:
        if request.headers.get("Authorization") == "slow":
            release.wait(10)  # blocking: it must not run on the event loop
        return "someone"

    server = await serve(authenticate=authenticate)
    async with EventStream(server.url) as good:
        slow = [EventStream(server.url, headers={"Authorization": "slow"}) for _ in range(3)]
        starting = [asyncio.create_task(stream.start()) for stream in slow]
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        log.commit("Cart", {"type": "Meanwhile"})
        async with asyncio.timeout(20):
            assert (await anext(good)).type == "Meanwhile"
        waited = time.perf_counter() - started
        async with EventStream(server.url) as another:  # new connections get in, too
            log.commit("Cart", {"type": "Again"})
            assert (await anext(another)).type == "Again"
        waited_for_another = time.perf_counter() - started
        release.set()
        await asyncio.gather(*starting)
        for stream in slow:
            await stream.close()
    assert waited < 5 and waited_for_another < 8, (waited, waited_for_another)


async def test_max_connections_counts_connections_still_authenticating(
    serve: ServerFactory,
) -> None:
    async def authenticate(request: StreamRequest) -> str:
        await asyncio.sleep(0.3)
        return "someone"

    server = await serve(authenticate=authenticate, max_connections=5)

    async def try_connect() -> int:
        try:
            ws = await connect(server.url)
        except InvalidStatus as exc:
            return exc.response.status_code
        await asyncio.sleep(0.5)
        await ws.close()
        return 101

    statuses = await asyncio.gather(*(try_connect() for _ in range(20)))
    assert sorted(statuses) == [101] * 5 + [503] * 15


async def test_refused_connections_log_one_warning_not_one_each(
    serve: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(max_connections=1)
    caplog.set_level(logging.WARNING, logger="ddbes_ws.server")
    async with EventStream(server.url):
        for _ in range(30):
            with pytest.raises(InvalidStatus):
                await connect(server.url)
    refusals = [r for r in caplog.records if "refusing" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert "max_connections" in refusals[0].getMessage()


def test_a_throttled_warning_says_how_many_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    throttled = ThrottledWarning(logging.getLogger("test.throttle"), interval=10)
    logged = [throttled.warn(t, "refusing: %d", 1) for t in (0.0, 1.0, 2.0, 9.0, 11.0)]
    assert logged == [True, False, False, False, True]
    assert [r.getMessage() for r in caplog.records] == [
        "refusing: 1",
        "refusing: 1 (3 more refused in the last 11 s)",
    ]

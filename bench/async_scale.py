"""Async commands at scale: one process, 200 concurrent async commands against sync threads.

Through the loopback proxy that adds 5 ms to every request (``bench/latency_proxy.py``), to
DynamoDB Local, one process runs commands on 200 aggregates for a fixed window:

* ``sync x1``: one thread, :class:`DynamoDBCommitStore`, the aggregates in turn;
* ``sync x16``: 16 threads sharing one :class:`DynamoDBCommitStore`, each on its own aggregates;
* ``async x200``: 200 tasks of one event loop sharing one :class:`AsyncDynamoDBCommitStore`
  (aiobotocore), one aggregate each; a ticker task measures the event loop's lag meanwhile
  (how late a 1 ms sleep wakes up).

A command reads the aggregate's head (``read_commits(descending=True, limit=1)``, what a load
with a snapshot reads at least) and appends the next version: two requests, the same in every
mode. Each mode gets a fresh table (the default, background-sequenced), a warm-up, then
counts the commits that complete in the window; rounds interleave the modes (every other
round in reverse order), a first round warms DynamoDB Local up uncounted (``--warm-rounds``),
and the median is reported.

With ``--apart`` the services run apart from the benchmark (``keep_apart``): DynamoDB Local
and the proxy on the first CPU, this process on the others, as on AWS, where the database
does not share the application's CPUs. Sharing them (the default) on a 2-core machine, the
scheduler preempts the event loop for DynamoDB Local's threads, and the lag measures that too.

    scripts/private-net uv run --no-sync python -m bench.async_scale [--seconds 8] [--rounds 3]
        [--apart]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import dynamodb_endpoint, keep_apart
from bench.latency_proxy import start_proxy
from ddbes.model import Commit
from ddbes_dynamodb import AsyncDynamoDBCommitStore, DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from ddbes_dynamodb._table import DEFAULT_MAX_IN_FLIGHT

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

AGGREGATES = 200
THREADS = 16
WARM_UP = 1.5
EVENT = {"type": "ItemAdded", "sku": "x" * 300}


def _commit(key: str, version: int) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type="Bench",
        aggregate_key=key,
        version=version,
        committed_at=datetime.now(UTC),
        events=(EVENT,),
    )


SEQUENCING = "background"


def _table(endpoint: str) -> DynamoDBCommitStore:
    store = DynamoDBCommitStore(f"bench-async-{uuid.uuid4().hex[:10]}", endpoint_url=endpoint)
    store.create_table(sequencing=SEQUENCING)
    return store


def _sync_command(store: DynamoDBCommitStore, key: str) -> None:
    head = next(iter(store.read_commits("Bench", key, descending=True, limit=1)), None)
    store.append(_commit(key, 1 if head is None else head.version + 1))


def run_sync(proxy: str, direct: str, threads: int, seconds: float) -> float:
    """Commits per second of ``threads`` threads over :data:`AGGREGATES` aggregates."""
    admin = _table(direct)
    client = make_client("dynamodb", table="bench", endpoint_url=proxy, region_name="us-east-1")
    store = DynamoDBCommitStore(admin.table_name, client=client)
    counts = [0] * threads
    counting = threading.Event()
    stop = threading.Event()

    def work(index: int) -> None:
        keys = [f"a{n}" for n in range(index, AGGREGATES, threads)]
        turn = 0
        while not stop.is_set():
            _sync_command(store, keys[turn % len(keys)])
            turn += 1
            if counting.is_set():
                counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(WARM_UP)
    counting.set()
    started = time.perf_counter()
    time.sleep(seconds)
    total = sum(counts)
    elapsed = time.perf_counter() - started
    stop.set()
    for worker in workers:
        worker.join()
    store.close()
    admin.delete_table(wait=False)
    return total / elapsed


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.001)
        lags.append(loop.time() - before - 0.001)


async def _run_async(
    proxy: str, table: str, seconds: float, max_in_flight: int | None
) -> tuple[float, list[float]]:
    store = AsyncDynamoDBCommitStore(table, endpoint_url=proxy, max_in_flight=max_in_flight)
    await store.open()
    counts = [0] * AGGREGATES
    counting = False
    stop = asyncio.Event()

    async def work(index: int) -> None:
        key = f"a{index}"
        while not stop.is_set():
            head = None
            async for commit in store.read_commits("Bench", key, descending=True, limit=1):
                head = commit
            await store.append(_commit(key, 1 if head is None else head.version + 1))
            if counting:
                counts[index] += 1

    lags: list[float] = []
    ticker_stop = asyncio.Event()
    tasks = [asyncio.create_task(work(i)) for i in range(AGGREGATES)]
    await asyncio.sleep(WARM_UP)
    counting = True
    ticker = asyncio.create_task(_ticker(lags, ticker_stop))
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    total = sum(counts)
    elapsed = time.perf_counter() - started
    ticker_stop.set()
    stop.set()
    await asyncio.gather(*tasks, ticker)
    await store.close()
    return total / elapsed, lags


def run_async(
    proxy: str, direct: str, seconds: float, max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT
) -> tuple[float, list[float]]:
    admin = _table(direct)
    try:
        return asyncio.run(_run_async(proxy, admin.table_name, seconds, max_in_flight))
    finally:
        admin.delete_table(wait=False)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warm-rounds",
        type=int,
        default=1,
        help="rounds run first and not counted: DynamoDB Local's rates rise while it warms up",
    )
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--sequencing", choices=("background", "inline"), default="background")
    parser.add_argument("--only-async", action="store_true", help="skip the sync modes")
    parser.add_argument(
        "--apart",
        action="store_true",
        help="run DynamoDB Local and the proxy on the first CPU, the benchmark on the others",
    )
    parser.add_argument(
        "--max-in-flight",
        type=lambda v: [None if x == "none" else int(x) for x in v.split(",")],
        default=[DEFAULT_MAX_IN_FLIGHT],
        help="the async store's bound on requests in flight ('none': unbounded); several, "
        "comma-separated, are each run in every round",
    )
    args = parser.parse_args()
    global SEQUENCING
    SEQUENCING = args.sequencing
    direct, local = dynamodb_endpoint()
    proxy, stop_proxy = start_proxy(direct, args.delay_ms)
    placement = None
    if args.apart and local is not None and local.process is not None:
        placement = keep_apart([local.process.pid, stop_proxy.pid])  # type: ignore[attr-defined]
    print(f"CPUs: {placement or 'shared by the services and the benchmark'}", flush=True)
    bounds: list[int | None] = args.max_in_flight
    named = {bound: "async x200" + ("" if len(bounds) == 1 else f" /{bound}") for bound in bounds}
    rates: dict[str, list[float]] = {"sync x1": [], "sync x16": []}
    rates.update({name: [] for name in named.values()})
    lag_p99: dict[str, list[float]] = {name: [] for name in named.values()}
    modes: dict[str, Callable[[], float]] = {
        "sync x1": lambda: run_sync(proxy, direct, 1, args.seconds),
        "sync x16": lambda: run_sync(proxy, direct, THREADS, args.seconds),
    }
    Run = Callable[[], tuple[float, list[float] | None]]

    def sync_run(mode: Callable[[], float]) -> Run:
        return lambda: (0.0 if args.only_async else mode(), None)

    def async_run(bound: int | None) -> Run:
        return lambda: run_async(proxy, direct, args.seconds, bound)

    runs = [(name, sync_run(mode)) for name, mode in modes.items()]
    runs += [(name, async_run(bound)) for bound, name in named.items()]
    try:
        for round_ in range(-args.warm_rounds, args.rounds):
            # every other round in reverse, so that no mode always runs on the warmest server
            for name, run in runs if round_ % 2 == 0 else reversed(runs):
                rate, lags = run()
                if round_ < 0:
                    continue
                rates[name].append(rate)
                if lags is not None:
                    lag_p99[name].append(_p99(lags) * 1000)
            if round_ < 0:
                print(f"warm-up round {args.warm_rounds + round_ + 1} done", flush=True)
                continue
            print(
                f"round {round_ + 1}: "
                + ", ".join(f"{name} {values[-1]:.0f}/s" for name, values in rates.items())
                + ", loop lag p99 "
                + ", ".join(f"{lags[-1]:.1f}" for lags in lag_p99.values())
                + " ms",
                flush=True,
            )
    finally:
        stop_proxy()
        if local is not None:
            local.kill()
    median = {name: statistics.median(values) for name, values in rates.items()}
    spread = {name: (min(values), max(values)) for name, values in rates.items()}
    print(
        f"\n{args.delay_ms:g} ms proxy, {args.sequencing} table, {AGGREGATES} aggregates, "
        f"{args.seconds:g} s windows, median of {args.rounds} rounds, "
        f"{placement or 'shared CPUs'}:"
    )
    for name in rates:
        low, high = spread[name]
        print(f"  {name:15} {median[name]:7.0f} commits/s ({low:.0f}-{high:.0f})")
    for bound, name in named.items():
        print(f"  {name} (max_in_flight={bound}):")
        if not args.only_async:
            for base, target in (("sync x1", 4.0), ("sync x16", 1.0)):
                ratio = median[name] / median[base]
                print(f"    / {base}: {ratio:.2f}x (target >= {target:g})")
        lags = lag_p99[name]
        print(
            f"    event-loop lag p99: {statistics.median(lags):.1f} ms "
            f"({min(lags):.1f}-{max(lags):.1f}; target < 10)"
        )


if __name__ == "__main__":
    main()

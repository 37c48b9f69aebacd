"""Websocket streaming: latency, fan-out throughput, and store reads per client count.

One run, on the in-memory store, server and clients in this process on 127.0.0.1:

* **latency, polling**: commit-to-client time of single-event commits made every ~20 ms by a
  writer thread, with ``poll_delay=0.1`` and no wake-up (target p99 ≤ 150 ms);
* **latency, wake-up**: the same with ``server.notify()`` after each commit, as an application
  in the server's process does (target p99 ≤ 20 ms);
* **fan-out**: 100 clients (``[{}]``) each receive 2,000 events committed at once: events
  delivered per second across all clients;
* **store reads**: log reads per second of an idle server with 1 and with 100 clients
  (target: the same: one reader serves every client).

    uv run python -m bench.stream [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

from bench._harness import machine, write_section
from ddbes.memory import InMemoryCommitStore
from ddbes.model import Commit
from ddbes_ws import EventStream, EventStreamServer


class Writer:
    def __init__(self, store: InMemoryCommitStore) -> None:
        self.store = store
        self.version = 0

    def commit(self, **fields: object) -> None:
        self.version += 1
        self.store.append(
            Commit(
                commit_id=uuid.uuid4().hex,
                aggregate_type="Bench",
                aggregate_key="@",
                version=self.version,
                committed_at=datetime.now(UTC),
                events=({"type": "Tick", **fields},),
            )
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency(notify: bool, samples: int) -> tuple[float, float]:
    store = InMemoryCommitStore()
    writer = Writer(store)
    async with (
        EventStreamServer(commit_store=store, poll_delay=0.1) as server,
        EventStream(server.url) as stream,
    ):

        def write() -> None:
            for n in range(samples):
                writer.commit(n=n, sent=time.perf_counter())
                if notify:
                    server.notify()
                time.sleep(0.02)

        thread = threading.Thread(target=write)
        thread.start()
        delays = []
        for _ in range(samples):
            item = await anext(stream)
            delays.append((time.perf_counter() - item.event["sent"]) * 1000)
        await asyncio.to_thread(thread.join)
    return statistics.median(delays), percentile(delays, 0.99)


async def fan_out(clients: int, events: int) -> float:
    store = InMemoryCommitStore()
    writer = Writer(store)
    async with EventStreamServer(commit_store=store, poll_delay=0.1) as server:
        streams = [EventStream(server.url) for _ in range(clients)]
        await asyncio.gather(*(s.start() for s in streams))

        async def drain(stream: EventStream) -> None:
            for _ in range(events):
                await anext(stream)

        started = time.perf_counter()
        for n in range(events):
            writer.commit(n=n)
        server.notify()
        await asyncio.gather(*(drain(s) for s in streams))
        elapsed = time.perf_counter() - started
        await asyncio.gather(*(s.close() for s in streams))
    return clients * events / elapsed


async def store_reads(clients: int, seconds: float) -> float:
    store = InMemoryCommitStore()
    async with EventStreamServer(commit_store=store, poll_delay=0.1) as server:
        streams = [EventStream(server.url) for _ in range(clients)]
        await asyncio.gather(*(s.start() for s in streams))
        await asyncio.sleep(0.3)
        before = server.store_reads
        await asyncio.sleep(seconds)
        rate = (server.store_reads - before) / seconds
        await asyncio.gather(*(s.close() for s in streams))
    return rate


async def main(write: bool) -> None:
    polled = await latency(notify=False, samples=200)
    woken = await latency(notify=True, samples=200)
    throughput = await fan_out(clients=100, events=2_000)
    reads_one = await store_reads(1, 3.0)
    reads_hundred = await store_reads(100, 3.0)
    lines = [
        f"Machine: {machine()}. In-memory store; server and clients in one process, one event",
        "loop, 127.0.0.1. One run of `uv run python -m bench.stream`.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| commit → client latency, `poll_delay=0.1` (200 commits) | p50 {polled[0]:.1f} ms, "
        f"p99 {polled[1]:.1f} ms | p99 ≤ 150 ms |",
        f"| same, with `server.notify()` after each commit | p50 {woken[0]:.1f} ms, "
        f"p99 {woken[1]:.1f} ms | p99 ≤ 20 ms |",
        f"| events delivered per second, 100 clients x 2,000 events | {throughput:,.0f} | |",
        f"| store reads per second, idle, 1 client | {reads_one:.1f} | |",
        f"| store reads per second, idle, 100 clients | {reads_hundred:.1f} | same as 1 client |",
        "",
        "An idle server reads each log partition once per `poll_delay`, however many clients it",
        "has; with no client at all it does not read. Fan-out encodes each frame once per",
        "distinct match and shares it between clients; the figure includes the 100 clients'",
        "own decoding, in the same process.",
    ]
    body = "\n".join(lines)
    print(body)
    if write:
        write_section("Streaming", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    arguments = parser.parse_args()
    asyncio.run(main(write=not arguments.no_write))
    sys.exit(0)

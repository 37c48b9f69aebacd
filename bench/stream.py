"""Websocket streaming against hand-written ``websockets`` servers: fan-out, latency, store reads.

Every figure is the median of ``--runs`` runs (spread = min-max) beside a comparison measured in
the same run; within a run the variants take turns, and their order flips from one run to the
next. In-memory store; servers and clients in this process, one event loop, 127.0.0.1; both
sides of every connection without compression (as ddbes's server and client run).

* **fan-out**: 100 clients (``[{}]``) each receive 2,000 single-event commits, events delivered
  per second across all clients. ddbes: the commits are made and ``server.notify()`` called with
  the clock running; the server reads them and each ``EventStream`` turns them into items.
  Raw: a ``websockets`` server ``broadcast()``\\ s the same frames (the bytes ddbes sends,
  pre-built from the same commits before the clock starts, in batches of 500 as ddbes reads
  them) to 100 plain ``websockets`` clients that ``json.loads`` each one.
* **latency, polling**: commit-to-client time of 200 single-event commits made every 20 ms by
  a writer thread. ddbes: ``poll_delay=0.1``, no wake-up. Raw: an asyncio loop that calls
  ``store.read_log(after=...)`` every 0.1 s and sends each new commit's frame to one plain
  client (target: ddbes p99 ≤ 150 ms).
* **latency, wake-up**: the same with ``server.notify()`` after each commit, as an application
  in the server's process does; raw: the writer hands each stored commit to the server's loop,
  which sends its frame at once, without reading the store (target: ddbes p99 ≤ 20 ms).
* **store reads**: log reads per second of an idle server with 100 clients against 1 client
  (target 1.0x: one reader serves every client).

    uv run --no-sync python -m bench.stream [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench._harness import machine, why, write_section
from ddbes.memory import InMemoryCommitStore
from ddbes.model import Commit
from ddbes_ws import EventStream, EventStreamServer, protocol

FAN_OUT_CLIENTS = 100
FAN_OUT_EVENTS = 2_000
BATCH = 500  # ddbes's default batch_size: commits per log read
LATENCY_SAMPLES = 200
LATENCY_INTERVAL = 0.02
POLL_DELAY = 0.1
IDLE_SECONDS = 2.0
MAX_FRAME = 16 * 2**20


class Writer:
    """Single-event commits to one aggregate of an in-memory store."""

    def __init__(self, store: InMemoryCommitStore) -> None:
        self.store = store
        self.version = 0

    def commit(self, **fields: object) -> Commit:
        self.version += 1
        return self.store.append(
            Commit(
                commit_id=uuid.uuid4().hex,
                aggregate_type="Bench",
                aggregate_key="@",
                version=self.version,
                committed_at=datetime.now(UTC),
                events=({"type": "Tick", **fields},),
            )
        )


def raw_frame(commit: Commit) -> str:
    """A hand-written commit frame, the shape of ``docs/protocol.md`` (checked in :func:`main`)."""
    committed_at = commit.committed_at.astimezone(UTC).replace(tzinfo=None)
    return json.dumps(
        {
            "type": "commit",
            "logPartition": commit.log_partition,
            "position": commit.position,
            "commitId": commit.commit_id,
            "aggregateType": commit.aggregate_type,
            "aggregateKey": commit.aggregate_key,
            "version": commit.version,
            "committedAt": committed_at.isoformat(timespec="microseconds") + "Z",
            "events": [{"index": i, "event": event} for i, event in enumerate(commit.events)],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _raw_connect(url: str) -> ClientConnection:
    return await connect(url, compression=None, max_size=MAX_FRAME)


# --------------------------------------------------------------------------- fan-out


async def ddbes_fan_out(clients: int, events: int) -> tuple[float, int]:
    """Events/s delivered to ``clients`` EventStreams; and how many times they reconnected."""
    store = InMemoryCommitStore()
    writer = Writer(store)
    async with EventStreamServer(
        commit_store=store, poll_delay=POLL_DELAY, wake_on_append=False
    ) as server:
        streams = [EventStream(server.url) for _ in range(clients)]
        await asyncio.gather(*(s.start() for s in streams))

        async def drain(stream: EventStream) -> None:
            for n in range(events):
                item = await anext(stream)
                assert item.event["n"] == n, (item.event, n)

        gc.collect()
        started = time.perf_counter()
        for n in range(events):
            writer.commit(n=n)
        server.notify()
        await asyncio.gather(*(drain(s) for s in streams))
        elapsed = time.perf_counter() - started
        reconnects = sum(s.reconnects for s in streams)
        await asyncio.gather(*(s.close() for s in streams))
    return clients * events / elapsed, reconnects


async def ddbes_server_fan_out(clients: int, events: int) -> float:
    """Events/s from EventStreamServer to plain ``websockets`` clients that ``json.loads`` each
    frame: the server's share of the fan-out, without EventStream's."""
    store = InMemoryCommitStore()
    writer = Writer(store)
    async with EventStreamServer(
        commit_store=store, poll_delay=POLL_DELAY, wake_on_append=False
    ) as server:

        async def subscribe() -> ClientConnection:
            ws = await _raw_connect(server.url)
            await ws.send(protocol.subscribe_frame([{}], None))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            return ws

        sockets = await asyncio.gather(*(subscribe() for _ in range(clients)))

        async def receive(ws: ClientConnection) -> None:
            for n in range(events):
                frame = json.loads(await ws.recv())
                assert frame["events"][0]["event"]["n"] == n, (frame, n)

        gc.collect()
        started = time.perf_counter()
        for n in range(events):
            writer.commit(n=n)
        server.notify()
        await asyncio.gather(*(receive(ws) for ws in sockets))
        elapsed = time.perf_counter() - started
        await asyncio.gather(*(ws.close() for ws in sockets))
    return clients * events / elapsed


def fan_out_frames(events: int) -> list[str]:
    store = InMemoryCommitStore()
    writer = Writer(store)
    return [raw_frame(writer.commit(n=n)) for n in range(events)]


async def raw_fan_out(clients: int, frames: list[str]) -> float:
    """Events/s that a ``websockets`` broadcast of pre-built frames delivers to plain clients."""
    connections: set[ServerConnection] = set()
    everyone = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        connections.add(ws)
        if len(connections) == clients:
            everyone.set()
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        sockets = await asyncio.gather(
            *(_raw_connect(f"ws://127.0.0.1:{port}") for _ in range(clients))
        )
        await everyone.wait()

        async def receive(ws: ClientConnection) -> None:
            for n in range(len(frames)):
                frame = json.loads(await ws.recv())
                assert frame["events"][0]["event"]["n"] == n, (frame, n)

        gc.collect()
        started = time.perf_counter()
        receivers = [asyncio.create_task(receive(ws)) for ws in sockets]
        for start in range(0, len(frames), BATCH):
            for frame in frames[start : start + BATCH]:
                broadcast(connections, frame)
            await asyncio.sleep(0)
        await asyncio.gather(*receivers)
        elapsed = time.perf_counter() - started
        await asyncio.gather(*(ws.close() for ws in sockets))
    return clients * len(frames) / elapsed


# --------------------------------------------------------------------------- latency


def start_writer(
    writer: Writer, samples: int, after_commit: Callable[[Commit], None]
) -> threading.Thread:
    """A thread that commits ``samples`` events, ``LATENCY_INTERVAL`` apart, stamped with the
    time just before each commit."""

    def write() -> None:
        for n in range(samples):
            after_commit(writer.commit(n=n, sent=time.perf_counter()))
            time.sleep(LATENCY_INTERVAL)

    thread = threading.Thread(target=write, name="bench writer")
    thread.start()
    return thread


async def ddbes_latency(notify: bool, samples: int) -> list[float]:
    """Commit-to-item delays in ms through EventStreamServer and EventStream. The server does
    not listen to the store's appends (``wake_on_append=False``): the writer stands for another
    process, found by polling or woken by ``notify()`` (which the append listener calls)."""
    store = InMemoryCommitStore()
    async with (
        EventStreamServer(
            commit_store=store, poll_delay=POLL_DELAY, wake_on_append=False
        ) as server,
        EventStream(server.url) as stream,
    ):
        wake: Callable[[Commit], None] = (lambda _: server.notify()) if notify else (lambda _: None)
        thread = start_writer(Writer(store), samples, wake)
        delays = []
        for _ in range(samples):
            item = await anext(stream)
            delays.append((time.perf_counter() - item.event["sent"]) * 1000)
        await asyncio.to_thread(thread.join)
    return delays


async def raw_latency(notify: bool, samples: int) -> list[float]:
    """Commit-to-decoded-frame delays in ms through a hand-written poller or pusher."""
    store = InMemoryCommitStore()
    loop = asyncio.get_running_loop()
    pushed: asyncio.Queue[Commit] = asyncio.Queue()

    async def poll(ws: ServerConnection) -> None:
        position = 0
        while True:
            for commit in store.read_log(after=position):
                await ws.send(raw_frame(commit))
                position = commit.position or position
            await asyncio.sleep(POLL_DELAY)

    async def push_each(ws: ServerConnection) -> None:
        while True:
            await ws.send(raw_frame(await pushed.get()))

    async def handler(ws: ServerConnection) -> None:
        sender = asyncio.create_task(push_each(ws) if notify else poll(ws))
        await ws.wait_closed()  # then stop sending, so that the server can close
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await sender

    def push(commit: Commit) -> None:
        loop.call_soon_threadsafe(pushed.put_nowait, commit)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with await _raw_connect(f"ws://127.0.0.1:{port}") as ws:
            thread = start_writer(Writer(store), samples, push if notify else lambda _: None)
            delays = []
            for _ in range(samples):
                frame = json.loads(await ws.recv())
                sent = frame["events"][0]["event"]["sent"]
                delays.append((time.perf_counter() - sent) * 1000)
            await asyncio.to_thread(thread.join)
    return delays


# --------------------------------------------------------------------------- store reads


async def store_reads(clients: int, seconds: float) -> float:
    """Log reads per second of an idle server with ``clients`` subscribed clients."""
    store = InMemoryCommitStore()
    async with EventStreamServer(
        commit_store=store, poll_delay=POLL_DELAY, wake_on_append=False
    ) as server:
        streams = [EventStream(server.url) for _ in range(clients)]
        await asyncio.gather(*(s.start() for s in streams))
        await asyncio.sleep(0.3)
        before = server.store_reads
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (server.store_reads - before) / (time.perf_counter() - started)
        await asyncio.gather(*(s.close() for s in streams))
    return rate


# --------------------------------------------------------------------------- report


class Figures:
    """One list of per-run values per named figure."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def show(self, name: str, digits: int = 0, unit: str = "") -> str:
        values = self.values[name]
        low, high = min(values), max(values)
        return f"{self.median(name):,.{digits}f}{unit} ({low:,.{digits}f}-{high:,.{digits}f}{unit})"

    def ratio(self, name: str, other: str) -> str:
        return f"**{self.median(name) / self.median(other):.2f}x**"


async def interleaved(
    run: int, variants: Sequence[tuple[str, Callable[[], Awaitable[None]]]]
) -> None:
    """The variants one after the other, in reverse order on odd runs."""
    order = list(variants) if run % 2 == 0 else list(reversed(variants))
    for name, action in order:
        print(f"  run {run + 1}: {name}", file=sys.stderr, flush=True)
        gc.collect()
        await action()


async def measure(runs: int) -> tuple[Figures, int]:
    """Every figure, ``runs`` times; and the EventStreams' reconnections (expected: 0)."""
    figures = Figures()
    reconnects = 0
    frames = fan_out_frames(FAN_OUT_EVENTS)
    # Warm-up (imports, first connections, code paths); not reported.
    await ddbes_fan_out(10, 200)
    await raw_fan_out(10, frames[:200])
    await ddbes_server_fan_out(10, 200)

    for run in range(runs):

        async def fan_ddbes() -> None:
            nonlocal reconnects
            rate, lost = await ddbes_fan_out(FAN_OUT_CLIENTS, FAN_OUT_EVENTS)
            figures.add("fan ddbes", rate)
            reconnects += lost

        async def fan_raw() -> None:
            figures.add("fan raw", await raw_fan_out(FAN_OUT_CLIENTS, frames))

        async def fan_server() -> None:
            rate = await ddbes_server_fan_out(FAN_OUT_CLIENTS, FAN_OUT_EVENTS)
            figures.add("fan server", rate)

        def latency(side: str, notify: bool) -> Callable[[], Awaitable[None]]:
            async def action() -> None:
                probe = ddbes_latency if side == "ddbes" else raw_latency
                delays = await probe(notify, LATENCY_SAMPLES)
                name = f"{'notify' if notify else 'poll'} {side}"
                figures.add(f"{name} p50", percentile(delays, 0.5))
                figures.add(f"{name} p99", percentile(delays, 0.99))

            return action

        def reads(clients: int) -> Callable[[], Awaitable[None]]:
            async def action() -> None:
                figures.add(f"reads {clients}", await store_reads(clients, IDLE_SECONDS))

            return action

        await interleaved(
            run,
            [
                ("fan-out ddbes", fan_ddbes),
                ("fan-out raw", fan_raw),
                ("fan-out ddbes server, plain clients", fan_server),
            ],
        )
        await interleaved(
            run, [("poll ddbes", latency("ddbes", False)), ("poll raw", latency("raw", False))]
        )
        await interleaved(
            run, [("notify ddbes", latency("ddbes", True)), ("notify raw", latency("raw", True))]
        )
        await interleaved(run, [("reads 1", reads(1)), ("reads 100", reads(FAN_OUT_CLIENTS))])
    return figures, reconnects


def report(figures: Figures, runs: int, wall: float, reconnects: int) -> str:
    f = figures

    def met(name: str, limit: float) -> str:
        return "met" if f.median(name) <= limit else "**not met**"

    reads_ratio = f.median("reads 100") / f.median("reads 1")
    rows = [
        "| measure | ddbes: median (spread) | comparison: median (spread) | ddbes / comparison "
        "| target |",
        "|---|---|---|---|---|",
        f"| events/s delivered, {FAN_OUT_CLIENTS} clients x {FAN_OUT_EVENTS:,} events "
        f"| {f.show('fan ddbes')} | raw broadcast: {f.show('fan raw')} "
        f"| {f.ratio('fan ddbes', 'fan raw')} | |",
        f"| same, ddbes server to plain clients (no `EventStream`) | {f.show('fan server')} "
        f"| raw broadcast (row above) | {f.ratio('fan server', 'fan raw')} | |",
        f"| latency p50, `poll_delay=0.1` | {f.show('poll ddbes p50', 1, ' ms')} "
        f"| raw poller: {f.show('poll raw p50', 1, ' ms')} "
        f"| {f.ratio('poll ddbes p50', 'poll raw p50')} | |",
        f"| latency p99, `poll_delay=0.1` | {f.show('poll ddbes p99', 1, ' ms')} "
        f"| raw poller: {f.show('poll raw p99', 1, ' ms')} "
        f"| {f.ratio('poll ddbes p99', 'poll raw p99')} "
        f"| ≤ 150 ms: {met('poll ddbes p99', 150)} |",
        f"| latency p50, `server.notify()` | {f.show('notify ddbes p50', 1, ' ms')} "
        f"| raw push on commit: {f.show('notify raw p50', 1, ' ms')} "
        f"| {f.ratio('notify ddbes p50', 'notify raw p50')} | |",
        f"| latency p99, `server.notify()` | {f.show('notify ddbes p99', 1, ' ms')} "
        f"| raw push on commit: {f.show('notify raw p99', 1, ' ms')} "
        f"| {f.ratio('notify ddbes p99', 'notify raw p99')} "
        f"| ≤ 20 ms: {met('notify ddbes p99', 20)} |",
        f"| store reads/s, idle, {FAN_OUT_CLIENTS} clients | {f.show('reads 100', 1)} "
        f"| 1 client: {f.show('reads 1', 1)} | **{reads_ratio:.2f}x** "
        f"| 1.0x: {'met' if reads_ratio <= 1.1 else '**not met**'} |",
    ]
    fan = f.median("fan ddbes") / f.median("fan raw")
    notify = f.median("notify ddbes p99") / f.median("notify raw p99")
    lines = [
        "ddbes's `EventStreamServer` and `EventStream` against hand-written `websockets` "
        "servers and plain `websockets` clients that `json.loads` each frame. In-memory store; "
        "servers and clients in one process, one event loop, 127.0.0.1, no compression on "
        "either side. Fan-out: 100 clients each receive 2,000 single-event commits; ddbes's "
        "clock covers making the commits, `server.notify()`, the server's reads and every "
        "client's `StreamItem`s; raw `websockets.broadcast()`s the frames ddbes sends "
        "(the same bytes, pre-built from the same commits before its clock starts, 500 per "
        "loop step as ddbes reads them). Latency: 200 single-event commits 20 ms apart from a "
        "writer thread, time from just before the commit to the client holding the decoded "
        "event; the raw poller calls `store.read_log(after=...)` every 0.1 s, the raw pusher "
        "sends each commit's frame as the writer hands it over. A ratio is ddbes's median "
        "over the comparison's: above 1 is ddbes more events/s, or ddbes slower for latency.",
        "",
        "```shell",
        f"uv run --no-sync python -m bench.stream --runs {runs}",
        "```",
        f"Machine: {machine()}. Median of {runs} runs (spread = min-max); within a run the "
        "variants take turns, in reverse order every other run. "
        f"Wall time {wall:.0f} s.",
        "",
        *rows,
        "",
        "Every ddbes client goes through `EventStream` (it parses each frame into "
        "`StreamItem`s, with `committedAt` as a datetime), every raw client stops at "
        "`json.loads`; both run in the process that serves them, so the fan-out figures "
        "include the clients' own work. An idle ddbes server reads each log partition once "
        "per `poll_delay`, however many clients it has, and not at all without clients. "
        f"EventStream reconnections during the fan-out runs: {reconnects} (a slow-consumer "
        "close would show here).",
        "",
        why(
            f"Websocket fan-out to {FAN_OUT_CLIENTS} clients, with resume and filters",
            f"{f.median('fan ddbes'):,.0f} events/s",
            f"raw websockets.broadcast: {f.median('fan raw'):,.0f} events/s",
            f"{fan:.2f}x the rate",
        ),
        why(
            "Commit-to-client latency p99, with notify()",
            f"{f.median('notify ddbes p99'):.1f} ms",
            f"raw websockets push: {f.median('notify raw p99'):.1f} ms",
            f"{notify:.2f}x the latency",
        ),
    ]
    return "\n".join(lines)


async def main(runs: int, write: bool) -> None:
    sample = Writer(InMemoryCommitStore()).commit(n=0, sent=1.5)
    assert raw_frame(sample) == protocol.commit_frame(sample, [0]), "raw frames must match"
    started = time.perf_counter()
    figures, reconnects = await measure(runs)
    body = report(figures, runs, time.perf_counter() - started, reconnects)
    print(body)
    if write:
        write_section("Streaming", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs of every variant (default 3)")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    arguments = parser.parse_args()
    asyncio.run(main(max(1, arguments.runs), write=not arguments.no_write))
    sys.exit(0)

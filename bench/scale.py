"""Writes that scale out: writer processes committing at once, ddbes beside one PutItem.

Writer **processes** (and threads inside them) commit concurrently, each thread to its own
aggregate, through a loopback proxy that adds a delay to every request (the network), to
DynamoDB Local:

* ``put``: hand-written boto3 (a plain client with ddbes's client options), one conditional
  ``PutItem`` (``attribute_not_exists(p)``) per commit of an item shaped like a ddbes commit
  (one ~400-byte event): the JavaScript library's write, with no global log;
* ``ddbes``: an ``Aggregate`` bound to a ``DynamoDBCommitStore``; each thread creates its
  instance once, then calls ``instance.commit(...)`` in a loop.

The matrix: processes x threads per process x proxy delay x table (:data:`TABLES`, passed to
``DynamoDBCommitStore.create_table``), ``put`` and ``ddbes`` interleaved in every cell, a
fresh table per cell. A pool of worker processes (spawned once) serves every cell; the cell
starts when all are ready, warms up, then counts the commits that complete in a common window.
Requests, retries and capacity units come from botocore event hooks on each worker's client.

    scripts/private-net uv run --no-sync python -m bench.scale [--quick] [--no-write]

DynamoDB Local is started privately unless ``DDBES_BENCH_DYNAMODB_ENDPOINT`` (or
``DDBES_TEST_DYNAMODB_ENDPOINT``) names a running one. ``DDBES_BENCH_CODE`` describes the ddbes
code measured, in the report, when the packages come from elsewhere (``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.config import Config

import ddbes
from bench._harness import ROOT, dynamodb_endpoint, machine, why, write_section
from bench.latency_proxy import start_proxy
from ddbes.timeouts import DEFAULT_TIMEOUTS
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import _user_agent, client_options, make_client
from ddbes_dynamodb._items import commit_pk, pad

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")

TABLES: dict[str, dict[str, Any]] = {"default": {}, "recommended": {"log_partitions": 4}}
"""The ddbes tables compared: keyword arguments of ``DynamoDBCommitStore.create_table``."""

PROCESSES = (1, 2, 4, 8, 16)
THREADS = (1, 4)
DELAYS = (0.0, 5.0)
HEADLINES = (  # (processes, threads, delay ms, table): these get --headline-runs rounds
    (8, 1, 5.0, "default"),
    (1, 1, 5.0, "default"),
    (16, 1, 5.0, "default"),
    (16, 1, 5.0, "recommended"),
)
SYSTEMS = ("put", "ddbes")
LEAN = "lean put"
"""Also run in the headline cells: the plain put through the client ddbes builds, which shows
how much of the difference is the client rather than the log."""
FLOOR = "indexed"
"""Also run in the headline cells: ddbes's commit write alone (the commit item with ``u`` on a
ddbes table, so it lands in the to-do index) through ddbes's client, and no sequencer: what
the log's writes cost."""
DDBES_CLIENT = frozenset({"ddbes", LEAN, FLOOR})
"""The systems that write through the client ddbes builds; ``put`` writes through boto3's."""
TEXT = "lorem ipsum dolor sit amet " * 15  # ~400 characters: one ~400-byte event
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
STALL = 180.0  # seconds a worker may stay silent before the run gives up
LOADS: list[float] = []  # the 1-minute load average after each cell, for the report


class Note(ddbes.Aggregate):
    """The ddbes writer's aggregate: one per writer thread."""

    key_schema = ("writer",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: ddbes.Commit) -> Any:
        return (state or 0) + 1


# -- capacity units by DynamoDB's rules ----------------------------------------------------


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_bytes({kind[0]: member}) for member in data)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(member) for member in data)
    if kind == "M":
        return 3 + _item_bytes(data) + len(data)
    return len(json.dumps(data))


def _item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _update_bytes(params: dict[str, Any]) -> int:
    """UpdateItem: the key and the values it writes (the final item's size is unknown)."""
    values = params.get("ExpressionAttributeValues", {})
    return _item_bytes(params.get("Key", {})) + sum(_value_bytes(v) for v in values.values())


def aws_write_units(operation: str, params: dict[str, Any]) -> float:
    """The WCU DynamoDB charges for a write request, from its size: 1 per KB per item, 2 per KB
    per action of a transaction (a ``ConditionCheck`` counted as 2), failed writes included."""
    if operation == "PutItem":
        return _units(_item_bytes(params.get("Item", {})))
    if operation == "UpdateItem":
        return _units(_update_bytes(params))
    if operation == "DeleteItem":
        return 1
    if operation == "BatchWriteItem":
        total = 0
        for requests in params.get("RequestItems", {}).values():
            for request in requests:
                put = request.get("PutRequest")
                total += _units(_item_bytes(put["Item"])) if put else 1
        return total
    if operation == "TransactWriteItems":
        total = 0
        for action in params.get("TransactItems", []):
            if "Put" in action:
                total += 2 * _units(_item_bytes(action["Put"]["Item"]))
            elif "Update" in action:
                total += 2 * _units(_update_bytes(action["Update"]))
            else:
                total += 2
        return total
    return 0


# -- the worker side ------------------------------------------------------------------------


class Meter:
    """Requests, retries and capacity units of one worker's client, counted from ``start``
    until :meth:`stop`; installed with botocore event hooks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset(math.inf)

    def reset(self, start: float) -> None:
        with self._lock:
            self.start = start
            self.calls: Counter[str] = Counter()
            self.errors: Counter[str] = Counter()
            self.retries = 0
            self.write_calls = 0
            self.reported_writes = 0
            self.local_wcu = 0.0
            self.aws_wcu = 0.0

    def stop(self) -> None:
        with self._lock:
            self.start = math.inf

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._params)
        events.register("after-call.dynamodb.*", self._after_call)
        events.register("after-call-error.dynamodb.*", self._after_error)

    @staticmethod
    def _params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
            context["bench_aws_wcu"] = aws_write_units(model.name, params)

    def _after_call(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: Any, **_: Any
    ) -> None:
        if time.time() < self.start:
            return
        name = model.name
        with self._lock:
            self.calls[name] += 1
            self.retries += parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            if http_response.status_code >= 300:
                code = parsed.get("Error", {}).get("Code", str(http_response.status_code))
                self.errors[f"{name}: {code}"] += 1
                self.retries += 1  # a failed call: a lost race, a conflict, throttling
            if name in WRITES:
                self.write_calls += 1
                self.aws_wcu += (context or {}).get("bench_aws_wcu", 0)
                consumed = parsed.get("ConsumedCapacity")
                if consumed is not None:
                    self.reported_writes += 1
                    if isinstance(consumed, dict):
                        consumed = [consumed]
                    self.local_wcu += sum(c.get("CapacityUnits", 0.0) for c in consumed)

    def _after_error(self, exception: Exception, event_name: str, **_: Any) -> None:
        # botocore passes no operation model with this event: the name ends the event's
        if time.time() < self.start:
            return
        name = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.calls[name] += 1
            self.errors[f"{name}: {type(exception).__name__}"] += 1
            self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "error_codes": dict(self.errors),
                "retries": self.retries,
                "write_calls": self.write_calls,
                "reported_writes": self.reported_writes,
                "local_wcu": self.local_wcu,
                "aws_wcu": self.aws_wcu,
            }


@dataclass(frozen=True)
class Spec:
    """One worker's part of a cell."""

    system: str
    table: str
    endpoint: str
    threads: int
    warmup: float
    duration: float
    prefix: str


@dataclass
class Tally:
    """One writer thread's commits."""

    completed: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    error: str | None = None


def _put_writer(client: Any, table: str, key: str, *, indexed: bool) -> Callable[[], None]:
    version = 0
    todo = {"u": {"S": "0"}} if indexed else {}
    pk = {"S": commit_pk("Note", key)}
    events = {"S": json.dumps([{"type": "Noted", "text": TEXT}], separators=(",", ":"))}

    def commit() -> None:
        nonlocal version
        version += 1
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        client.put_item(
            TableName=table,
            Item={
                "p": pk,
                "s": {"S": pad(version)},
                "i": {"S": uuid.uuid4().hex},
                "t": {"S": now},
                "e": events,
                **todo,
            },
            ConditionExpression="attribute_not_exists(p)",
        )

    return commit


def _ddbes_writer(store: DynamoDBCommitStore, key: str) -> Callable[[], None]:
    instance = Note.using(commit_store=store)(key)
    event = {"type": "Noted", "text": TEXT}

    def commit() -> None:
        instance.commit(event)

    return commit


def _write(commit: Callable[[], None], start: float, window: float, end: float) -> Tally:
    tally = Tally()
    time.sleep(max(0.0, start - time.time()))
    try:
        while (began := time.time()) < end:
            commit()
            done = time.time()
            tally.completed.append(done)
            if window <= done < end:
                tally.latencies.append((done - began) * 1000)
    except Exception as exc:  # reported, never hidden
        tally.error = f"{type(exc).__name__}: {exc}"
    return tally


def _cell(conn: Connection, spec: Spec, client: Any, meter: Meter) -> None:
    store: DynamoDBCommitStore | None = None
    if spec.system == "ddbes":
        store = DynamoDBCommitStore(spec.table, client=client)
        assert store.log_partitions >= 1  # reads the table's metadata before the clock starts
        writers = [_ddbes_writer(store, f"{spec.prefix}t{n}") for n in range(spec.threads)]
    else:
        writers = [
            _put_writer(client, spec.table, f"{spec.prefix}t{n}", indexed=spec.system == FLOOR)
            for n in range(spec.threads)
        ]
    conn.send(("ready",))
    message = conn.recv()
    if message is None:  # the pool is closing: the cell was given up
        raise SystemExit(0)
    start: float = message[1]
    time.sleep(max(0.0, start - time.time()))
    cpu_began = time.process_time()  # every thread of this process: writers and sequencer
    window, end = start + spec.warmup, start + spec.warmup + spec.duration
    meter.reset(window)
    tallies: list[Tally] = [Tally() for _ in writers]

    def run(index: int) -> None:
        tallies[index] = _write(writers[index], start, window, end)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    completed = [t for tally in tallies for t in tally.completed]
    cpu = time.process_time() - cpu_began
    conn.send(("stopped", sum(1 for t in completed if t < end)))
    flush_ms = None
    flush = getattr(store, "flush_log", None)
    if callable(flush):
        began = time.perf_counter()
        flush(timeout=120)
        flush_ms = (time.perf_counter() - began) * 1000
    meter.stop()
    close = getattr(store, "close", None)
    if callable(close):
        close()
    conn.send(
        (
            "done",
            {
                "in_window": sum(1 for t in completed if window <= t < end),
                "counted": sum(1 for t in completed if t >= window),
                "acked": len(completed),
                "latencies": [ms for tally in tallies for ms in tally.latencies],
                "errors": [tally.error for tally in tallies if tally.error],
                "flush_ms": flush_ms,
                "cpu_s": cpu,
                "by_end": sum(1 for t in completed if t < end),
                **meter.snapshot(),
            },
        )
    )


def _boto3_client(endpoint: str) -> Any:
    """The hand-written writers' client: plain boto3 with ddbes's client options (one attempt
    per call, validation off, the same timeouts, pool and fixed User-Agent), without what
    ddbes's own clients add (item requests and replies written and read without botocore's
    walk over the service model)."""
    options = client_options(DEFAULT_TIMEOUTS, user_agent=_user_agent())
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=Config(**options)
    )


def _worker(conn: Connection) -> None:
    """A pool process: runs its part of each cell it is sent, until it is sent ``None``."""
    clients: dict[tuple[str, bool], Any] = {}
    meter = Meter()
    conn.send(("hello", os.getpid()))
    while (spec := conn.recv()) is not None:
        lean = spec.system in DDBES_CLIENT
        client = clients.get((spec.endpoint, lean))
        if client is None:
            client = (
                make_client(
                    "dynamodb", table="bench", endpoint_url=spec.endpoint, region_name="us-east-1"
                )
                if lean
                else _boto3_client(spec.endpoint)
            )
            meter.install(client)
            clients[spec.endpoint, lean] = client
        try:
            _cell(conn, spec, client, meter)
        except Exception as exc:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))


# -- the main side --------------------------------------------------------------------------


@dataclass
class Run:
    """One system in one cell, one round."""

    rate: float
    p50: float
    p99: float
    retries: float
    requests: float
    local_wcu: float | None
    aws_wcu: float
    backlog: int | None = None
    log_ms: float | None = None
    flush_ms: float | None = None
    log_short: int | None = None
    errors: list[str] = field(default_factory=list)
    error_codes: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    reported: tuple[int, int] = (0, 0)
    writer_cpu_ms: float | None = None
    server_cpu_ms: float | None = None


Cell = tuple[int, int, float, str]


class Pool:
    """Worker processes spawned once and reused by every cell."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes: list[Any] = []
        for _ in range(size):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child,), daemon=True)
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)
        for conn in self.conns:
            self._expect(conn, "hello")

    @staticmethod
    def _expect(conn: Connection, kind: str) -> Any:
        if not conn.poll(STALL):
            raise RuntimeError(f"a worker sent no {kind!r} within {STALL:.0f} s")
        message = conn.recv()
        if message[0] == "failed":
            raise RuntimeError(f"a worker failed: {message[1]}")
        if message[0] != kind:
            raise RuntimeError(f"a worker sent {message[0]!r}, expected {kind!r}")
        return message[1] if len(message) > 1 else None

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.conns:
            conn.close()

    def run(
        self,
        specs: list[Spec],
        after_start: Callable[[float], Any],
        after_stop: Callable[[Any, int, float], Any],
    ) -> tuple[list[dict[str, Any]], Any]:
        """Run one cell: ``specs[i]`` on worker ``i``. ``after_start(end)`` runs in this process
        at the end of the timed window (its result goes to ``after_stop``, with the number of
        commits acknowledged by then and ``end``), while the workers stop and flush."""
        conns = self.conns[: len(specs)]
        for conn, spec in zip(conns, specs, strict=True):
            conn.send(spec)
        for conn in conns:
            self._expect(conn, "ready")
        start = time.time() + 0.05
        for conn in conns:
            conn.send(("go", start))
        spec = specs[0]
        end = start + spec.warmup + spec.duration
        time.sleep(max(0.0, end - time.time()))
        observed = after_start(end)
        acked = sum(self._expect(conn, "stopped") for conn in conns)
        extra = after_stop(observed, acked, end)
        return [self._expect(conn, "done") for conn in conns], extra


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Bench:
    """The tables, proxies and pool of one run."""

    def __init__(
        self,
        endpoint: str,
        pool: Pool,
        proxies: dict[float, str],
        args: Any,
        server_pid: int | None = None,
    ) -> None:
        self.client = make_client(
            "dynamodb", table="bench", endpoint_url=endpoint, region_name="us-east-1"
        )
        self.server_pid = server_pid
        self.pool = pool
        self.proxies = proxies
        self.warmup: float = args.warmup
        self.duration: float = args.duration

    def _server_cpu(self) -> float | None:
        """CPU seconds DynamoDB Local has used so far (``None`` when it was not started here)."""
        if self.server_pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _plain_table(self) -> str:
        name = f"put-{uuid.uuid4().hex[:10]}"
        self.client.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "p", "KeyType": "HASH"},
                {"AttributeName": "s", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "s", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        while self.client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            time.sleep(0.05)
        return name

    def _heads(self, store: DynamoDBCommitStore) -> int:
        return sum(store.head_position(p) for p in range(store.log_partitions))

    def run(self, system: str, cell: Cell) -> Run:
        processes, threads, delay, table_kind = cell
        store: DynamoDBCommitStore | None = None
        if system == "ddbes":
            store = DynamoDBCommitStore(f"ddbes-{uuid.uuid4().hex[:10]}", client=self.client)
            store.create_table(**TABLES[table_kind])
            table = store.table_name
        elif system == FLOOR:  # a ddbes table, written without a store: nothing sequences
            floor = DynamoDBCommitStore(f"floor-{uuid.uuid4().hex[:10]}", client=self.client)
            floor.create_table(**TABLES[table_kind])
            table = floor.table_name
        else:
            table = self._plain_table()
        specs = [
            Spec(system, table, self.proxies[delay], threads, self.warmup, self.duration, f"p{n}")
            for n in range(processes)
        ]

        cpu: list[float | None] = [self._server_cpu()]

        def at_end(end: float) -> int | None:
            cpu.append(self._server_cpu())
            return None if store is None else self._heads(store)

        def after_stop(
            heads: int | None, acked: int, end: float
        ) -> tuple[int | None, float | None]:
            if store is None or heads is None:
                return None, None
            backlog = max(0, acked - heads)
            if backlog == 0:
                return 0, 0.0
            deadline = time.time() + STALL
            while self._heads(store) < acked and time.time() < deadline:
                time.sleep(0.005)
            return backlog, (time.time() - end) * 1000

        try:
            reports, (backlog, log_ms) = self.pool.run(specs, at_end, after_stop)
            log_short = None
            if store is not None:
                log_short = sum(r["acked"] for r in reports) - self._heads(store)
        finally:
            if store is not None:
                store.delete_table(wait=False)
            elif system == FLOOR:
                DynamoDBCommitStore(table, client=self.client).delete_table(wait=False)
            else:
                self.client.delete_table(TableName=table)
        counted = sum(r["counted"] for r in reports) or 1
        by_end = sum(r["by_end"] for r in reports) or 1
        began_cpu, ended_cpu = cpu[0], cpu[-1]
        latencies = [ms for r in reports for ms in r["latencies"]]
        calls: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        for r in reports:
            calls.update(r["calls"])
            codes.update(r["error_codes"])
        write_calls = sum(r["write_calls"] for r in reports)
        reported = sum(r["reported_writes"] for r in reports)
        flushes = [r["flush_ms"] for r in reports if r["flush_ms"] is not None]
        return Run(
            rate=sum(r["in_window"] for r in reports) / self.duration,
            p50=_percentile(latencies, 0.5),
            p99=_percentile(latencies, 0.99),
            retries=sum(r["retries"] for r in reports) / counted,
            requests=sum(calls.values()) / counted,
            local_wcu=sum(r["local_wcu"] for r in reports) / counted if reported else None,
            aws_wcu=sum(r["aws_wcu"] for r in reports) / counted,
            backlog=backlog,
            log_ms=log_ms,
            flush_ms=max(flushes) if flushes else None,
            writer_cpu_ms=sum(r["cpu_s"] for r in reports) * 1000 / by_end,
            server_cpu_ms=(
                None
                if began_cpu is None or ended_cpu is None
                else (ended_cpu - began_cpu) * 1000 / by_end
            ),
            log_short=log_short,
            errors=[e for r in reports for e in r["errors"]],
            error_codes=codes,
            calls=calls,
            reported=(reported, write_calls),
        )


# -- the report -----------------------------------------------------------------------------


def _median(runs: list[Run], value: Callable[[Run], float | None]) -> float | None:
    values = [v for v in map(value, runs) if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else None


def _rate(runs: list[Run]) -> str:
    rates = [run.rate for run in runs]
    text = f"{statistics.median(rates):,.0f}"
    if len(rates) > 1:
        text += f" ({min(rates):,.0f}-{max(rates):,.0f})"
    return text


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _log(runs: list[Run]) -> str:
    backlog = _median(runs, lambda r: r.backlog)
    if backlog is None:
        return "n/a"
    log_ms = _median(runs, lambda r: r.log_ms)
    if not backlog:
        return "0"
    return f"{backlog:,.0f}; complete after {_num(log_ms, 0)} ms"


def _cell_name(cell: Cell) -> str:
    processes, threads, delay, table = cell
    return f"{processes} proc x {threads} thr, {delay:g} ms, {table}"


def _ratio(results: dict[Cell, dict[str, list[Run]]], cell: Cell) -> float | None:
    runs = results.get(cell)
    if not runs or not runs["put"] or not runs["ddbes"]:
        return None
    put = statistics.median(r.rate for r in runs["put"])
    mine = statistics.median(r.rate for r in runs["ddbes"])
    return mine / put if put else None


def _checks(results: dict[Cell, dict[str, list[Run]]], args: Any) -> list[str]:
    lines = []

    def at_least(label: str, cell: Cell, target: float) -> None:
        ratio = _ratio(results, cell)
        if ratio is None:
            lines.append(f"- {label}: not measured in this run")
            return
        verdict = "PASS" if ratio >= target else "MISS"
        runs = results[cell]
        lines.append(
            f"- **{verdict}** {label}: ddbes {_rate(runs['ddbes'])} vs put {_rate(runs['put'])} "
            f"commits/s = {ratio:.2f}x (target >= {target}x)"
        )

    at_least("8 processes x 1 thread, 5 ms, default table", (8, 1, 5.0, "default"), 0.8)
    at_least("lone writer (1 process x 1 thread), 5 ms, default table", (1, 1, 5.0, "default"), 0.5)
    processes = sorted(args.processes)
    for threads in args.threads:
        for delay in args.delays:
            for table in args.tables:
                steps = []
                falls = []
                for fewer, more in itertools.pairwise(processes):
                    a = results.get((fewer, threads, delay, table), {}).get("ddbes")
                    b = results.get((more, threads, delay, table), {}).get("ddbes")
                    if not a or not b:
                        continue
                    step = statistics.median(r.rate for r in b) / statistics.median(
                        r.rate for r in a
                    )
                    steps.append(f"{fewer}->{more}: {step:.2f}x")
                    if step < 1.0:
                        falls.append(f"{fewer}->{more}")
                if not steps:
                    continue
                verdict = "PASS" if not falls else "MISS"
                lines.append(
                    f"- **{verdict}** ddbes never falls as processes grow ({threads} thread(s), "
                    f"{delay:g} ms, {table}): {', '.join(steps)}"
                    + (f"; falls at {', '.join(falls)}" if falls else "")
                )
    return lines


def _pair(put: list[Run], mine: list[Run], value: Callable[[Run], float | None], n: int) -> str:
    return f"{_num(_median(put, value), n)} / {_num(_median(mine, value), n)}"


def _table(results: dict[Cell, dict[str, list[Run]]], delay: float, table: str, args: Any) -> str:
    rows = [
        "| processes x threads | put commits/s | ddbes commits/s | ddbes/put "
        "| p50 / p99 ms, put | p50 / p99 ms, ddbes | retries per commit, put / ddbes "
        "| requests per commit, put / ddbes | WCU per commit (Local), put / ddbes "
        "| WCU per commit (AWS rules), put / ddbes | ddbes log backlog at the end |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for processes in args.processes:
        for threads in args.threads:
            runs = results.get((processes, threads, delay, table))
            if not runs:
                continue
            put, mine = runs["put"], runs["ddbes"]
            ratio = _ratio(results, (processes, threads, delay, table))
            cells = [
                f"{processes} x {threads}",
                _rate(put),
                _rate(mine),
                f"**{_num(ratio)}x**",
                f"{_num(_median(put, lambda r: r.p50), 1)} / "
                f"{_num(_median(put, lambda r: r.p99), 1)}",
                f"{_num(_median(mine, lambda r: r.p50), 1)} / "
                f"{_num(_median(mine, lambda r: r.p99), 1)}",
                _pair(put, mine, lambda r: r.retries, 2),
                _pair(put, mine, lambda r: r.requests, 2),
                _pair(put, mine, lambda r: r.local_wcu, 2),
                _pair(put, mine, lambda r: r.aws_wcu, 2),
                _log(mine),
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _code_version() -> str:
    """Which ddbes the run measured: the commit, and whether its packages had local edits."""
    import ddbes_dynamodb

    given = os.environ.get("DDBES_BENCH_CODE")
    if given:
        return given
    source = Path(ddbes_dynamodb.__file__).resolve()
    if ROOT not in source.parents:
        return f"ddbes packages imported from {source.parent.parent.parent}"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "packages"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "ddbes from this working tree"
    return f"ddbes at commit {head}" + (" plus uncommitted edits in packages/" if dirty else "")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _parse(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])

    def numbers(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
        return lambda text: [kind(part) for part in text.split(",") if part]

    parser.add_argument("--processes", type=numbers(int), default=list(PROCESSES))
    parser.add_argument("--threads", type=numbers(int), default=list(THREADS))
    parser.add_argument("--delays", type=numbers(float), default=list(DELAYS), help="ms")
    parser.add_argument("--tables", type=numbers(str), default=list(TABLES))
    parser.add_argument("--duration", type=float, default=2.0, help="timed seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before the timing")
    parser.add_argument("--runs", type=int, default=1, help="rounds of the whole matrix")
    parser.add_argument("--headline-runs", type=int, default=3, help="rounds of the headlines")
    parser.add_argument("--quick", action="store_true", help="a tiny matrix, nothing written")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.processes, args.threads, args.delays = [1, 2], [1, 2], [5.0]
        args.duration, args.warmup, args.headline_runs, args.no_write = 0.5, 0.2, 1, True
    unknown = set(args.tables) - set(TABLES)
    if unknown:
        parser.error(f"unknown tables {sorted(unknown)}; known: {', '.join(TABLES)}")
    return args


def _command(argv: list[str]) -> str:
    return " ".join(["scripts/private-net uv run --no-sync python -m bench.scale", *argv]).strip()


def _cells(args: Any) -> Iterator[Cell]:
    for delay in args.delays:
        for table in args.tables:
            for processes in args.processes:
                for threads in args.threads:
                    yield (processes, threads, delay, table)


def _measure(bench: Bench, results: dict[Cell, dict[str, list[Run]]], cell: Cell, n: int) -> None:
    runs = results.setdefault(cell, {system: [] for system in SYSTEMS})
    systems = (*SYSTEMS, LEAN, FLOOR) if cell in HEADLINES else SYSTEMS
    order = systems if n % 2 == 0 else tuple(reversed(systems))
    for system in order:
        runs.setdefault(system, [])
        runs[system].append(bench.run(system, cell))
    LOADS.append(os.getloadavg()[0])
    put, mine = runs["put"][-1], runs["ddbes"][-1]
    extra = "" if mine.backlog in (None, 0) else f", backlog {mine.backlog}"
    errors = mine.errors + put.errors
    print(
        f"  {_cell_name(cell)}: put {put.rate:,.0f}/s, ddbes {mine.rate:,.0f}/s "
        f"({mine.rate / put.rate if put.rate else math.nan:.2f}x), ddbes p99 {mine.p99:.1f} ms, "
        f"{mine.requests:.2f} req and {mine.retries:.2f} retries per commit{extra}"
        + (f"; ERRORS: {errors[:3]}" if errors else ""),
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    began = time.monotonic()
    load_before = _load()
    code = _code_version()
    endpoint, local = dynamodb_endpoint()
    stops: list[Callable[[], None]] = []
    pool: Pool | None = None
    results: dict[Cell, dict[str, list[Run]]] = {}
    try:
        proxies = {}
        for delay in args.delays:
            url, stop = start_proxy(endpoint, delay)
            stops.append(stop)
            proxies[delay] = url
        print(f"starting {max(args.processes)} worker processes ...", flush=True)
        pool = Pool(max(args.processes))
        process = getattr(local, "process", None)
        bench = Bench(endpoint, pool, proxies, args, getattr(process, "pid", None))
        print("warm-up (DynamoDB Local's JIT), not reported ...", flush=True)
        warm = (min(4, max(args.processes)), 1, args.delays[-1], args.tables[0])
        _measure(bench, {}, warm, 0)
        cells = list(_cells(args))
        for round_ in range(args.runs):
            print(f"matrix, round {round_ + 1} of {args.runs} ...", flush=True)
            for n, cell in enumerate(cells):
                _measure(bench, results, cell, n + round_)
        headlines = [cell for cell in HEADLINES if cell in results]
        for round_ in range(args.runs, args.headline_runs):
            print(f"headline cells, round {round_ + 1} of {args.headline_runs} ...", flush=True)
            for n, cell in enumerate(headlines):
                _measure(bench, results, cell, n + round_)
    finally:
        if pool is not None:
            pool.close()
        for stop in stops:
            stop()
        if local is not None:
            local.kill()
    minutes = (time.monotonic() - began) / 60
    body = _report(results, args, argv=argv, code=code, load_before=load_before, minutes=minutes)
    print(body)
    if not args.no_write:
        write_section("Writes that scale out", body)


def _cpu(runs: list[Run]) -> str:
    """CPU milliseconds per commit: the writer processes (with their sequencers) / DynamoDB
    Local."""
    writers = _median(runs, lambda r: r.writer_cpu_ms)
    server = _median(runs, lambda r: r.server_cpu_ms)
    return f"{_num(writers, 2)} / {_num(server, 2)}"


def _floor(results: dict[Cell, dict[str, list[Run]]]) -> str:
    """Where the gap to a plain put goes, in the headline cells: the client, the commit write
    alone (its to-do index entry included), then the log's writes on top; and what each costs
    in CPU."""
    rows = []
    for cell in HEADLINES:
        runs = results.get(cell, {})
        if not all(runs.get(system) for system in ("put", LEAN, FLOOR, "ddbes")):
            continue
        put = statistics.median(r.rate for r in runs["put"])

        def versus(system: str, runs: dict[str, list[Run]] = runs, put: float = put) -> str:
            rate = statistics.median(r.rate for r in runs[system])
            return f"{_rate(runs[system])} (**{rate / put:.2f}x**)"

        rows.append(
            f"| {_cell_name(cell)} | {_rate(runs['put'])} | {versus(LEAN)} | {versus(FLOOR)} "
            f"| {versus('ddbes')} | {_cpu(runs['put'])} | {_cpu(runs[LEAN])} "
            f"| {_cpu(runs[FLOOR])} | {_cpu(runs['ddbes'])} |"
        )
    if not rows:
        return ""
    return (
        "**Where the gap goes** (headline cells, same rounds): **lean put** is the plain put "
        "through the client ddbes builds (its own request writer, reply reader, signer, HTTP "
        "transport and direct calls) instead of boto3's: what the client alone changes. "
        "**indexed** is ddbes's commit write alone, written by hand through that client: the "
        "same item with its log partition `u` on a ddbes table, so it lands in the to-do "
        "index, and no sequencer (nothing reaches the log). From lean put to indexed is what "
        "the index entry costs; from indexed to ddbes, ddbes's code and the sequencer's writes "
        "(the log page with the head item, the commit items put again without `u`, the index "
        "removals). "
        "CPU is milliseconds per commit acknowledged in the run (warm-up included): the "
        "writer processes' own CPU (ddbes's sequencer thread runs in them) / DynamoDB Local's "
        "(n/a when it was not started by the benchmark). Everything shares 2 cores, so when "
        "they are saturated the rates follow the CPU per commit.\n\n"
        "| cell | put commits/s | lean put (vs put) | indexed (vs put) | ddbes (vs put) "
        "| CPU ms/commit, put: writers / DynamoDB Local | lean put | indexed | ddbes |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _report(
    results: dict[Cell, dict[str, list[Run]]],
    args: Any,
    *,
    argv: list[str],
    code: str,
    load_before: str,
    minutes: float,
) -> str:
    every = [run for runs in results.values() for system in SYSTEMS for run in runs[system]]
    reported = sum(run.reported[0] for run in every)
    write_calls = sum(run.reported[1] for run in every)
    if reported == 0:
        consumed = (
            "DynamoDB Local returned **no** `ConsumedCapacity`: the Local column is n/a; the "
            "AWS-rules column is computed from the request sizes."
        )
    else:
        consumed = (
            f"DynamoDB Local returned `ConsumedCapacity` on {reported:,} of {write_calls:,} "
            "write calls (not on the failed ones: refused conditional writes, cancelled "
            "transactions). Its `PutItem` figures follow AWS's rules (1 WCU per KB), but for a "
            "`TransactWriteItems` it reports 2 WCU per KB of a single item per table, however "
            "many actions the transaction holds (1, 3 or 12 puts of 400 bytes: 2.0 each time), "
            "where AWS charges 2 per KB for every action: the Local column undercounts "
            "transactions. The **AWS rules** column recomputes every write request from its "
            "size: 1 WCU per KB per item, 2 per KB per action of a transaction, a "
            "`ConditionCheck` as 2, failed writes included."
        )
    codes: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for cell_runs in results.values():
        for run in cell_runs["ddbes"]:
            codes.update(run.error_codes)
            calls.update(run.calls)
    errors = [error for run in every for error in run.errors]
    short = [
        (cell, run.log_short)
        for cell, cell_runs in results.items()
        for run in cell_runs["ddbes"]
        if run.log_short
    ]
    short_note = (
        f"LOG SHORT after the runs (cell, commits missing): {short}"
        if short
        else "After every ddbes run (and its flush) the log held every acknowledged commit."
    )
    flushes = [run.flush_ms for runs in results.values() for run in runs["ddbes"] if run.flush_ms]
    backlogs = [run.backlog for runs in results.values() for run in runs["ddbes"] if run.backlog]
    if flushes:
        flush_note = (
            f"The store has `flush_log`: called after each ddbes run, outside the timing (its "
            f"requests and WCU are counted), longest {max(flushes):,.0f} ms."
        )
    else:
        flush_note = "The store has no `flush_log`: the log is written inside each commit."
    if backlogs:
        backlog_note = (
            f"{len(backlogs)} ddbes runs ended with acknowledged commits not yet in the log "
            f"(up to {max(backlogs):,}); the last column says how long the log took to catch up."
        )
    else:
        backlog_note = "Every ddbes run ended with every acknowledged commit already in the log."
    sections = []
    for delay in args.delays:
        for table in args.tables:
            kwargs = ", ".join(f"{k}={v!r}" for k, v in TABLES[table].items()) or "defaults"
            sections.append(
                f"**{delay:g} ms per request, ddbes table `{table}`** "
                f"(`create_table({kwargs})`):\n\n{_table(results, delay, table, args)}"
            )
    headline_cell = (8, 1, 5.0, "default")
    headline = ""
    ratio = _ratio(results, headline_cell)
    if ratio is not None:
        runs = results[headline_cell]
        put = statistics.median(r.rate for r in runs["put"])
        mine = statistics.median(r.rate for r in runs["ddbes"])
        headline = why(
            "Commits from 8 writer processes, 5 ms network (DynamoDB Local)",
            f"{mine:,.0f} commits/s",
            f"one conditional PutItem per commit (no global log): {put:,.0f} commits/s",
            f"{ratio:.2f}x the rate",
        )
    rounds = (
        f"the matrix once ({args.runs} round)"
        if args.runs == 1
        else f"the matrix {args.runs} times"
    )
    headline_names = "; ".join(_cell_name(cell) for cell in HEADLINES if cell in results)
    ops = ", ".join(f"{name} {count:,}" for name, count in calls.most_common())
    code_counts = ", ".join(f"{name} {count:,}" for name, count in codes.most_common()) or "none"
    loads = (
        f" (the 1-minute load average after each cell: {min(LOADS):.1f}-{max(LOADS):.1f}, "
        f"median {statistics.median(LOADS):.1f})"
        if LOADS
        else ""
    )
    return f"""
Machine: {machine()};
load average {load_before} (1, 5, 15 min) at the start, {_load()} at the end{loads}.
DynamoDB Local 3.3, the writer processes and the proxies all share the 2 cores: compare the
ratios, not the absolute rates. Measured: {code}.
One run of `{_command(argv)}`, which took {minutes:.1f} min.

Writer **processes** (each with its own clients: plain boto3 with ddbes's client options for
the hand-written writes, the client ddbes builds for ddbes) commit at
once, every thread to its own aggregate, through a loopback proxy (`bench/latency_proxy.py`, its
own process) that delays each request by the given time, standing in for the network.
**put** is one conditional `PutItem` per commit of an item shaped like a ddbes commit (one
~400-byte event): the JavaScript library's write, with no global log. **ddbes** is
`instance.commit(event)` on an aggregate bound to `DynamoDBCommitStore`. A pool of worker
processes is spawned once; each run starts when all are ready, warms up {args.warmup:g} s, then
counts the commits that complete in the next {args.duration:g} s (put and ddbes interleaved in
every cell, a fresh table each). Rounds: {rounds}; the headline cells get
{max(args.runs, args.headline_runs)} round(s), median (min-max): {headline_names}.
Requests, retries (failed calls: lost races, cancelled transactions, conflicts; plus botocore
retries) and capacity units are counted with botocore event hooks, per commit acknowledged from
the start of the timed window on. The log backlog is the acknowledged commits minus the sum of
the log partitions' heads at the end of the window.

{consumed}
{flush_note} {backlog_note}

{chr(10).join(section + chr(10) for section in sections)}
{_floor(results)}
ddbes requests over every run: {ops}. Failed ddbes calls: {code_counts}.
{"Writer errors: " + "; ".join(errors[:5]) if errors else "No writer raised an error."}
{short_note}

Checks:

{chr(10).join(_checks(results, args))}

{headline}
"""


if __name__ == "__main__":
    main()

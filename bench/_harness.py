"""Shared benchmark plumbing: timed rounds, medians and spreads, and BENCHMARKS.md sections.

Every benchmark compares variants side by side in one run, interleaving their rounds so that
noise from this shared machine hits both alike; it reports the median and spread of each
variant and the ratio of the medians.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"


@dataclass
class Rate:
    """Operations per second over several rounds."""

    name: str
    rates: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> str:
        return f"{min(self.rates):,.0f}-{max(self.rates):,.0f}"


def measure(action: Callable[[int], None], operations: int) -> float:
    """Operations per second of ``action(operations)``."""
    start = time.perf_counter()
    action(operations)
    return operations / (time.perf_counter() - start)


def compare(
    variants: Sequence[tuple[str, Callable[[int], None]]], operations: int, rounds: int = 5
) -> list[Rate]:
    """Interleaved rounds of every variant, after one warm-up round each."""
    for _, action in variants:
        action(max(1, operations // 5))
    results = [Rate(name, []) for name, _ in variants]
    for _ in range(rounds):
        for result, (_, action) in zip(results, variants, strict=True):
            result.rates.append(measure(action, operations))
    return results


def compare_timed(
    variants: Sequence[tuple[str, Callable[[int], None]]],
    rounds: int,
    seconds: float,
    probe: int = 1000,
) -> list[Rate]:
    """Interleaved rounds of every variant, each sized from a warm-up (and a probe of
    ``probe`` operations) to take about ``seconds``."""
    sizes = []
    for _, action in variants:
        action(200)
        sizes.append(max(200, int(measure(action, probe) * seconds)))
    results = [Rate(name, []) for name, _ in variants]
    for _ in range(rounds):
        for result, (_, action), size in zip(results, variants, sizes, strict=True):
            result.rates.append(measure(action, size))
    return results


def rate_cell(rate: Rate) -> str:
    """A rate as a table cell: the median, then the spread."""
    return f"{rate.median:,.0f} ({rate.spread})"


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{platform.system()} {platform.release()}"
    )


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of BENCHMARKS.md."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    BENCHMARKS.write_text(text)


def why(claim: str, ddbes: str, comparison: str, ratio: str) -> str:
    """A headline for the README's "Why ddbes" table, kept in BENCHMARKS.md as a comment that
    ``bench/why.py`` collects: ``<!-- why: claim | ddbes | comparison | ratio -->``."""
    for part in (claim, ddbes, comparison, ratio):
        if "|" in part or "-->" in part:
            raise ValueError(f"a headline part cannot hold '|' or '-->': {part!r}")
    return f"<!-- why: {claim} | {ddbes} | {comparison} | {ratio} -->"


def keep_apart(service_pids: Sequence[int]) -> str | None:
    """Run the services (DynamoDB Local, the latency proxy) on the first CPU and this process
    on the others, every thread of each: on AWS the database does not share the application's
    CPUs, and on a 2-core machine the scheduler otherwise preempts the application for the
    database's threads. Returns what it did, or ``None`` when it cannot (one CPU, no
    ``sched_setaffinity``, a service given by URL, so no process to move)."""
    setaffinity = getattr(os, "sched_setaffinity", None)
    if setaffinity is None or not service_pids:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    services, app = {cpus[0]}, set(cpus[1:])
    for pid, cpu_set in [*((pid, services) for pid in service_pids), (os.getpid(), app)]:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                setaffinity(int(tid), cpu_set)
            except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
                continue
    return f"services on CPU {cpus[0]}, the benchmark on CPU {','.join(map(str, sorted(app)))}"


def dynamodb_endpoint(given: str | None = None) -> tuple[str, Any]:
    """The DynamoDB Local to bench on, and the process to kill afterwards (``None`` when it was
    already running): ``given``, else ``DDBES_BENCH_DYNAMODB_ENDPOINT`` or
    ``DDBES_TEST_DYNAMODB_ENDPOINT``, else a private one started here."""
    endpoint = (
        given
        or os.environ.get("DDBES_BENCH_DYNAMODB_ENDPOINT")
        or os.environ.get("DDBES_TEST_DYNAMODB_ENDPOINT")
    )
    if endpoint:
        return endpoint, None
    from tests.services import start_dynamodb_local

    local = start_dynamodb_local()
    return local.endpoint_url, local

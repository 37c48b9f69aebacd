"""What typed events and OpenTelemetry cost, in memory.

* loads/s of 10-event aggregates whose events decode into dataclasses (``event_types``, with
  msgspec) against the same aggregates read as dicts (target, issue 17: typed at most 1.5x the
  time of the dict path);
* commits/s with the OpenTelemetry API installed but no SDK configured (ddbes checks once per
  operation and reports nothing) against the same commits with the API made absent (target:
  at most 5% overhead, i.e. at least 0.95x the rate); and, for scale, with an SDK recording
  every span in memory.

Rounds are interleaved so that noise on this shared machine hits every variant alike.

    uv run --no-sync python -m bench.typed_otel [--rounds 15] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import compare_timed, machine, rate_cell, write_section
from ddbes import Aggregate, Commit, telemetry
from ddbes.memory import InMemoryCommitStore
from ddbes.typed_events import EventTypes

AGGREGATES = 100
TYPED_TARGET = 1.5
OTEL_TARGET = 0.95


@dataclass(frozen=True)
class Opened:
    owner: str


@dataclass(frozen=True)
class Deposited:
    amount: int
    note: str


def _dict_reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
    if event["type"] == "Opened":
        return {"owner": event["owner"], "balance": 0}
    return {**state, "balance": state["balance"] + event["amount"]}


def _typed_reducer(state: Any, event: Opened | Deposited, commit: Commit) -> Any:
    if isinstance(event, Opened):
        return {"owner": event.owner, "balance": 0}
    return {**state, "balance": state["balance"] + event.amount}


class DictAccount(Aggregate):
    aggregate_type = "Account"
    key_schema = ("id",)
    reducer = staticmethod(_dict_reducer)


class TypedAccount(Aggregate):
    aggregate_type = "Account"
    key_schema = ("id",)
    event_types = EventTypes(Opened, Deposited)
    reducer = staticmethod(_typed_reducer)


Action = Callable[[int], None]


def load_actions() -> tuple[Action, Action]:
    store = InMemoryCommitStore()
    options = {"commit_store": store, "snapshots": False}
    for i in range(AGGREGATES):
        account = DictAccount.using(**options)(f"a{i}")
        account.commit({"type": "Opened", "owner": "ada"})
        for n in range(9):
            account.commit({"type": "Deposited", "amount": n, "note": "salary"})
    dict_bound, typed_bound = DictAccount.using(**options), TypedAccount.using(**options)

    def loads(bound: Any) -> Action:
        def run(n: int) -> None:
            for i in range(n):
                assert bound.load(f"a{i % AGGREGATES}").version == 10

        return run

    return loads(dict_bound), loads(typed_bound)


def commit_action() -> Action:
    account = DictAccount.using(commit_store=InMemoryCommitStore(), snapshots=False)("c")
    account.commit({"type": "Opened", "owner": "ada"})

    def run(n: int) -> None:
        for _ in range(n):
            account.commit({"type": "Deposited", "amount": 1, "note": "x"})

    return run


def _without_api(action: Action) -> Action:
    def run(n: int) -> None:
        saved = telemetry._api
        telemetry._api = None  # as if opentelemetry-api were not installed
        telemetry.recheck()
        try:
            action(n)
        finally:
            telemetry._api = saved
            telemetry.recheck()

    return run


def _with_sdk(action: Action) -> Action:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def run(n: int) -> None:
        original = trace.get_tracer_provider
        trace.get_tracer_provider = lambda: provider
        telemetry.recheck()
        try:
            action(n)
        finally:
            trace.get_tracer_provider = original
            telemetry.recheck()
            exporter.clear()

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.2, help="of each variant's round")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    started = time.monotonic()
    load = os.getloadavg()[0]
    dict_loads, typed_loads = load_actions()
    loads = compare_timed(
        [("dict", dict_loads), ("typed", typed_loads)], args.rounds, args.seconds, probe=500
    )
    commit = commit_action()
    commits = compare_timed(
        [("no API", _without_api(commit)), ("API, no SDK", commit), ("SDK", _with_sdk(commit))],
        args.rounds,
        args.seconds,
        probe=500,
    )
    typed_time = loads[0].median / loads[1].median
    otel_rate = commits[1].median / commits[0].median
    sdk_rate = commits[2].median / commits[0].median
    body = f"""
Typed events against dicts, and OpenTelemetry's cost, in memory, one process. Targets (issue
17): a typed load at most {TYPED_TARGET}x the time of the dict load; commits with the API
installed and no SDK at least {OTEL_TARGET}x the rate without it.

```shell
uv run --no-sync python -m bench.typed_otel
```
Machine: {machine()}; load average {load:.1f} when the run started (others share the cores:
hence the spreads). Median of {args.rounds} interleaved rounds (spread = min-max), each about
{args.seconds:g} s. Wall time {time.monotonic() - started:.0f} s.

| operation | rate (spread) | ratio |
|---|---|---|
| load 10 events, dicts | {rate_cell(loads[0])} loads/s | baseline |
| load 10 events, dataclasses (`event_types`, msgspec) | {rate_cell(loads[1])} loads/s \
| **{typed_time:.2f}x** the time |
| commit, OpenTelemetry API absent | {rate_cell(commits[0])} commits/s | baseline |
| commit, API installed, no SDK | {rate_cell(commits[1])} commits/s \
| **{otel_rate:.2f}x** the rate |
| commit, SDK recording every span (in memory) | {rate_cell(commits[2])} commits/s \
| {sdk_rate:.2f}x the rate |
"""
    if not args.no_write:
        write_section("Typed events and OpenTelemetry", body)
    print(body)
    return 0 if typed_time <= TYPED_TARGET and otel_rate >= OTEL_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

"""DynamoDB Local killed (SIGKILL) and restarted under load, twice.

A private DynamoDB Local keeps its tables on disk (``-dbPath``). Four writers commit to it
without pause (two through aggregate commands, one blindly appending, one calling the store),
each with a client of its own that has short timeouts and a short retry policy. The process is
killed twice and started again on the same port and files. While it is down the writers must
fail fast with :mod:`ddbes.errors` exceptions and keep trying; once it is back they must carry on.
Afterwards every acknowledged commit is stored exactly once and every log stays dense. A commit
whose answer the kill swallowed may or may not be stored: it is counted apart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ddbes import RetryPolicy
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import CLIENT_CONFIG
from tests.reliability.counts import report
from tests.reliability.writers import (
    Attempt,
    Ledger,
    mixed_operation,
    reconcile,
    run_writer,
)
from tests.services import start_dynamodb_local

pytestmark = pytest.mark.dynamodb

CYCLES = 2
WARM_UP = 3.0
OUTAGE = 1.0
AFTER_RESTART = 3.0
RESUME_WITHIN = 30.0
WRITERS = 4
FAIL_WITHIN = 15.0
"""No operation may take longer than this, even while DynamoDB is down."""
EMULATOR_WINDOW = 0.5
"""DynamoDB Local acknowledges a TransactWriteItems a few ms before it is durable: SIGKILL then
drops it (plain boto3 shows it too). A missing commit sent before a kill and acknowledged this
close to it (or after it: the writer notes the answer when its thread next runs) is blamed on
the emulator and counted apart; any other missing commit is lost."""
RETRIES = RetryPolicy(max_attempts=3, initial_delay=0.02, backoff=2.0, max_delay=0.2)
SHORT_TIMEOUTS = CLIENT_CONFIG.merge(Config(connect_timeout=1, read_timeout=3))


def _client(endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint_url, region_name="us-east-1", config=SHORT_TIMEOUTS
    )


def _carry_on(ledger: Ledger, since: float) -> None:
    """Let the writers run ``AFTER_RESTART`` seconds, and on until each has committed again
    (a freshly started DynamoDB Local on a busy machine can take a while to answer fast)."""
    deadline = since + RESUME_WITHIN
    time.sleep(AFTER_RESTART)
    while time.monotonic() < deadline:
        resumed = {
            a.op.split("-")[0] for a in ledger.snapshot() if a.started >= since and a.commit_id
        }
        if len(resumed) == WRITERS:
            return
        time.sleep(0.1)


def test_writers_fail_clearly_while_dynamodb_is_down_and_lose_nothing(tmp_path: Path) -> None:
    local = start_dynamodb_local(db_path=tmp_path)
    try:
        _run(local, tmp_path)
    finally:
        local.kill()


def _run(local: Any, tmp_path: Path) -> None:
    setup = DynamoDBCommitStore("ddbes-restart", client=_client(local.endpoint_url))
    setup.create_table(log_partitions=2)
    ledger = Ledger()
    stop = threading.Event()
    threads = []
    for writer in range(WRITERS):
        store = DynamoDBCommitStore(
            "ddbes-restart", client=_client(local.endpoint_url), retry_policy=RETRIES
        )
        operation = mixed_operation(writer, store)
        threads.append(
            threading.Thread(
                target=run_writer,
                args=(writer, operation, ledger),
                kwargs={"seed": 77 + writer, "stop": stop, "pause_after_error": 0.05},
                daemon=True,
            )
        )

    started = time.monotonic()
    for thread in threads:
        thread.start()
    outages: list[tuple[float, float]] = []
    time.sleep(WARM_UP)
    for _ in range(CYCLES):
        down = time.monotonic()
        local.kill()  # SIGKILL: no shutdown, in-flight requests see their connection reset
        time.sleep(OUTAGE)
        local.start()  # same port, same files
        up = time.monotonic()
        outages.append((down, up))
        _carry_on(ledger, since=up)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a writer hung"

    kills = [down for down, _ in outages]

    def dropped_by_dynamodb_local(attempt: Attempt) -> bool:
        # Sent before a kill and answered at most EMULATOR_WINDOW before it. The writer notes
        # the answer when its thread next runs, which on a busy machine can be after the kill.
        acknowledged_at = attempt.started + attempt.seconds
        return any(
            attempt.started < kill and acknowledged_at >= kill - EMULATOR_WINDOW for kill in kills
        )

    clean = DynamoDBCommitStore("ddbes-restart", endpoint_url=local.endpoint_url)
    reconciled = reconcile(
        f"restart: DynamoDB Local killed {CYCLES}x under load",
        clean,
        ledger,
        time.monotonic() - started,
        forgiven=dropped_by_dynamodb_local,
    )
    counts = reconciled.counts
    slowest = max(a.seconds for a in ledger.attempts)
    slowest_failure = max(a.seconds for a in ledger.attempts if a.error is not None)
    outage_seconds = ", ".join(f"{up - down:.1f}" for down, up in outages)
    ends = [down for down, _ in outages[1:]] + [float("inf")]
    resumed = ", ".join(
        str(sum(1 for a in ledger.attempts if up <= a.started < end and a.commit_id))
        for (_, up), end in zip(outages, ends, strict=True)
    )
    dropped = ", ".join(
        f"{min((k - a.started - a.seconds for k in kills if k > a.started), key=abs):+.3f}"
        for a in reconciled.forgotten
    )
    counts.notes += (
        (
            f"; {len(reconciled.forgotten)} acknowledged commits dropped by DynamoDB Local "
            f"itself (answer noted {dropped} s before a SIGKILL; negative: just after it)"
            if dropped
            else "; DynamoDB Local dropped no acknowledged commit"
        )
        + f"; down for {outage_seconds} s; slowest failure {slowest_failure:.2f} s, "
        f"slowest operation {slowest:.2f} s; acknowledged after each restart: {resumed}"
    )
    for attempt in reconciled.lost:  # say exactly when, should it ever happen
        answered = attempt.started + attempt.seconds
        counts.notes += (
            "; LOST "
            + attempt.op
            + " sent/answered at "
            + ", ".join(
                f"{attempt.started - kill:+.3f}/{answered - kill:+.3f} s from kill {n}"
                for n, kill in enumerate(kills, 1)
            )
        )
    report(counts)

    assert reconciled.problems == []
    assert slowest < FAIL_WITHIN, f"an operation took {slowest:.1f} s"
    assert counts.failures.get("StoreUnavailable", 0) > 0, counts.failures
    for (down, up), end in zip(outages, ends, strict=True):
        during = [a for a in ledger.attempts if down <= a.started < up]
        after = [a for a in ledger.attempts if up <= a.started < end and a.commit_id]
        assert any(a.error for a in during), "nobody noticed DynamoDB was down"
        writers_after = {a.op.split("-")[0] for a in after}
        assert len(writers_after) == WRITERS, f"only writers {writers_after} carried on"

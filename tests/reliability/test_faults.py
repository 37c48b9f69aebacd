"""Faults injected at the botocore layer on 10% of calls while four writers commit.

Each writer has a client of its own (as a process would) whose botocore events fail one call in
ten, chosen by a seeded random: throttling, HTTP 500, a connection reset before the request
is sent, or the answer lost *after* DynamoDB applied the request (a connection closed or a read
timeout). The stores use a real retry policy with short delays, so most faults are absorbed;
those that outlast it must surface as :mod:`ddbes.errors` exceptions. Afterwards a clean client
reconciles the writers' records with the table: nothing acknowledged is lost, nothing is stored
twice, every log partition and every aggregate is dense.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from ddbes import RetryPolicy
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from tests.dynamodb.tables import DynamoDBTables
from tests.reliability.counts import report
from tests.reliability.writers import (
    Account,
    Ledger,
    mixed_operation,
    reconcile,
    run_writer,
    run_writers,
)
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.dynamodb

WRITERS = 4
COMMITS_PER_WRITER = 250
FAULT_RATE = 0.10
SEED = 20240801
RETRIES = RetryPolicy(max_attempts=2, initial_delay=0.002, backoff=2.0, max_delay=0.02)
"""A real policy with short delays and few attempts, so that some faults outlast it."""

THROTTLE = "throttled"
SERVER_ERROR = "http 500"
RESET_BEFORE_SEND = "reset before send"
LOST_AFTER_APPLY = "answer lost after apply"
TIMEOUT_AFTER_APPLY = "read timeout after apply"
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
KINDS = (THROTTLE, SERVER_ERROR, RESET_BEFORE_SEND, LOST_AFTER_APPLY, TIMEOUT_AFTER_APPLY)


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _error(request: Any, code: str, status: int) -> AWSResponse:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}"}
    ).encode()
    headers = {"x-amzn-requestid": uuid.uuid4().hex, "content-type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Body(body))


class FaultInjector:
    """Fails a seeded random ``rate`` of one client's calls, in every way the network and
    DynamoDB fail: before sending (nothing applied) or after the answer came (applied)."""

    def __init__(self, client: Any, *, seed: int, rate: float) -> None:
        self._rng = random.Random(seed)
        self._rate = rate
        self._lock = threading.Lock()
        self._after = threading.local()
        self.calls = 0
        self.injected: Counter[str] = Counter()
        self.active = True
        events = client.meta.events
        events.register("before-send.dynamodb", self._before_send)
        events.register("after-call.dynamodb", self._after_call)

    def _draw(self) -> tuple[str | None, str]:
        with self._lock:
            self.calls += 1
            if not self.active or self._rng.random() >= self._rate:
                return None, ""
            kind = self._rng.choice(KINDS)
            self.injected[kind] += 1
            return kind, self._rng.choice(THROTTLE_CODES)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        kind, throttle_code = self._draw()
        if kind == THROTTLE:
            return _error(request, throttle_code, 400)
        if kind == SERVER_ERROR:
            return _error(request, "InternalServerError", 500)
        if kind == RESET_BEFORE_SEND:
            raise ConnectionClosedError(endpoint_url=request.url)
        self._after.kind = kind  # None, or a loss once DynamoDB has answered
        return None

    def _after_call(self, http_response: Any, **_: Any) -> None:
        kind = getattr(self._after, "kind", None)
        self._after.kind = None
        if kind == LOST_AFTER_APPLY:
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1")
        if kind == TIMEOUT_AFTER_APPLY:
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1")


def test_no_commit_is_lost_or_duplicated_under_injected_faults(tables: DynamoDBTables) -> None:
    table = tables.commit_store(log_partitions=2).table_name
    injectors: list[FaultInjector] = []
    targets = []
    ledger = Ledger()
    for writer in range(WRITERS):
        client = make_client(
            "dynamodb", table=table, endpoint_url=tables.endpoint_url, region_name="us-east-1"
        )
        injector = FaultInjector(client, seed=SEED + writer, rate=FAULT_RATE)
        injectors.append(injector)
        store = DynamoDBCommitStore(table, client=client, retry_policy=RETRIES)
        operation = mixed_operation(writer, store)
        targets.append(
            lambda w=writer, op=operation: run_writer(
                w, op, ledger, seed=SEED + 100 + w, commits=COMMITS_PER_WRITER
            )
        )

    started = time.monotonic()
    run_writers(targets)
    for injector in injectors:
        injector.active = False

    clean = DynamoDBCommitStore(table, client=tables.client)
    reconciled = reconcile(
        "faults: 10% of botocore calls fail", clean, ledger, time.monotonic() - started
    )
    injected: Counter[str] = sum((i.injected for i in injectors), Counter())
    calls = sum(i.calls for i in injectors)
    counts = reconciled.counts
    counts.notes += (
        "; injected "
        + ", ".join(f"{kind} {injected[kind]}" for kind in KINDS)
        + f" in {calls} calls"
    )
    report(counts)

    assert reconciled.problems == []
    assert counts.attempted == WRITERS * COMMITS_PER_WRITER
    assert counts.acknowledged > 0.9 * counts.attempted
    assert all(injected[kind] > 0 for kind in KINDS), injected
    assert sum(injected.values()) > 0.07 * calls
    for key, history in reconciled.commits.items():
        state = Account.using(commit_store=clean).get_state(key)
        assert state == {"count": len(history), "last_op": history[-1].events[0]["op"]}

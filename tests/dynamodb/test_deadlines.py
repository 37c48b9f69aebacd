"""Every DynamoDB operation ends by a deadline, also against an endpoint that never answers."""

from __future__ import annotations

import logging
import time

import pytest
from botocore.exceptions import ReadTimeoutError

from ddbes.errors import StoreUnavailable
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore
from ddbes_dynamodb._errors import Caller
from ddbes_dynamodb._sequencing import SequencingService
from tests.dynamodb.helpers import commit
from tests.silent import silent_endpoint

SHORT = Timeouts(connect=0.5, read=0.5, total=2.0)


def _elapsed(action: object) -> tuple[float, StoreUnavailable]:
    start = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        action()  # type: ignore[operator]
    return time.monotonic() - start, raised.value


def test_an_endpoint_that_never_answers_fails_each_operation_by_the_deadline() -> None:
    with silent_endpoint() as url:
        store = DynamoDBCommitStore("ddbes-silent", endpoint_url=url, timeouts=SHORT)
        checkpoints = DynamoDBCheckpointStore("ddbes-silent", endpoint_url=url, timeouts=SHORT)
        for action in (
            store.head_position,
            lambda: store.append(commit("k", 1)),
            store.describe,
            lambda: checkpoints.get("projector"),
        ):
            elapsed, error = _elapsed(action)
            assert elapsed < 2 * SHORT.total
            assert url in str(error)
            assert "deadline" in str(error)
        store.close()


def test_the_default_timeouts_bound_a_read_and_an_operation() -> None:
    assert Timeouts() == Timeouts(connect=3.0, read=10.0, total=20.0)
    store = DynamoDBCommitStore("ddbes-defaults", endpoint_url="http://127.0.0.1:9")
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (3.0, 10.0)
    assert store._table.call.total == 20.0


def test_a_retry_starts_only_when_it_can_end_before_the_deadline() -> None:
    """A simulated clock: each attempt hangs for its read timeout (4 s) of a 10 s deadline."""
    now = [0.0]
    attempts: list[float] = []

    def hang(**_: object) -> None:
        attempts.append(now[0])
        now[0] += 4.0
        raise ReadTimeoutError(endpoint_url="http://db.example")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    caller = Caller(
        "t",
        RetryPolicy(max_attempts=8, initial_delay=0.01, max_delay=1.0),
        sleep,
        total=10.0,
        clock=lambda: now[0],
    )
    with pytest.raises(StoreUnavailable, match=r"gave up after 2 attempts .* deadline .* 10 s"):
        caller(hang, "read_head")
    assert len(attempts) == 2
    assert now[0] <= 10.0


def test_bad_timeouts_are_refused() -> None:
    for bad in ({"connect": 0}, {"read": -1}, {"total": float("nan")}, {"total": True}):
        with pytest.raises(ValueError, match="must be a positive number"):
            Timeouts(**bad)  # type: ignore[arg-type]
    assert Timeouts.within(5) == Timeouts(connect=3.0, read=5.0, total=5)


def test_the_background_sequencer_keeps_the_deadline_and_logs_a_failure_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with silent_endpoint() as url:
        store = DynamoDBCommitStore(
            "ddbes-silent",
            endpoint_url=url,
            timeouts=Timeouts(connect=0.2, read=0.2, total=0.5),
        )
        store._log_partitions, store._sequencing = 1, "background"  # no metadata read
        service: SequencingService = store._service
        with caplog.at_level(logging.INFO, logger="ddbes.dynamodb"):
            service.reading(0)
            time.sleep(4.0)
            start = time.monotonic()
            store.close()
            assert time.monotonic() - start < 2 * 0.5 + 5.0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "ddbes-silent" in warnings[0].getMessage()

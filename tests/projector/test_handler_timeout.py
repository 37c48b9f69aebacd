"""Handlers that hang: handler_timeout makes them failures, stop(timeout=...) says it waited."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ddbes.errors import HandlerTimedOut, ProjectionFailed
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector
from tests.projector.helpers import FAST_RETRY, fill


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of each test, so that every hung handler thread ends."""
    event = threading.Event()
    yield event
    event.set()


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.parametrize("parallel", [1, 3])
def test_a_handler_that_hangs_times_out_is_retried_then_stops_the_projector(
    store: InMemoryCommitStore,
    checkpoints: InMemoryCheckpointStore,
    release: threading.Event,
    parallel: int,
) -> None:
    fill(store, 10, keys=1)  # one aggregate: nothing after the hung commit may be handled
    seen: list[int] = []
    hung: list[threading.Thread] = []

    def index_cart(c: Commit) -> None:
        if c.position == 3:
            hung.append(threading.current_thread())
            release.wait()
            return
        seen.append(c.position or 0)

    projector = Projector(
        {"Cart": index_cart}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=FAST_RETRY, handler_timeout=0.5, parallel=parallel,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ProjectionFailed) as failed:
        projector.run()

    assert time.monotonic() - started < 20  # 4 attempts of 0.5 s, not for ever
    error = failed.value
    assert error.position == 3 and error.aggregate_id == "Cart:k0"
    message = str(error)
    assert f"index_cart failed {FAST_RETRY.max_attempts} times" in message
    assert "position 3" in message and "HandlerTimedOut" in message
    cause = error.__cause__
    assert isinstance(cause, HandlerTimedOut) and isinstance(cause, TimeoutError)
    assert "did not return within handler_timeout=0.5 s" in str(cause)
    assert "index_cart" in str(cause) and "Python cannot stop a thread" in str(cause)
    assert len(hung) == FAST_RETRY.max_attempts  # every attempt ran on a fresh thread
    assert all(thread.daemon and thread.is_alive() for thread in hung)
    assert seen == [1, 2] and checkpoints.get("p") == 2
    assert not projector.running

    release.set()  # the hung calls return: their threads end, and change nothing
    for thread in hung:
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert seen == [1, 2] and checkpoints.get("p") == 2


def test_a_handler_that_hangs_once_is_retried_and_nothing_is_skipped(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore, release: threading.Event
) -> None:
    fill(store, 10)
    seen: list[int] = []
    late: list[int] = []

    def handle(c: Commit) -> None:
        if c.position == 4 and not late:
            late.append(0)
            release.wait()  # the first call hangs
            late.append(c.position)
            return
        seen.append(c.position or 0)

    Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=FAST_RETRY, handler_timeout=1,
    ).run()  # fmt: skip

    assert seen == list(range(1, 11)) and checkpoints.get("p") == 10
    release.set()
    wait_until(lambda: late == [0, 4])  # the abandoned call finished on its own thread


def test_stop_with_a_timeout_raises_when_a_handler_hangs_and_says_where(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore, release: threading.Event
) -> None:
    fill(store, 5)
    hanging = threading.Event()

    def handle(c: Commit) -> None:
        if c.position == 2:
            hanging.set()
            release.wait()

    projector = Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints
    )
    projector.start()
    assert hanging.wait(5)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        projector.stop(timeout=0.2)

    assert 0.2 <= time.monotonic() - started < 10
    message = str(info.value)
    assert "projector 'p' did not stop within 0.2 s" in message
    assert "position 2 of log partition 0 (Cart:k1 version 1" in message
    assert "handler_timeout" in message
    assert projector.running
    release.set()  # the handler returns: the projector stops, commit 2 handled
    assert projector.stop() is None
    assert not projector.running and checkpoints.get("p") == 2
    assert projector.stop(timeout=0.01) is None  # stopped already: nothing to wait for


def test_with_a_handler_timeout_stop_ends_the_projector_even_while_a_handler_hangs(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore, release: threading.Event
) -> None:
    fill(store, 5)
    hanging = threading.Event()

    def handle(c: Commit) -> None:
        if c.position == 2:
            hanging.set()
            release.wait()

    projector = Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
        handler_timeout=0.5, poll_interval=0.01,
    )  # fmt: skip
    projector.start()
    assert hanging.wait(5)
    assert projector.stop(timeout=10) is None  # the handler timeout, not the hang
    assert not projector.running
    assert checkpoints.get("p") == 1  # commit 2 was not handled: it is not skipped


def test_a_handler_under_a_timeout_may_stop_its_own_projector(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 20)
    seen: list[int] = []
    projector: Projector

    def handle(c: Commit) -> None:
        seen.append(c.position or 0)
        if c.position == 5:
            assert projector.stop(timeout=1) is None  # returns at once: it cannot wait for itself

    projector = Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
        handler_timeout=30,
    )  # fmt: skip
    started = time.monotonic()
    projector.run()
    assert time.monotonic() - started < 10  # not the 30 s handler timeout
    assert seen == [1, 2, 3, 4, 5] and checkpoints.get("p") == 5


@pytest.mark.parametrize("value", [0, -1, True, "5", float("nan")])
def test_a_bad_handler_timeout_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="handler_timeout must be None or a positive number"):
        Projector({"*": lambda c: None}, name="p", handler_timeout=value)  # type: ignore[arg-type]

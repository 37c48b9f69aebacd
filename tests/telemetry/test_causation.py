"""ddbes.causation: correlation and causation ids of a commit made while handling another, or
inside a traced request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ddbes import causation, telemetry
from ddbes.model import Commit
from tests.telemetry.conftest import Otel


def _commit(commit_id: str, metadata: dict[str, Any] | None = None) -> Commit:
    return Commit(
        commit_id=commit_id,
        aggregate_type="Order",
        aggregate_key="o1",
        version=1,
        committed_at=datetime(2030, 1, 1, tzinfo=UTC),
        events=({"type": "Placed"},),
        metadata=metadata or {},
    )


def test_nothing_to_say_outside_any_handling_or_span() -> None:
    assert causation.metadata_for() == {}
    assert causation.metadata_for({"user": "u1"}) == {"user": "u1"}
    assert causation.handled_commit() is None


def test_a_commit_made_while_handling_another_is_caused_by_it() -> None:
    first = _commit("c1")
    with causation.handling(first):
        assert causation.handled_commit() is first
        assert causation.metadata_for() == {"causation_id": "c1", "correlation_id": "c1"}
        second = _commit("c2", causation.metadata_for({"user": "u1"}))
    with causation.handling(second):  # the flow's correlation id is inherited
        third = causation.metadata_for()
    assert third == {"causation_id": "c2", "correlation_id": "c1"}
    with causation.handling(first):  # what the caller gives wins
        assert causation.metadata_for({"correlation_id": "mine"})["correlation_id"] == "mine"
    assert causation.handled_commit() is None


async def test_tasks_started_while_handling_inherit_it() -> None:
    async def later() -> dict[str, Any]:
        await asyncio.sleep(0)
        return causation.metadata_for()

    with causation.handling(_commit("c9")):
        task = asyncio.create_task(later())
    assert (await task)["causation_id"] == "c9"


def test_inside_a_span_the_trace_becomes_the_correlation_id(otel: Otel) -> None:
    with telemetry.span("request", kind="server"):
        trace_id = telemetry.current_trace_id()
        metadata = causation.metadata_for()
    assert metadata["correlation_id"] == trace_id
    assert trace_id in metadata[telemetry.TRACEPARENT]
    with causation.handling(_commit("c1", {"correlation_id": "flow"})), telemetry.span("h"):
        inner = causation.metadata_for()
    assert inner["correlation_id"] == "flow"  # the flow's id wins over the handler's trace

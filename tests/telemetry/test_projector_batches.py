"""A projector's batches as spans: one per batch read (none for a poll that reads nothing),
with the log partition, the positions and the number of commits; handler spans inside."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

from ddbes import Commit, Projector
from ddbes.errors import ProjectionFailed
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.retry import RetryPolicy
from tests.telemetry.conftest import Otel
from tests.ws.conftest import Log

ONCE = RetryPolicy(max_attempts=1, initial_delay=0.0, backoff=1.0, max_delay=0.0)


def _attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_each_batch_is_a_span_with_its_handler_spans_inside(otel: Otel) -> None:
    store = InMemoryCommitStore(log_partitions=2)
    log = Log(store)
    for n in range(5):
        log.commit("Cart", {"type": "Added", "n": n}, key=f"k{n}")
    handled: list[Commit] = []
    projector = Projector(
        {"Cart": handled.append}, name="carts", commit_store=store,
        checkpoint_store=InMemoryCheckpointStore(), batch_size=2,
    )  # fmt: skip
    projector.run()
    projector.run()  # caught up: reads nothing, makes no batch span

    assert len(handled) == 5
    spans = otel.spans()
    batches = [s for s in spans if s.name == "ddbes.projector.batch"]
    handles = [s for s in spans if s.name == "ddbes.projector.handle"]
    assert sum(_attributes(b)["ddbes.commits"] for b in batches) == 5
    assert all(_attributes(b)["ddbes.commits"] <= 2 for b in batches)
    for batch in batches:
        attributes = _attributes(batch)
        assert attributes["ddbes.projector"] == "carts"
        inside = [h for h in handles if h.parent and h.parent.span_id == batch.context.span_id]
        assert len(inside) == attributes["ddbes.commits"]
        positions = [_attributes(h)["ddbes.position"] for h in inside]
        assert positions[0] == attributes["ddbes.position.from"]
        assert positions[-1] == attributes["ddbes.position.to"]
        keys = {_attributes(h)["ddbes.aggregate.key"] for h in inside}
        partitions = {c.log_partition for c in handled if c.aggregate_key in keys}
        assert partitions == {attributes["ddbes.log_partition"]}


def test_a_batch_that_fails_ends_with_an_error(otel: Otel) -> None:
    store = InMemoryCommitStore()
    Log(store).commit("Cart", {"type": "Added"})

    def fail(commit: Commit) -> None:
        raise RuntimeError("read model down")

    projector = Projector(
        {"Cart": fail}, name="carts", commit_store=store,
        checkpoint_store=InMemoryCheckpointStore(), retry=ONCE,
    )  # fmt: skip
    with pytest.raises(ProjectionFailed):
        projector.run()
    (batch,) = [s for s in otel.spans() if s.name == "ddbes.projector.batch"]
    assert batch.status.status_code == trace.StatusCode.ERROR
    assert _attributes(batch)["ddbes.commits"] == 1

"""One HTTP-style request gives one trace: the request's span, the commit's span inside it, and
the projector's handler span linked to it, with the correlation id on all of them; a commit the
handler makes is caused by the one it handles."""

from __future__ import annotations

from typing import Any

from ddbes import Aggregate, Commit, Projector, causation, telemetry
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from tests.telemetry.conftest import Otel


class Order(Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {**(state or {}), "status": event["type"]}


class Invoice(Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {"for": event["order"]}


def test_a_request_commit_and_projection_make_one_linked_trace(otel: Otel) -> None:
    store = InMemoryCommitStore()
    options = {"commit_store": store, "snapshots": False}
    orders, invoices = Order.using(**options), Invoice.using(**options)
    invoiced: list[Commit] = []

    def on_order(commit: Commit) -> None:  # a process manager: an order makes an invoice
        invoice = invoices(commit.aggregate_key).commit(
            {"type": "Issued", "order": commit.aggregate_key}
        )
        invoiced.extend(store.read_commits("Invoice", invoice.key))

    with telemetry.span("POST /orders", kind="server"):
        request_trace = telemetry.current_trace_id()
        orders("o1").commit({"type": "Placed"}, metadata={"user": "u7"})
    Projector({"Order": on_order}, name="billing", commit_store=store,
              checkpoint_store=InMemoryCheckpointStore()).run()  # fmt: skip

    (placed,) = store.read_commits("Order", "o1")
    assert placed.metadata["user"] == "u7"
    assert placed.metadata["correlation_id"] == request_trace
    assert request_trace in placed.metadata["traceparent"]
    (invoice,) = invoiced
    assert invoice.metadata["causation_id"] == placed.commit_id
    assert invoice.metadata["correlation_id"] == request_trace  # the flow's id, inherited

    finished = otel.spans()
    (request,) = [s for s in finished if s.name == "POST /orders"]
    commit, invoice_commit = [s for s in finished if s.name == "ddbes.commit"]
    (handle,) = [s for s in finished if s.name == "ddbes.projector.handle"]
    assert commit.context.trace_id == request.context.trace_id
    assert commit.parent is not None and commit.parent.span_id == request.context.span_id
    assert [link.context.trace_id for link in handle.links] == [request.context.trace_id]
    assert invoice_commit.parent is not None
    assert invoice_commit.parent.span_id == handle.context.span_id  # made by the handler
    for span in (commit, handle):
        assert span.attributes["ddbes.correlation_id"] == request_trace
    durations = otel.metrics()["ddbes.commit.duration"]
    assert sum(point.count for point in durations) == 2  # the order and the invoice


def test_without_a_span_or_a_handled_commit_metadata_is_only_what_was_given() -> None:
    store = InMemoryCommitStore()
    order = Order.using(commit_store=store, snapshots=False)("o2")
    order.commit({"type": "Placed"})
    order.commit({"type": "Paid"}, metadata={"user": "u1"})
    assert [c.metadata for c in store.read_commits("Order", "o2")] == [{}, {"user": "u1"}]
    with causation.handling(next(iter(store.read_commits("Order", "o2")))):
        Order.using(commit_store=store, snapshots=False).append(
            {"type": "Noted"}, "o2", metadata={"by": "ops"}
        )
    noted = list(store.read_commits("Order", "o2"))[-1]
    assert noted.metadata["by"] == "ops" and noted.metadata["causation_id"]


def test_loads_snapshots_and_projector_lag_are_reported(otel: Otel) -> None:
    from ddbes.memory import InMemorySnapshotStore

    store, snapshots = InMemoryCommitStore(), InMemorySnapshotStore()
    bound = Order.using(
        commit_store=store, snapshot_store=snapshots, snapshots=True, snapshots_frequency=2
    )
    order = bound("o3")
    order.commit({"type": "Placed"})
    order.commit({"type": "Paid"})  # version 2: a snapshot is written
    assert bound.load("o3") is not None  # reads the snapshot
    Projector({"Order": lambda commit: None}, name="lagging", commit_store=store,
              checkpoint_store=InMemoryCheckpointStore()).run()  # fmt: skip
    names = [span.name for span in otel.spans()]
    assert names.count("ddbes.commit") == 2
    assert "ddbes.snapshot.write" in names and "ddbes.snapshot.read" in names
    (load,) = [s for s in otel.spans() if s.name == "ddbes.load"]
    assert load.attributes["ddbes.version"] == 2
    (write,) = [s for s in otel.spans() if s.name == "ddbes.snapshot.write"]
    assert write.attributes["db.system"] == "memory"
    lags = otel.metrics()["ddbes.projector.lag"]
    assert sum(point.count for point in lags) >= 1

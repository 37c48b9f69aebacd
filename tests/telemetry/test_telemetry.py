"""ddbes.telemetry: spans, links and metrics through the OpenTelemetry API, and nothing at all
when no SDK is configured."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry import trace

from ddbes import telemetry
from tests.telemetry.conftest import Otel


def test_without_an_sdk_nothing_is_reported() -> None:
    code = (
        "from ddbes import telemetry\n"
        "assert not telemetry.enabled()\n"
        "with telemetry.span('ddbes.commit', {'a': 1}) as s:\n"
        "    assert s is None\n"
        "    assert telemetry.current_trace_id() is None\n"
        "    assert telemetry.trace_context() == {}\n"
        "telemetry.count('ddbes.retries')\n"
        "telemetry.record('ddbes.commit.duration', 0.1)\n"
        "parent = '00-' + '1' * 32 + '-' + '2' * 16 + '-01'\n"
        "assert telemetry.link_from({'traceparent': parent}) == []\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_span_is_current_inside_and_records_a_failure(otel: Otel) -> None:
    assert telemetry.enabled()
    with telemetry.span("ddbes.commit", {"ddbes.aggregate.type": "Cart", "skip": None}) as s:
        assert s is not None
        telemetry.event(s, "conflict", {"version": 3})
        trace_id = telemetry.current_trace_id()
    assert trace_id is not None and len(trace_id) == 32
    with pytest.raises(ValueError), telemetry.span("ddbes.load"):
        raise ValueError("boom")
    commit, load = otel.spans()
    assert commit.name == "ddbes.commit"
    assert dict(commit.attributes or {}) == {"ddbes.aggregate.type": "Cart"}
    assert [e.name for e in commit.events] == ["conflict"]
    assert format(commit.context.trace_id, "032x") == trace_id
    assert load.status.status_code == trace.StatusCode.ERROR


def test_a_commit_carries_its_trace_and_a_handler_links_to_it(otel: Otel) -> None:
    with telemetry.span("request", kind="server"):
        metadata = telemetry.trace_context()
        made_in = telemetry.current_trace_id()
    assert set(metadata) == {telemetry.TRACEPARENT}
    assert made_in is not None and made_in in metadata[telemetry.TRACEPARENT]
    with telemetry.span("ddbes.projector.handle", links=telemetry.link_from(metadata)):
        pass
    handler = otel.spans()[-1]
    assert [format(link.context.trace_id, "032x") for link in handler.links] == [made_in]
    assert telemetry.link_from({}) == []
    assert telemetry.link_from({telemetry.TRACEPARENT: "garbage"}) == []
    assert telemetry.link_from({telemetry.TRACEPARENT: 7}) == []


def test_metrics_reach_the_sdk(otel: Otel) -> None:
    telemetry.record("ddbes.commit.duration", 0.25, {"ddbes.aggregate.type": "Cart"})
    telemetry.count("ddbes.commit.conflicts", attributes={"ddbes.aggregate.type": "Cart"})
    telemetry.count("ddbes.consumed_capacity", 3.5, {"db.system": "dynamodb", "kind": "write"})
    telemetry.record("ddbes.stream.clients", 1)
    telemetry.record("ddbes.stream.clients", -1)
    found = otel.metrics()
    assert found["ddbes.commit.duration"][0].sum == 0.25
    assert found["ddbes.commit.conflicts"][0].value == 1
    assert found["ddbes.consumed_capacity"][0].value == 3.5
    assert found["ddbes.stream.clients"][0].value == 0


def test_an_atomic_unit_is_one_span_with_its_commits_under_one_trace(otel: Otel) -> None:
    import ddbes
    from ddbes.memory import InMemoryCommitStore

    class Account(ddbes.Aggregate):
        key_schema = ("id",)
        reducer = staticmethod(lambda state, event, commit: (state or 0) + 1)

    accounts = Account.using(commit_store=InMemoryCommitStore())
    with telemetry.span("request", kind="server"):
        trace_id = telemetry.current_trace_id()
        with ddbes.UnitOfWork() as unit:
            unit.commit(accounts("a"), {"type": "Opened"})
            unit.commit(accounts("b"), {"type": "Opened"})
    (span,) = [s for s in otel.spans() if s.name == "ddbes.commit_unit"]
    assert dict(span.attributes or {}) == {
        "ddbes.unit.commits": 2,
        "ddbes.aggregate.ids": ("Account:a", "Account:b"),
    }
    assert format(span.context.trace_id, "032x") == trace_id
    stored = list(accounts.commit_store.read_log())  # type: ignore[attr-defined]
    assert {c.metadata["correlation_id"] for c in stored} == {trace_id}

"""OpenTelemetry: the spans and metrics ddbes reports, when the application wants them.

Install ``ddbes-core[otel]``, which adds ``opentelemetry-api`` only: the SDK, its exporters and
their configuration are the application's choice, made once at startup as for any other
library. ddbes then reports, through the global tracer and meter providers (scope ``ddbes``):

Spans
    ``ddbes.load`` and ``ddbes.commit`` (one per aggregate load and commit, with the
    aggregate's type, key and version; a commit's version conflicts and retries are span
    events), ``ddbes.commit_unit`` (an atomic unit saved: its commit count and aggregate ids),
    ``ddbes.snapshot.read`` and ``ddbes.snapshot.write``, ``ddbes.projector.batch``
    and ``ddbes.projector.handle`` (linked to the trace that made the commit), and
    ``ddbes.stream.fanout``. Store spans carry ``db.system`` (``dynamodb``, ``s3``,
    ``memory``).

Metrics
    ``ddbes.commit.duration`` (s), ``ddbes.commit.conflicts``, ``ddbes.retries``,
    ``ddbes.throttles``, ``ddbes.consumed_capacity`` (DynamoDB capacity units, by table,
    operation and ``read`` or ``write``), ``ddbes.projector.lag`` (commits behind the head),
    ``ddbes.stream.clients`` and ``ddbes.stream.queue_depth`` (each client's queued frames
    after each fan-out).

Importing ddbes never imports OpenTelemetry: the API is looked for at the first span or metric.
Without the API installed, or with it but no SDK configured (its global providers are still
the API's placeholders), every function here returns after one check, so an application that
does not trace pays next to nothing.

A commit made while a span is active carries that span's W3C trace context in its metadata
(:func:`trace_context`); a projector handling the commit links its span to it
(:func:`link_from`), so one trace leads from an HTTP request to the read model.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "TRACEPARENT",
    "count",
    "current_trace_id",
    "enabled",
    "event",
    "link_from",
    "metering",
    "recheck",
    "record",
    "span",
    "trace_context",
    "tracing",
]

SCOPE = "ddbes"
"""The instrumentation scope of every span and metric."""

TRACEPARENT = "traceparent"
"""The metadata key under which a commit keeps the W3C trace context it was made in."""

_api: Any = False
"""The OpenTelemetry API's modules, imported at the first call of this module's functions (so
that importing ddbes imports the standard library only): ``(trace, metrics, propagator
class)``, or ``None`` when the extra is not installed."""


def _otel() -> Any:
    global _api
    if _api is False:
        try:  # the optional extra: opentelemetry-api
            from opentelemetry import metrics, trace  # noqa: PLC0415
            from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
                TraceContextTextMapPropagator,
            )
        except ImportError:  # installs without the extra
            _api = None
        else:
            _api = (trace, metrics, TraceContextTextMapPropagator)
    return _api


_PLACEHOLDERS = frozenset(
    {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider"}
)

_INSTRUMENTS: dict[tuple[int, str], Any] = {}  # (meter provider, name) -> instrument
_KINDS = {
    "ddbes.commit.duration": ("histogram", "s", "How long a commit took, retries included."),
    "ddbes.commit.conflicts": ("counter", "1", "Version conflicts met by commits."),
    "ddbes.retries": ("counter", "1", "Retried store calls and commands."),
    "ddbes.throttles": ("counter", "1", "Store calls the backend throttled."),
    "ddbes.consumed_capacity": ("counter", "1", "Capacity units the backend reported."),
    "ddbes.projector.lag": ("histogram", "1", "Commits between a projector and the head."),
    "ddbes.stream.clients": ("updown", "1", "Connected event stream clients."),
    "ddbes.stream.queue_depth": ("histogram", "1", "A stream client's queued frames."),
}


RECHECK = 1.0
"""Seconds for which whether an SDK is configured is remembered: the API's provider lookups
cost microseconds (an environment lookup each), an operation here must cost next to nothing,
and an application configures its SDK once, at startup (seen within this many seconds)."""

_checked: list[float | bool] = [float("-inf"), False, False]  # until, tracing, metering


def _check() -> list[float | bool]:
    checked = _checked
    now = time.monotonic()
    if now >= checked[0]:
        api = _otel()
        checked[1] = (
            api is not None and type(api[0].get_tracer_provider()).__name__ not in _PLACEHOLDERS
        )
        checked[2] = (
            api is not None and type(api[1].get_meter_provider()).__name__ not in _PLACEHOLDERS
        )
        checked[0] = now + RECHECK
    return checked


def recheck() -> None:
    """Look for a configured SDK at the next operation (after replacing the global providers
    in a test, say) rather than within :data:`RECHECK` seconds."""
    _checked[0] = float("-inf")


def tracing() -> bool:
    """Whether an SDK is configured for tracing (for work done only for a span, such as
    gathering its attributes on a path taken once per commit)."""
    checked = _checked
    if time.monotonic() >= checked[0]:  # rarely: inlined from _check() for the hot paths
        _check()
    return bool(checked[1])


def metering() -> bool:
    """Whether an SDK is configured for metrics (for work done only to be counted, such as
    asking DynamoDB for the capacity a request consumed)."""
    return bool(_check()[2])


def enabled() -> bool:
    """Whether an SDK is configured for tracing or for metrics (else ddbes reports nothing)."""
    return tracing() or metering()


_NO_SPAN = contextlib.nullcontext(None)  # reusable: what span() gives when not tracing


def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: str = "internal",
    links: list[Any] | None = None,
    start_time: int | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A span around the block, current inside it; yields it (``None`` when not tracing).

    An exception leaving the block is recorded on the span, which ends with an error status.

    Args:
        name: the span's name (``ddbes.commit``, ...).
        attributes: its attributes; ``None`` values are left out.
        kind: ``internal``, ``client``, ``server``, ``producer`` or ``consumer``.
        links: links to other spans (see :func:`link_from`).
        start_time: when the span began, in ``time.time_ns()`` nanoseconds (default: now),
            for a span opened once it is known to be worth one.
    """
    if not tracing():
        return _NO_SPAN  # no generator, no frame: next to free on hot paths
    return _span(name, attributes, kind, links, start_time)


@contextlib.contextmanager
def _span(
    name: str,
    attributes: Mapping[str, Any] | None,
    kind: str,
    links: list[Any] | None,
    start_time: int | None = None,
) -> Iterator[Any]:
    trace = _otel()[0]
    tracer = trace.get_tracer_provider().get_tracer(SCOPE)
    with tracer.start_as_current_span(
        name,
        kind=getattr(trace.SpanKind, kind.upper()),
        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
        links=links or None,
        start_time=start_time,
    ) as current:
        yield current


def event(current: Any, name: str, attributes: Mapping[str, Any] | None = None) -> None:
    """Add an event (a conflict, a retry) to ``current``, a span :func:`span` yielded."""
    if current is not None:
        current.add_event(name, {k: v for k, v in (attributes or {}).items() if v is not None})


def current_trace_id() -> str | None:
    """The trace id of the active span, as 32 hex digits; ``None`` when there is none."""
    if not tracing():
        return None
    context = _otel()[0].get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def trace_context() -> dict[str, str]:
    """The active span's W3C trace context (``{"traceparent": ...}``), for a commit's
    metadata; empty when there is no active span."""
    if not tracing():
        return {}
    carrier: dict[str, str] = {}
    _otel()[2]().inject(carrier)
    return {TRACEPARENT: carrier[TRACEPARENT]} if TRACEPARENT in carrier else {}


def link_from(metadata: Mapping[str, Any] | None) -> list[Any]:
    """Links to the span a commit was made in, from its metadata's ``traceparent`` (none
    when it has none, or when not tracing)."""
    if not metadata or not tracing():
        return []
    value = metadata.get(TRACEPARENT)
    if not isinstance(value, str):
        return []
    trace, _, propagator = _otel()
    context = propagator().extract({TRACEPARENT: value})
    span_context = trace.get_current_span(context).get_span_context()
    return [trace.Link(span_context)] if span_context.is_valid else []


def _instrument(name: str) -> Any:
    provider = _otel()[1].get_meter_provider()
    instrument = _INSTRUMENTS.get((id(provider), name))
    if instrument is None:
        meter = provider.get_meter(SCOPE)
        kind, unit, description = _KINDS[name]
        if kind == "histogram":
            instrument = meter.create_histogram(name, unit=unit, description=description)
        elif kind == "counter":
            instrument = meter.create_counter(name, unit=unit, description=description)
        else:
            instrument = meter.create_up_down_counter(name, unit=unit, description=description)
        _INSTRUMENTS[(id(provider), name)] = instrument
    return instrument


def record(name: str, value: float, attributes: Mapping[str, Any] | None = None) -> None:
    """Record ``value`` on the histogram or up-down counter ``name`` (see the module's list)."""
    if not metering():
        return
    instrument = _instrument(name)
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    if _KINDS[name][0] == "histogram":
        instrument.record(value, attrs)
    else:
        instrument.add(value, attrs)


def count(name: str, amount: float = 1, attributes: Mapping[str, Any] | None = None) -> None:
    """Add ``amount`` to the counter ``name`` (see the module's list)."""
    if not metering():
        return
    _instrument(name).add(amount, {k: v for k, v in (attributes or {}).items() if v is not None})

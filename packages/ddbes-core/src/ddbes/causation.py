"""Correlation and causation: the standard metadata of a commit made because of another.

A commit's metadata may carry two standard keys:

``causation_id``
    the ``commit_id`` of the commit whose handling made this one;
``correlation_id``
    the id shared by every commit of one business flow (a request, a saga): inherited from the
    causing commit, else that commit's id, else the trace id of the active OpenTelemetry span.

A projector sets the commit it is handling (:func:`handling`) around each handler call, so a
command a handler runs commits with both keys filled in; a process manager of your own does the
same with ``with handling(commit): ...``. :func:`metadata_for` is what a commit's metadata
becomes: the keys given win over the derived ones. With a span active, the commit also records
the span's W3C trace context (``traceparent``), so a projector's handler span links to it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

from ddbes import telemetry
from ddbes.model import Commit

__all__ = ["CAUSATION_ID", "CORRELATION_ID", "handled_commit", "handling", "metadata_for"]

CAUSATION_ID = "causation_id"
"""The metadata key of the id of the commit that caused this one."""

CORRELATION_ID = "correlation_id"
"""The metadata key of the id shared by the commits of one flow."""

_HANDLING: contextvars.ContextVar[Commit | None] = contextvars.ContextVar(
    "ddbes_handling", default=None
)


@contextlib.contextmanager
def handling(commit: Commit) -> Iterator[Commit]:
    """Within the block (this thread or task, and tasks it starts), commits are caused by
    ``commit``: their metadata gets its id as ``causation_id`` and its correlation id."""
    token = _HANDLING.set(commit)
    try:
        yield commit
    finally:
        _HANDLING.reset(token)


enter_handling = _HANDLING.set
"""``enter_handling(commit)``: :func:`handling` without the ``with`` block, for a path taken
once per commit (a projector's), where a generator's context manager costs more than many
handlers do. Returns the token to give :data:`exit_handling`, in a ``finally``."""

exit_handling = _HANDLING.reset
"""``exit_handling(token)``: the end of what :data:`enter_handling` began."""


def handled_commit() -> Commit | None:
    """The commit being handled here (see :func:`handling`), if any."""
    return _HANDLING.get()


def metadata_for(given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of a commit made here: ``given`` (whose keys win), plus ``causation_id``
    and ``correlation_id`` from the commit being handled or the active span, plus the active
    span's ``traceparent``. Empty when there is nothing to say."""
    metadata: dict[str, Any] = dict(given) if given else {}
    cause = _HANDLING.get()
    if cause is None and not telemetry.enabled():
        return metadata  # the common case, kept cheap
    if cause is not None:
        metadata.setdefault(CAUSATION_ID, cause.commit_id)
        metadata.setdefault(CORRELATION_ID, cause.metadata.get(CORRELATION_ID, cause.commit_id))
    if telemetry.enabled():
        trace_id = telemetry.current_trace_id()
        if trace_id is not None:
            metadata.setdefault(CORRELATION_ID, trace_id)
        for key, value in telemetry.trace_context().items():
            metadata.setdefault(key, value)
    return metadata

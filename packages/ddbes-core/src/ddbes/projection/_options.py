"""The options of :class:`~ddbes.projection.projector.Projector`, checked when it is built."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ddbes.projection._parking import POLICIES
from ddbes.retry import RetryPolicy

__all__ = ["NEW_READ_MODEL_ACTIONS", "check_options", "refuse_sync_only"]

NEW_READ_MODEL_ACTIONS = ("refuse", "warn", "reset")
"""The values of ``Projector(on_new_read_model=...)``."""


def check_options(
    handlers: Mapping[str, Any],
    *,
    name: str,
    poll_interval: float,
    lease_ttl: float,
    batch_size: int,
    parallel: int,
    retry: RetryPolicy | None,
    version: int,
    on_failure: str,
    on_new_read_model: str,
    read_model_is_new: Callable[[], bool] | None,
    inline: bool,
    slots: int | None,
    lease_store: object,
    asynchronous: bool = False,
) -> None:
    """Refuse a Projector's (or with ``asynchronous``, an AsyncProjector's) bad options.

    Raises:
        ValueError, TypeError: saying which option is wrong, and how.
    """
    if not isinstance(handlers, Mapping) or not handlers:
        raise ValueError("a Projector needs a mapping of aggregate type -> handler")
    for kind, handler in handlers.items():
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"handler keys are aggregate types or '*', got {kind!r}")
        if not callable(handler):
            raise TypeError(f"the handler for {kind!r} is not callable: {handler!r}")
        if not asynchronous and inspect.iscoroutinefunction(handler):
            raise TypeError(
                f"the handler for {kind!r} is an async def function, which a Projector would "
                "call without awaiting: run it in a ddbes.AsyncProjector, or make it a plain "
                "function"
            )
    if not isinstance(name, str) or not name:
        raise ValueError(f"a Projector needs a non-empty name, got {name!r}")
    if not poll_interval > 0 or not lease_ttl > 0:
        raise ValueError("poll_interval and lease_ttl must be positive numbers of seconds")
    for option, value in (("batch_size", batch_size), ("parallel", parallel)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{option} must be an int >= 1, got {value!r}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a ddbes.RetryPolicy, got {retry!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be an int >= 1, got {version!r}")
    if on_failure not in POLICIES:
        raise ValueError(f"on_failure must be one of {POLICIES}, got {on_failure!r}")
    if on_new_read_model not in NEW_READ_MODEL_ACTIONS:
        raise ValueError(
            f"on_new_read_model must be one of {NEW_READ_MODEL_ACTIONS}, got {on_new_read_model!r}"
        )
    if read_model_is_new is not None and not callable(read_model_is_new):
        raise TypeError(f"read_model_is_new must be callable, got {read_model_is_new!r}")
    if inline and parallel > 1:
        raise ValueError("inline=True handles commits one at a time: use it with parallel=1")
    if slots is not None:
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise ValueError(f"slots must be an int >= 1, got {slots!r}")
        if lease_store is None or parallel > 1 or inline:
            raise ValueError(
                "a consumer group (slots=N) needs a lease_store, parallel=1 and no inline"
            )


_SYNC_ONLY = (
    "{option} is not supported by AsyncProjector yet: {what} run only on the sync "
    "ddbes.Projector for now (in a thread of its own, beside the event loop). Run one "
    "AsyncProjector per name, or use ddbes.Projector(..., {option}=...)"
)


def refuse_sync_only(
    *, lease_store: object, slots: object, parallel: object, inline: object
) -> None:
    """Refuse the options only the sync Projector has, for now, when given to AsyncProjector.

    Raises:
        ValueError: naming the option, and what to use instead.
    """
    for option, given, what in (
        ("lease_store", lease_store is not None, "leases shared by many processes"),
        ("slots", slots is not None, "consumer groups"),
        ("parallel", parallel != 1, "parallel handler workers"),
        ("inline", bool(inline), "inline handling in the appending thread"),
    ):
        if given:
            raise ValueError(_SYNC_ONLY.format(option=option, what=what))

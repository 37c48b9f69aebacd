"""Atomic commits across aggregates: :class:`UnitOfWork`, :class:`AsyncUnitOfWork` and
:func:`unit_command`.

One business action that touches several aggregates (a transfer debits one account and
credits another) stages a commit on each, then saves them in **one transaction**: all are
stored, or none is. A version conflict on any of them names that aggregate, and
``unit_command(retry=True)`` re-runs the whole action on fresh state::

    @ddbes.unit_command(retry=True)
    def transfer(unit: ddbes.UnitOfWork, source: str, target: str, amount: int) -> None:
        unit.commit(Account.load(source), {"type": "Debited", "amount": amount})
        unit.commit(Account.load(target), {"type": "Credited", "amount": amount})

    transfer("alice", "bob", 5)

The unit's commits that share a log partition take consecutive positions in it, so readers
see them together. The limits are DynamoDB's for one transaction (``CommitTooLarge`` names
them, before anything is written); see ``CommitStore.append_all``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._shells import run_async, run_sync
from ddbes.aggregates._unit import Staged, saving, staging, unit_commanding
from ddbes.aggregates.commands import as_policy
from ddbes.model import Commit
from ddbes.retry import RetryPolicy

__all__ = ["AsyncUnitOfWork", "UnitOfWork", "unit_command"]

F = TypeVar("F", bound=Callable[..., Any])


class _Unit:
    """What both units hold: the staged commits, in the order they were staged."""

    _asynchronous = False

    def __init__(self) -> None:
        self._staged: list[Staged] = []
        self._closed = False

    def commit(
        self,
        aggregate: AggregateBase,
        event_or_events: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Stage a commit of ``event_or_events`` (one event or a list, dicts or instances of
        the aggregate's ``event_types``) on ``aggregate``, with ``metadata``.

        Nothing is written until :meth:`save`; the events are checked and folded into a copy
        of the aggregate's state now, so an event its reducer rejects raises here.

        Raises:
            ValueError: ``aggregate`` already has a commit in this unit, or uses another
                commit store than the unit's other aggregates.
            TypeError: an aggregate of the other API (sync in an async unit or the reverse).
            RuntimeError: the unit was saved or discarded.
            InvalidEvent, ReducerFailed: as for ``Aggregate.commit`` (the reducer rejected an
                event: nothing is staged).
        """
        if self._closed:
            raise RuntimeError("this unit was saved or discarded: start a new one")
        staging(self._staged, aggregate, event_or_events, metadata, asynchronous=self._asynchronous)

    @property
    def commits(self) -> list[Commit]:
        """The staged commits (their versions, ids and times), in order."""
        return [one.commit for one in self._staged]

    def discard(self) -> None:
        """Drop the staged commits without writing them."""
        self._staged.clear()
        self._closed = True

    def __len__(self) -> int:
        return len(self._staged)

    def __repr__(self) -> str:
        staged = ", ".join(one.aggregate.aggregate_id for one in self._staged)
        return f"{type(self).__name__}([{staged}])"


class UnitOfWork(_Unit):
    """Commits on several :class:`~ddbes.Aggregate` instances, saved in one transaction.

    Stage a commit per aggregate with :meth:`commit`, then :meth:`save`. As a context
    manager it saves when the block ends without an exception and discards otherwise::

        with ddbes.UnitOfWork() as unit:
            unit.commit(source, {"type": "Debited", "amount": 5})
            unit.commit(target, {"type": "Credited", "amount": 5})

    Every aggregate must use the same commit store. After a successful save each aggregate
    is at its new version, as after ``commit``; after a failed one none has changed.
    """

    def save(self) -> list[Commit]:
        """Write the staged commits in one transaction, and advance their aggregates.

        Returns:
            The stored commits, in the order staged (an empty unit writes nothing).

        Raises:
            VersionConflict: another writer took a version (``aggregate_id`` names which);
                nothing was written. Load the aggregates again and retry, or use
                :func:`unit_command` with ``retry``.
            CommitTooLarge: the unit is over a transaction's limits (the message names them);
                nothing was written.
            CommitInProgress: an aggregate is committing elsewhere in this process.
            StoreUnavailable: the outcome is unknown; :meth:`save` again stores the unit once.
            RuntimeError: the unit was discarded.
        """
        if self._closed:
            raise RuntimeError("this unit was saved or discarded: start a new one")
        stored = run_sync(saving(self._staged))
        self._closed = True
        return stored

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None and not self._closed:
            self.save()
        elif not self._closed:
            self.discard()


class AsyncUnitOfWork(_Unit):
    """:class:`UnitOfWork` for :class:`~ddbes.AsyncAggregate` instances: ``await
    unit.save()``, or ``async with ddbes.AsyncUnitOfWork() as unit: ...``."""

    _asynchronous = True

    async def save(self) -> list[Commit]:
        """Write the staged commits in one transaction: :meth:`UnitOfWork.save`."""
        if self._closed:
            raise RuntimeError("this unit was saved or discarded: start a new one")
        stored = await run_async(saving(self._staged))
        self._closed = True
        return stored

    async def __aenter__(self) -> AsyncUnitOfWork:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None and not self._closed:
            await self.save()
        elif not self._closed:
            self.discard()


@overload
def unit_command(func: F, *, retry: bool | RetryPolicy = False) -> F: ...


@overload
def unit_command(func: None = None, *, retry: bool | RetryPolicy = False) -> Callable[[F], F]: ...


def unit_command(
    func: F | None = None, *, retry: bool | RetryPolicy = False
) -> F | Callable[[F], F]:
    """Decorate a function whose first parameter is a unit: calling it (without the unit)
    runs it with a new :class:`UnitOfWork` (an :class:`AsyncUnitOfWork` for ``async def``)
    and saves the unit when it returns; an exception discards it.

    With ``retry`` truthy (``True`` for the default :class:`~ddbes.RetryPolicy`, or a
    policy), a ``VersionConflict`` re-runs the whole function with a new unit: load the
    aggregates inside it, so that it decides again on fresh state. Usable as
    ``@unit_command``, ``@unit_command(retry=True)`` or ``unit_command(f, retry=True)``.
    """

    def decorate(command: F) -> F:
        policy = as_policy(retry)
        if inspect.iscoroutinefunction(command):

            @functools.wraps(command)
            async def run_async_unit(*args: Any, **kwargs: Any) -> Any:
                return await run_async(
                    unit_commanding(command, args, kwargs, policy, AsyncUnitOfWork)
                )

            return cast("F", run_async_unit)

        @functools.wraps(command)
        def run_sync_unit(*args: Any, **kwargs: Any) -> Any:
            return run_sync(unit_commanding(command, args, kwargs, policy, UnitOfWork))

        return cast("F", run_sync_unit)

    return decorate if func is None else decorate(func)

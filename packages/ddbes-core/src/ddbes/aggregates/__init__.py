"""The aggregates wing: event-sourced aggregates, sync (:class:`Aggregate`) and asyncio
(:class:`AsyncAggregate`), on one sans-I/O core.

The core's operations are generators of requests (:mod:`ddbes.aggregates._requests`): loading
(:mod:`~ddbes.aggregates._loading`, :mod:`~ddbes.aggregates.snapshot_loading`), committing
(:mod:`~ddbes.aggregates._committing`), conflict retries and the commit deadline
(:mod:`~ddbes.aggregates._retrying`), creating (:mod:`~ddbes.aggregates._creating`) and retried
commands (:mod:`~ddbes.aggregates.commands`). The two shells (:mod:`~ddbes.aggregates._shells`)
perform the requests with blocking calls or with awaits.
"""

from ddbes.aggregates.aggregate import Aggregate
from ddbes.aggregates.async_aggregate import AsyncAggregate
from ddbes.aggregates.commands import aggregate_command
from ddbes.aggregates.creation import create_method
from ddbes.aggregates.keys import KeyPart
from ddbes.aggregates.unit_of_work import AsyncUnitOfWork, UnitOfWork, unit_command

__all__ = [
    "Aggregate",
    "AsyncAggregate",
    "AsyncUnitOfWork",
    "KeyPart",
    "UnitOfWork",
    "aggregate_command",
    "create_method",
    "unit_command",
]

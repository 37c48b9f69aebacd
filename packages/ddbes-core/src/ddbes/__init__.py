"""ddbes: an event store for Python applications on Amazon DynamoDB.

This is the pure core (standard library only): ports, aggregates and projectors (sync and
asyncio, each pair on one sans-I/O core), stream filters, and in-memory adapters. Adapters live in
``ddbes_dynamodb``, ``ddbes_s3``, ``ddbes_ws``.
"""

from ddbes.aggregates import (
    Aggregate,
    AsyncAggregate,
    AsyncUnitOfWork,
    KeyPart,
    UnitOfWork,
    aggregate_command,
    create_method,
    unit_command,
)
from ddbes.model import Commit, Snapshot
from ddbes.projection import AsyncProjector, Projector
from ddbes.retry import RetryPolicy
from ddbes.settings import config

__all__ = [
    "Aggregate",
    "AsyncAggregate",
    "AsyncProjector",
    "AsyncUnitOfWork",
    "Commit",
    "KeyPart",
    "Projector",
    "RetryPolicy",
    "Snapshot",
    "UnitOfWork",
    "aggregate_command",
    "config",
    "create_method",
    "unit_command",
]

__version__ = "0.1.0"

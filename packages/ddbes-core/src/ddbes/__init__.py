"""ddbes: an event store for Python applications on Amazon DynamoDB.

This is the pure core (standard library only): ports, aggregates, the projector, stream
filters, and in-memory adapters. Adapters live in ``ddbes_dynamodb``, ``ddbes_s3``, ``ddbes_ws``.
"""

from ddbes.aggregate import Aggregate, aggregate_command
from ddbes.creation import create_method
from ddbes.keys import KeyPart
from ddbes.model import Commit, Snapshot
from ddbes.projection import Projector
from ddbes.retry import RetryPolicy
from ddbes.settings import config

__all__ = [
    "Aggregate",
    "Commit",
    "KeyPart",
    "Projector",
    "RetryPolicy",
    "Snapshot",
    "aggregate_command",
    "config",
    "create_method",
]

__version__ = "0.1.0"

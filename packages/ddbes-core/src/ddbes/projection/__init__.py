"""The projection wing: projectors that keep read models in step with the global log, and what
operates them (checkpoints, leases, parked commits, status).

``from ddbes import Projector`` (or ``AsyncProjector``) and
``from ddbes.projector import Projector`` keep working.
"""

from ddbes.projection.async_projector import AsyncProjector
from ddbes.projection.projector import DEFAULT_RETRY, Handler, Projector, ProjectorProgress
from ddbes.projection.status import ProjectorStatus

__all__ = [
    "DEFAULT_RETRY",
    "AsyncProjector",
    "Handler",
    "Projector",
    "ProjectorProgress",
    "ProjectorStatus",
]

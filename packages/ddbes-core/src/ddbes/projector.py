"""The projector's public import path (``from ddbes.projector import Projector``); it lives in
the :mod:`ddbes.projection` wing."""

from ddbes.projection.projector import (
    DEFAULT_RETRY,
    Handler,
    Projector,
    ProjectorProgress,
    ProjectorStatus,
)

__all__ = ["DEFAULT_RETRY", "Handler", "Projector", "ProjectorProgress", "ProjectorStatus"]

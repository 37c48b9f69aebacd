"""Projector leases' public import path (``from ddbes.leases import InMemoryLeaseStore``); they
live in :mod:`ddbes.projection.leases`."""

from ddbes.projection.leases import (
    InMemoryLeaseStore,
    Lease,
    LeaseKeeper,
    LeaseStore,
    check_lease_arguments,
)

__all__ = ["InMemoryLeaseStore", "Lease", "LeaseKeeper", "LeaseStore", "check_lease_arguments"]

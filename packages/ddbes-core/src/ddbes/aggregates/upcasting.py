"""Read-time upcasters: stored events are transformed, never rewritten.

``upcasters = {"ItemAdded": {0: up0, 1: up1}}`` upgrades an ``ItemAdded`` event whose own
``"version"`` field is 0 (or missing) with ``up0``, stamps it ``version: 1``, then applies ``up1``
and so on, until there is no upcaster for the event's version. A chain with a hole (upcasters
for versions 0 and 2 but not 1) cannot bring an event below the hole up to date: that event is
an :class:`~ddbes.errors.InvalidEvent`, never silently handed over half upgraded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from ddbes.errors import InvalidEvent
from ddbes.model import Event

__all__ = ["Upcasters", "upcast_event", "upcasters_checksum"]

Upcasters = Mapping[str, Mapping[int, Callable[[Event], Event]]]

_MAX_CHAIN = 10_000


def upcast_event(event: Event, upcasters: Upcasters) -> Event:
    """``event`` upgraded through every upcaster that applies, chained by its ``"version"``.

    Raises:
        InvalidEvent: an upcaster returned something that is not an event dict with a ``type``,
            or the chain has no upcaster for the event's version but has one for a later version.
    """
    chain = upcasters.get(event.get("type", ""))
    if not chain:
        return event
    for _ in range(_MAX_CHAIN):
        version = event.get("version") or 0
        upcaster = chain.get(version)
        if upcaster is None:
            if any(later > version for later in chain):
                raise InvalidEvent(
                    f"no upcaster for {event.get('type')!r} version {version}, but there are "
                    f"upcasters for versions {sorted(chain)}: add the missing step"
                )
            return event
        upgraded = upcaster(dict(event))
        if not isinstance(upgraded, dict) or not isinstance(upgraded.get("type"), str):
            raise InvalidEvent(
                f"upcaster {event.get('type')!r} v{version} returned {upgraded!r}, "
                "not an event dict"
            )
        event = {**upgraded, "version": version + 1}
    raise InvalidEvent(f"upcasters for {event.get('type')!r} do not terminate")


def upcasters_checksum(upcasters: Upcasters, snapshot_version: Any = 0) -> str:
    """A checksum of the upcasters' event types and versions, and of ``snapshot_version``.

    Snapshots are stamped with it; one stamped with another checksum was made by other code and
    is ignored. Upcaster bodies cannot be hashed reliably: bump ``snapshot_version`` when a
    reducer or an upcaster body changes.
    """
    shape = {kind: sorted(int(v) for v in chain) for kind, chain in sorted(upcasters.items())}
    text = json.dumps({"upcasters": shape, "snapshot_version": snapshot_version}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]

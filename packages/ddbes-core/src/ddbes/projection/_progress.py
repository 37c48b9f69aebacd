"""Progress reporting: where a projector stands, told to ``on_progress`` and to the log."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ddbes import telemetry
from ddbes.projection._partition import Partition

__all__ = ["LOG_INTERVAL", "ProgressReporter", "ProjectorProgress", "measure_progress"]

LOG_INTERVAL = 10.0
"""Seconds between progress lines in the log while catching up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectorProgress:
    """Where a projector stands; passed to ``on_progress`` and returned by :meth:`Projector.run`.

    ``positions``: per log partition, the position up to which every commit has been handled
    (the saved checkpoint trails it by less than a batch). ``heads``: the newest positions the
    projector knows of. ``lag_seconds``: while commits remain, the age by the projector's clock
    of the newest commit it handled (``None`` before it handled one); 0 when caught up.
    ``parked``: how many aggregates are parked (``on_failure="park"``); ``last_error``: the
    last error that parked a commit or stopped the projector, or ``None``.
    """

    name: str
    positions: Mapping[int, int]
    heads: Mapping[int, int]
    handled: int
    lag_commits: int
    lag_seconds: float | None
    caught_up: bool
    parked: int = 0
    last_error: str | None = None


def measure_progress(
    name: str,
    parts: Sequence[tuple[int, int, int, datetime | None]],
    handled: int,
    now: Callable[[], datetime],
    *,
    parked: int = 0,
    last_error: str | None = None,
) -> ProjectorProgress:
    """The progress of a projector whose partitions are ``(number, position, head, last_at)``.

    ``now`` is called only while commits remain.
    """
    lag = sum(head - position for _, position, head, _ in parts)
    ages = [at for _, position, head, at in parts if head > position]
    seconds: float | None = 0.0
    if ages:
        current = now()
        seconds = None if None in ages else max((current - a).total_seconds() for a in ages if a)
    return ProjectorProgress(
        name=name,
        positions={n: position for n, position, _, _ in parts},
        heads={n: head for n, _, head, _ in parts},
        handled=handled,
        lag_commits=lag,
        lag_seconds=seconds,
        caught_up=lag == 0,
        parked=parked,
        last_error=last_error,
    )


class _Observed(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def on_progress(self) -> Callable[[ProjectorProgress], object] | None: ...

    @property
    def progress(self) -> ProjectorProgress: ...


class ProgressReporter:
    """Tells a projector's ``on_progress`` and log how one run goes.

    ``on_progress`` hears after every checkpoint save, on catching up and on stopping; errors in
    it are logged and ignored. The log gets a line every :data:`LOG_INTERVAL` seconds, one on
    catching up and one on stopping.
    """

    def __init__(self, projector: _Observed, log: Any) -> None:
        self._projector = projector
        self._log = log
        self._caught_up = False
        self._started = self._last_log = time.monotonic()

    def emit(self, progress: ProjectorProgress) -> None:
        """Pass ``progress`` to ``on_progress``, if the projector has one."""
        on_progress = self._projector.on_progress
        if on_progress is not None:
            try:
                on_progress(progress)
            except Exception:
                self._log.exception("projector %r: on_progress failed", self._projector.name)

    def report(self) -> None:
        """After a batch: tell ``on_progress``, and the log when a line is due."""
        due = time.monotonic() - self._last_log >= LOG_INTERVAL
        metering = telemetry.enabled()
        if self._projector.on_progress is None and not due and not metering:
            return
        progress = self._projector.progress
        if metering:
            telemetry.record(
                "ddbes.projector.lag",
                progress.lag_commits,
                {"ddbes.projector": self._projector.name},
            )
        self.emit(progress)
        if due:
            self._last_log = time.monotonic()
            self._log.info(
                "projector %r: %d commits handled, %d behind (%s s), positions %s, heads %s",
                self._projector.name, progress.handled, progress.lag_commits,
                progress.lag_seconds, dict(progress.positions), dict(progress.heads),
            )  # fmt: skip

    def observe(self, caught_up: bool, handled: int, parts: Sequence[Partition]) -> None:
        """Log when the projector catches up (and tell ``on_progress``)."""
        if caught_up and not self._caught_up:
            self._log.info(
                "projector %r caught up after %d commits: positions %s",
                self._projector.name, handled, {p.number: p.position for p in parts},
            )  # fmt: skip
            self.emit(self._projector.progress)
        self._caught_up = caught_up

    def stopped(self) -> None:
        """Tell ``on_progress`` and the log where the projector stopped."""
        progress = self._projector.progress
        self.emit(progress)
        self._log.info(
            "projector %r stopped: %d commits handled in %.1f s, positions %s, heads %s",
            self._projector.name, progress.handled, time.monotonic() - self._started,
            dict(progress.positions), dict(progress.heads),
        )  # fmt: skip

"""A progress bar on stderr for ``ddbes replay``: redrawn in place on a terminal, a line at
most every second elsewhere (logs, pipes)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["ProgressBar"]

_WIDTH = 30


class ProgressBar:
    """Draws ``label [#####-----] done/total unit pct`` (``label: no unit to process`` while
    the total is 0), and with ``rate`` the units per second since the first update;
    ``update`` is thread-safe."""

    def __init__(
        self,
        label: str,
        *,
        unit: str = "commits",
        stream: TextIO | None = None,
        rate: bool = False,
    ) -> None:
        self._label = label
        self._rate = rate
        self._started: tuple[float, int] | None = None  # (time, done) of the first update
        self._unit = unit
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._interval = 0.05 if self._tty else 1.0
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._last_line = ""
        self._done = 0
        self._total = 0

    def update(self, done: int, total: int, *, force: bool = False) -> None:
        """Record progress; draw it when enough time has passed (or ``force``)."""
        with self._lock:
            self._done, self._total = done, max(total, done)
            now = time.monotonic()
            if self._started is None:
                self._started = (now, done)
            if not force and now - self._last_draw < self._interval:
                return
            self._last_draw = now
            self._draw(final=False)

    def update_from(self, progress: Any) -> None:
        """Record a :class:`ddbes.projection.projector.ProjectorProgress`: positions over heads."""
        self.update(sum(progress.positions.values()), sum(progress.heads.values()))

    def finish(self) -> None:
        """Draw the final state and end the line."""
        with self._lock:
            self._draw(final=True)

    def _line(self) -> str:
        total = self._total
        if total == 0:
            return f"{self._label}: no {self._unit} to process"
        fraction = self._done / total
        filled = round(fraction * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        line = f"{self._label} [{bar}] {self._done}/{total} {self._unit} {fraction * 100:3.0f}%"
        if self._rate and self._started is not None:
            elapsed = time.monotonic() - self._started[0]
            if elapsed > 0:
                line += f" {(self._done - self._started[1]) / elapsed:,.0f} {self._unit}/s"
        return line

    def _draw(self, *, final: bool) -> None:
        line = self._line()
        if self._tty:
            self._stream.write("\r" + line + ("\n" if final else ""))
        elif line != self._last_line:
            self._stream.write(line + "\n")
        self._last_line = line
        self._stream.flush()

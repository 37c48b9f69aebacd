"""One connection's session on the server: its state, and the loop that writes its frames.

The session is owned by the event loop and never touched from threads. The log reader and the
fan-out fill its buffer (:attr:`Session.frames`); :meth:`Session.send_loop` drains it to the
socket, and adds checkpoint frames (the cursor passed commits the filter hides) and heartbeats
(nothing was sent for a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ddbes_ws import protocol
from ddbes_ws._budget import FilterBudget
from ddbes_ws._sharing import SharedFilter
from ddbes_ws.protocol import CloseCode

__all__ = ["Frame", "Session"]

Frame = tuple[str | bytes, int, int]
"""A text frame (UTF-8 bytes when shared between clients: encoded once), its log partition and
position (-1, -1 for control frames)."""


class Session:
    """One connection's state: owned by the event loop, never touched from threads."""

    def __init__(
        self, ws: ServerConnection, principal: Any, budget: FilterBudget | None = None
    ) -> None:
        now = time.monotonic()
        self.ws = ws
        self.principal = principal
        self.budget = budget
        self.legacy: bool | None = None  # decided by the first valid frame
        self.filter: SharedFilter | None = None
        self.cursor: list[int] = []
        self.live = False
        self.frames: deque[Frame] = deque()
        self.wakeup = asyncio.Event()
        self.drained = asyncio.Event()
        self.closing = False
        self.close_after: tuple[int, str] | None = None
        self.sent_position: list[int] = []
        self.last_sent = now
        self.last_position_sent = now
        self.moved = False  # the cursor passed hidden commits since the last position sent
        self.bad_frames = 0
        self.frames_sent = 0
        self.catch_up: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None

    @property
    def peer(self) -> str:
        address = self.ws.remote_address
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)

    async def send_loop(
        self,
        *,
        buffer_size: int,
        heartbeat_interval: float,
        checkpoint_interval: float,
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        """Send the queued frames, checkpoints and heartbeats until the session closes."""
        ws = self.ws
        try:
            while True:
                while self.frames:
                    text, p, position = self.frames.popleft()
                    await ws.send(text, text=True)  # bytes: encoded once for every client
                    self.frames_sent += 1
                    self.last_sent = time.monotonic()
                    if position >= 0 and not self.legacy:
                        self.sent_position[p] = position
                        self.last_position_sent = self.last_sent
                    if len(self.frames) <= buffer_size // 2:
                        self.drained.set()
                self.drained.set()
                if self.close_after is not None:
                    await ws.close(*self.close_after)
                    return
                if self.closing:
                    return
                timeout = heartbeat_interval
                if self.filter is not None and not self.legacy:
                    now = time.monotonic()
                    if self.sent_position != self.cursor:
                        wait = self.last_position_sent + checkpoint_interval - now
                        if wait <= 0:
                            self.moved = False
                            self.sent_position = list(self.cursor)
                            self.last_position_sent = self.last_sent = now
                            await ws.send(protocol.checkpoint_frame(self.cursor))
                            continue
                        timeout = min(timeout, wait)
                    silent = now - self.last_sent
                    if silent >= heartbeat_interval:
                        self.last_sent = now
                        await ws.send(protocol.heartbeat_frame())
                        continue
                    timeout = min(timeout, heartbeat_interval - silent)
                self.wakeup.clear()
                if not self.frames and self.close_after is None and not self.closing:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(timeout, 0.001)):
                            await self.wakeup.wait()
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("sending to %s failed", self.peer)
            await ws.close(CloseCode.INTERNAL_ERROR, "internal error")

"""The client's buffer: entries received but not yet consumed, bounded, and the stream's end.

The connection puts entries in and waits for room when it is full (so it stops reading, and the
server may close it as a slow consumer); the consumer takes them out and waits for them when it
is empty, until the stream ends.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ddbes_ws._items import Entry

__all__ = ["Buffer"]


class Buffer:
    """A bounded queue of :data:`~ddbes_ws._items.Entry` between the connection and the consumer."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: deque[Entry] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._ended = False
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    async def put(self, entry: Entry) -> None:
        """Add ``entry``, waiting for room first."""
        while len(self._entries) >= self._size:
            self._room.clear()
            await self._room.wait()
        self._entries.append(entry)
        self._arrived.set()

    async def get(self) -> Entry | None:
        """The next entry, waiting for one; ``None`` once the stream ended without an error.

        Raises:
            BaseException: the error the stream ended with, once the entries before it are taken.
        """
        while True:
            if self._entries:
                entry = self._entries.popleft()
                if len(self._entries) < self._size:
                    self._room.set()
                return entry
            if self._ended:
                if self._error is not None:
                    raise self._error
                return None
            self._arrived.clear()
            await self._arrived.wait()

    def end(self, error: BaseException | None) -> bool:
        """End the stream (with ``error``) after the entries buffered; false if it had ended."""
        if self._ended:
            return False
        self._ended = True
        self._error = error
        self._arrived.set()
        return True

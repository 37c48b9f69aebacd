"""The client's side of the JavaScript library's dialect, for ``EventStream(legacy=True)``:
talking to a server of the JavaScript ddbes (or to :class:`~ddbes_ws.EventStreamServer`, which
speaks it too) while a migration runs.

The dialect (``docs/protocol.md``): the client sends the bare JSON array of filter sets; the
server sends one JSON object per event, the event's fields merged with the commit's
``aggregateType``, ``aggregateKey``, ``commitId``, ``version``, ``active`` and ``committedAt``
(which win over same-named event fields). Nothing else: no acknowledgement, no positions, no
heartbeats, no errors. So a legacy stream

- **cannot resume**: it starts with the commits the server sees after the subscription, and a
  lost connection ends the stream (``StreamUnavailable``) instead of reconnecting, because the
  events committed in between would be lost without a word;
- gives items with ``position`` and ``log_partition`` 0, and an ``event_index`` counted among
  the events received of that commit (the server's filters may have hidden others);
- loses an event's own fields named like the commit's (its ``version``, say): the server
  overwrote them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ddbes.codec import parse_time
from ddbes_ws._connection import Connection
from ddbes_ws._items import StreamItem
from ddbes_ws.errors import StreamUnavailable

__all__ = ["COMMIT_FIELDS", "LegacyConnection", "legacy_item"]

_log = logging.getLogger("ddbes_ws.client")

COMMIT_FIELDS = ("aggregateType", "aggregateKey", "commitId", "version", "active", "committedAt")
"""The commit's fields the JavaScript server merged into each event."""


def legacy_item(frame: Any, event_index: int) -> StreamItem | None:
    """The item of one legacy frame, ``None`` when the frame is not an event."""
    if not isinstance(frame, dict):
        return None
    event = {name: value for name, value in frame.items() if name not in COMMIT_FIELDS}
    kind = event.get("type")
    version = frame.get("version")
    if not isinstance(kind, str) or not kind or type(version) is not int:
        return None
    try:
        committed_at = parse_time(str(frame.get("committedAt")))
    except ValueError:
        return None
    return StreamItem(
        type=kind,
        event=event,
        aggregate_type=str(frame.get("aggregateType", "")),
        aggregate_key=str(frame.get("aggregateKey", "")),  # absent for an empty key
        commit_id=str(frame.get("commitId", "")),
        version=version,
        committed_at=committed_at,
        position=0,
        log_partition=0,
        event_index=event_index,
    )


class LegacyConnection(Connection):
    """A subscription in the JavaScript dialect: one connection, no resume (see the module)."""

    _last_commit: tuple[Any, ...] | None = None
    _index = 0

    async def open(self) -> ClientConnection:
        """Connect and send the filter sets; the dialect has no answer to wait for."""
        ws = await self._connect()
        try:
            await ws.send(json.dumps(self.filters, separators=(",", ":")))
        except ConnectionClosed as exc:
            await ws.close()
            raise StreamUnavailable(f"{self.url} closed the connection while subscribing") from exc
        self.ws = ws
        return ws

    async def _take(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        commit = None
        if isinstance(frame, dict):
            commit = tuple(frame.get(name) for name in COMMIT_FIELDS[:4])
        self._index = self._index + 1 if commit is not None and commit == self._last_commit else 0
        self._last_commit = commit
        item = legacy_item(frame, self._index)
        if item is None:
            _log.warning(
                "skipping a frame from %s that is not an event of the JavaScript dialect: %.200r",
                self.url,
                message,
            )
            return
        await self._buffer.put((item, True))

    async def run(self, ws: ClientConnection) -> None:
        """Pump ``ws`` until the connection ends; a lost connection ends the stream."""
        try:
            async for message in ws:
                await self._take(message)
        except ConnectionClosed:
            pass
        except Exception as exc:
            failed = StreamUnavailable(f"the legacy stream from {self.url} failed: {exc}")
            await self._on_end(failed)
            return
        code = ws.close_code
        if code == 1000:
            await self._on_end(None)
            return
        await self._on_end(
            StreamUnavailable(
                f"lost the connection to {self.url} (close code {code}): a legacy stream "
                "cannot resume, and events committed meanwhile would be missed, so it ends here; "
                "subscribe again and reconcile, or use a ddbes server and resume after a position"
            )
        )

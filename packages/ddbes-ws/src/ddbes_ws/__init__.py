"""ddbes-ws: stream the ddbes commit log to websocket clients.

:class:`EventStreamServer` reads the global log once for all its clients and pushes the events
each client's filter lets through; :class:`EventStream` is the client, with resume, reconnects,
``async for``, callbacks and a blocking iterator. The wire protocol is in ``docs/protocol.md``.
"""

from ddbes_ws.client import EventStream, StreamItem
from ddbes_ws.errors import StreamError, StreamRefused, StreamUnavailable
from ddbes_ws.protocol import PROTOCOL_VERSION, CloseCode
from ddbes_ws.server import EventStreamServer, StreamRequest

__all__ = [
    "PROTOCOL_VERSION",
    "CloseCode",
    "EventStream",
    "EventStreamServer",
    "StreamError",
    "StreamItem",
    "StreamRefused",
    "StreamRequest",
    "StreamUnavailable",
]

"""``ddbes tail [URL]``: print the events an event stream server sends, as they come.

Filters are the stream's filter language (``docs/protocol.md``). ``--aggregate-type``,
``--aggregate-key`` and ``--type`` build one filter set (each repeatable: any of the values);
every ``--filter JSON`` adds a set (or a list of sets); an event matching any set is shown.
Without filters every event is shown. Runs until Ctrl-C, SIGTERM, or ``--count`` events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from ddbes_cli import _exit
from ddbes_cli._runtime import UsageError, add_json_option, print_json, say
from ddbes_cli._stream_tls import add_client_options, client_headers, client_ssl

__all__ = ["filter_sets", "register"]


def register(subparsers: Any) -> None:
    """Add ``tail``."""
    tail = subparsers.add_parser(
        "tail", help="print events from an event stream server", description=__doc__
    )
    tail.add_argument(
        "url", nargs="?", default="ws://127.0.0.1:8765", help="default ws://127.0.0.1:8765"
    )
    tail.add_argument("--aggregate-type", action="append", metavar="TYPE", default=[])
    tail.add_argument("--aggregate-key", action="append", metavar="KEY", default=[])
    tail.add_argument("--type", action="append", metavar="EVENT_TYPE", default=[])
    tail.add_argument(
        "--filter",
        action="append",
        metavar="JSON",
        default=[],
        help='a filter set, e.g. \'{"aggregateType": {"regexp": "^Cust"}}\', or a list of them',
    )
    tail.add_argument(
        "--after",
        metavar="POSITION",
        help="resume after this position (one per log partition: 12,40); default: the head",
    )
    tail.add_argument("--count", type=int, metavar="N", help="exit after N events")
    tail.add_argument(
        "--legacy",
        action="store_true",
        help="speak the JavaScript ddbes's dialect, to its servers: no positions, so no "
        "--after and no reconnect (a lost connection ends the command, exit 5)",
    )
    tail.add_argument(
        "--reconnect-attempts",
        type=int,
        default=5,
        metavar="N",
        help="consecutive reconnection attempts before giving up (default 5)",
    )
    add_client_options(tail)
    add_json_option(tail)
    tail.set_defaults(run=_run)


def _values(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def filter_sets(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The filter sets the options describe.

    Raises:
        UsageError: a ``--filter`` is not JSON, or not an object or a list of objects.
    """
    sets: list[dict[str, Any]] = []
    shortcut: dict[str, Any] = {}
    for key, values in (
        ("aggregateType", args.aggregate_type),
        ("aggregateKey", args.aggregate_key),
        ("type", args.type),
    ):
        if values:
            shortcut[key] = _values(values)
    if shortcut:
        sets.append(shortcut)
    for text in args.filter:
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--filter {text!r} is not valid JSON: {exc}") from exc
        if isinstance(parsed, dict):
            sets.append(parsed)
        elif isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed):
            sets.extend(parsed)
        else:
            raise UsageError(
                f"--filter {text!r} must be a JSON object (a filter set) or a list of them"
            )
    return sets or [{}]


def _after(text: str | None) -> int | list[int] | None:
    if text is None:
        return None
    try:
        positions = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--after {text!r} must be a position or a comma-separated list") from None
    if any(position < 0 for position in positions):
        raise UsageError(f"--after {text!r}: positions are 0 or more")
    return positions[0] if len(positions) == 1 else positions


def _show(item: Any, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "type": item.type,
                "event": item.event,
                "aggregate_type": item.aggregate_type,
                "aggregate_key": item.aggregate_key,
                "aggregate_id": item.aggregate_id,
                "commit_id": item.commit_id,
                "version": item.version,
                "committed_at": item.committed_at.isoformat(),
                "position": item.position,
                "log_partition": item.log_partition,
            }
        )
        return
    fields = {k: v for k, v in item.event.items() if k != "type"}
    where = f"{item.log_partition}/{item.position}" if item.position else "-"  # legacy: none
    say(
        f"{where}  {item.aggregate_id} v{item.version}  "
        f"{item.type} {json.dumps(fields, default=str)}"
    )


async def _tail(args: argparse.Namespace, sets: list[dict[str, Any]]) -> int:
    from ddbes.container import require_adapter  # noqa: PLC0415 (keeps --help fast)

    ws = require_adapter("ddbes_ws", "ddbes tail")
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    stream = ws.EventStream(
        args.url,
        events=sets,
        after=_after(args.after),
        max_reconnect_attempts=args.reconnect_attempts,
        legacy=args.legacy,
        ssl=client_ssl(args),
        headers=client_headers(args),
    )
    seen = 0
    try:
        async with stream:
            say(
                f"ddbes tail: subscribed to {args.url}, filters {json.dumps(sets)}",
                sys.stderr,
            )
            if args.count == 0:
                return _exit.OK
            async for item in stream:
                _show(item, args.json)
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
    except asyncio.CancelledError:
        return _exit.OK
    return _exit.OK


def _run(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 0:
        raise UsageError("--count must be 0 or more")
    if args.reconnect_attempts < 0:
        raise UsageError("--reconnect-attempts must be 0 or more")
    if args.legacy and args.after is not None:
        raise UsageError(
            "--after cannot be used with --legacy: the JavaScript dialect has no positions"
        )
    sets = filter_sets(args)
    return asyncio.run(_tail(args, sets))

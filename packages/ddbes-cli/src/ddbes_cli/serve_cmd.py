"""``ddbes serve``: the websocket event stream server (``ddbes_ws.EventStreamServer``).

It reads the global log once for all its clients and pushes each client the events its filters
let through (``ddbes tail`` is such a client). Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from ddbes_cli import _exit
from ddbes_cli._args import port_number
from ddbes_cli._runtime import Runtime, add_aws_options, add_json_option, print_json, say
from ddbes_cli._stream_tls import add_server_options, server_authenticate, server_ssl

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``serve``."""
    serve = subparsers.add_parser(
        "serve", help="serve the event stream over websockets", description=__doc__
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8765, help="port (default 8765; 0: any)")
    serve.add_argument(
        "--poll-delay",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="seconds between log reads when idle (default 0.1)",
    )
    add_server_options(serve)
    add_aws_options(serve)
    add_json_option(serve)
    serve.set_defaults(run=_run)


async def _serve(args: argparse.Namespace, runtime: Runtime) -> None:
    from ddbes.container import require_adapter  # noqa: PLC0415 (keeps --help fast)

    ws = require_adapter("ddbes_ws", "ddbes serve")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = ws.EventStreamServer(
        commit_store=runtime.commit_store(),
        host=args.host,
        port=args.port,
        poll_delay=args.poll_delay,
        ssl=server_ssl(args),
        authenticate=server_authenticate(args),
    )
    try:
        await server.start()
    except OSError as exc:
        from ddbes.errors import ConfigurationError  # noqa: PLC0415

        raise ConfigurationError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from exc
    try:
        if args.json:
            print_json({"url": server.url, "port": server.port, "host": args.host})
        else:
            say(f"ddbes serve: streaming {runtime.where} on {server.url} (Ctrl-C stops)")
        await stop.wait()
    finally:
        await server.close()


def _run(args: argparse.Namespace) -> int:
    if args.poll_delay <= 0:
        say("ddbes serve: error: --poll-delay must be above 0", sys.stderr)
        return _exit.USAGE
    runtime = Runtime(args)
    asyncio.run(_serve(args, runtime))
    say("ddbes serve: stopped", sys.stderr)
    return _exit.OK

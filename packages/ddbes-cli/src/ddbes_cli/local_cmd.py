"""``ddbes local``: the embedded AWS emulator as a process of its own, for other processes.

It serves DynamoDB, S3 and Application Auto Scaling on 127.0.0.1, one request at a time, until
Ctrl-C or SIGTERM. Its data lives in memory. Point other processes at it with the ``export``
lines it prints: ``DDBES_*`` for ddbes (the ``ddbes`` command and ``create_container()`` alike:
``DDBES_BACKEND=dynamodb``, and with ``--setup`` the table and the snapshot settings), and
``AWS_ENDPOINT_URL`` and credentials for any AWS SDK.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ddbes_cli import _exit
from ddbes_cli._args import port_number
from ddbes_cli._embedded import EmbeddedAWS
from ddbes_cli._runtime import Runtime, add_json_option, print_json, say
from ddbes_cli._signals import stop_requested

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``local``."""
    local = subparsers.add_parser(
        "local", help="run the embedded AWS emulator for other processes", description=__doc__
    )
    local.add_argument("--port", type=port_number, default=0, help="port (default: any free one)")
    local.add_argument(
        "--setup",
        action="store_true",
        help="also create the ddbes table and the snapshot bucket",
    )
    local.add_argument("--table", metavar="NAME", help="the table --setup creates (default ddbes)")
    local.add_argument(
        "--bucket",
        metavar="NAME",
        help="the bucket --setup creates (default: snapshots_bucket or ddbes-snapshots)",
    )
    local.add_argument("--config", metavar="FILE", help="a TOML or JSON configuration file")
    add_json_option(local)
    local.set_defaults(run=_run)


def _setup(args: argparse.Namespace, emulator: EmbeddedAWS) -> tuple[str, str]:
    args.endpoint_url = emulator.endpoint_url
    runtime = Runtime(
        args,
        settings={"backend": "dynamodb", "checkpoints": "dynamodb", "snapshots": "off"},
    )
    store = runtime.commit_store()
    store.create_table(log_partitions=runtime.configuration["log_partitions"])
    bucket = args.bucket or runtime.configuration["snapshots_bucket"] or "ddbes-snapshots"
    from ddbes.container import require_adapter  # noqa: PLC0415

    s3 = require_adapter("ddbes_s3", "creating the snapshot bucket")
    s3.S3SnapshotStore(bucket, endpoint_url=emulator.endpoint_url).create_bucket()
    return store.table_name, bucket


def _exports(emulator: EmbeddedAWS, table: str | None, bucket: str | None) -> dict[str, str]:
    """Everything a process needs to use the emulator as ``ddbes local`` does: its own
    ``create_container()`` reads the same settings as the ``ddbes`` command."""
    ddbes = {"DDBES_BACKEND": "dynamodb"}
    if table is not None:
        ddbes["DDBES_TABLE_NAME"] = table
    if bucket is not None:
        # the recommended snapshots on DynamoDB: tips in the table, large states in the bucket
        ddbes["DDBES_SNAPSHOTS"] = "dynamodb"
        ddbes["DDBES_SNAPSHOTS_BUCKET"] = bucket
    return {**ddbes, **emulator.environment()}


def _run(args: argparse.Namespace) -> int:
    stop = stop_requested()
    emulator = EmbeddedAWS(port=args.port)
    emulator.use_in_this_process()
    try:
        table = bucket = None
        if args.setup:
            table, bucket = _setup(args, emulator)
        environment = _exports(emulator, table, bucket)
        if args.json:
            print_json(
                {
                    "endpoint_url": emulator.endpoint_url,
                    "environment": environment,
                    "table_name": table,
                    "bucket": bucket,
                }
            )
        else:
            say(
                f"ddbes local: AWS emulator (moto, one request at a time) at "
                f"{emulator.endpoint_url}: DynamoDB, S3, Application Auto Scaling"
            )
            if table:
                say(f"created table {table!r} and bucket {bucket!r}")
            say("For other processes:")
            for name, value in environment.items():
                say(f"export {name}={value}")
            say("Ctrl-C stops it; its data is lost then.")
        while not stop.wait(0.5):
            pass
    finally:
        emulator.close()
    say("ddbes local: stopped", sys.stderr)
    return _exit.OK

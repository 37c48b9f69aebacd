"""``ddbes demo``: the original README's story, end to end, on real adapters.

Without an endpoint it runs on the embedded AWS emulator (moto, in this process): the real
DynamoDB and S3 adapters create a table and a bucket, then ApplicationSettings and User
aggregates commit, hydrate and load at a version and at a time; eight threads contend on one
user through a retried command; snapshots go to S3; a projector builds an index; an event
stream server pushes a client only the events it subscribed to; and everything is torn down.

The demo goes to an endpoint only when one is given (``--endpoint-url``, ``DDBES_ENDPOINT_URL``,
``AWS_ENDPOINT_URL``), or to AWS with ``--aws``. It creates and then deletes its own table
(``ddbes-demo``): never point it at a table you need.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ddbes_cli import _exit
from ddbes_cli._demo_story import Story
from ddbes_cli._runtime import Runtime, UsageError, say

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``demo``."""
    demo = subparsers.add_parser("demo", help="see ddbes work, end to end", description=__doc__)
    demo.add_argument("--table", default="ddbes-demo", help="the table it creates and deletes")
    demo.add_argument(
        "--bucket", default="ddbes-demo-snapshots", help="the snapshot bucket it creates"
    )
    demo.add_argument(
        "--backend",
        choices=("dynamodb", "memory"),
        default="dynamodb",
        help="dynamodb (default: real adapters on the embedded emulator) or memory",
    )
    demo.add_argument("--snapshots-frequency", type=int, default=10, metavar="N", help="default 10")
    demo.add_argument("--endpoint-url", metavar="URL", help="run against this AWS endpoint")
    demo.add_argument("--region", metavar="NAME", help="the AWS region")
    demo.add_argument("--aws", action="store_true", help="run against AWS itself (costs money)")
    demo.add_argument("--keep", action="store_true", help="leave the table and snapshots")
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.snapshots_frequency < 1:
        raise UsageError("--snapshots-frequency must be 1 or more")
    started = time.monotonic()
    memory = args.backend == "memory"
    runtime = Runtime(
        args,
        settings={
            "backend": args.backend,
            "checkpoints": args.backend,
            "table_name": args.table,
            "snapshots": "memory" if memory else "s3",
            "snapshots_bucket": None if memory else args.bucket,
            "snapshots_frequency": args.snapshots_frequency,
        },
        demo=not args.aws,
        set_up_embedded=False,
    )
    say("ddbes demo: the original README's story, run for real")
    say(f"   stores: {runtime.where}; snapshots: {'in memory' if memory else 'S3 ' + args.bucket}")
    runtime.install()
    story = Story(runtime, snapshots_frequency=args.snapshots_frequency)
    story.setup()
    try:
        story.settings()
        story.users()
        story.contention()
        story.snapshots()
        projector = story.projector()
        try:
            story.stream(projector)
        finally:
            projector.stop()
    finally:
        story.teardown(args.keep)
    say("")
    say(f"Done in {time.monotonic() - started:.1f} s.")
    return _exit.OK

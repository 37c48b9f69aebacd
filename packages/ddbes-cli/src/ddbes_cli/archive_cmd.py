"""``ddbes archive run|status``: move cold aggregates' commits to S3, and report the storage
it saved.

``run`` archives every aggregate of the --type(s) whose newest commit is older than
--idle-days and whose every commit is in the global log: one compressed S3 object per
aggregate, read back and compared before the table changes, then each commit and log entry
becomes a stub without events. Killed at any point, it is completed by the next run; run again,
it archives only what changed since. Loads, projectors and streams read archived commits from
S3 transparently when the commit store is given the same archive (the archive_bucket setting,
DDBES_ARCHIVE_BUCKET, or --archive-bucket of the other commands); the next commit to an archived
aggregate is an ordinary one. ``status`` sums the archive records of the types. See
docs/archiving.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from ddbes.errors import ConfigurationError
from ddbes_cli import _exit
from ddbes_cli._args import positive_int
from ddbes_cli._runtime import Runtime, add_aws_options, add_json_option, print_json, say

__all__ = ["register"]

_COPIES = 2  # a DynamoDB table holds each commit's events twice: commit item and log entry


def register(subparsers: Any) -> None:
    """Add ``archive`` and its subcommands."""
    archive = subparsers.add_parser(
        "archive", help="move cold aggregates to S3; storage saved", description=__doc__
    )
    actions = archive.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name, help=help_text, description=__doc__
        )
        parser.add_argument(
            "--type",
            dest="types",
            action="append",
            required=True,
            metavar="TYPE",
            help="an aggregate type (repeat for several)",
        )
        parser.add_argument(
            "--bucket",
            dest="archive_bucket",
            help="the S3 bucket of the archive (default: $DDBES_ARCHIVE_BUCKET)",
        )
        parser.add_argument(
            "--prefix", dest="archive_prefix", help="the key prefix (default: archive)"
        )
        add_aws_options(parser)
        add_json_option(parser)
        return parser

    run = action("run", "archive the aggregates the policy selects")
    run.add_argument(
        "--idle-days",
        type=positive_int,
        required=True,
        metavar="N",
        help="archive only aggregates without a commit for N days",
    )
    run.add_argument("--limit", type=positive_int, metavar="N", help="archive at most N")
    run.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    run.set_defaults(run=_run)
    status = action("status", "archived aggregates and the storage saved")
    status.set_defaults(run=_status)


def _stores(args: argparse.Namespace, *, writes: str | None) -> Any:
    runtime = Runtime(args, settings={"backend": "dynamodb"}, writes=writes)
    if not runtime.configuration["archive_bucket"]:
        raise ConfigurationError(
            "ddbes archive needs the S3 bucket of the archive: --bucket NAME, or the "
            "archive_bucket setting (DDBES_ARCHIVE_BUCKET)"
        )
    return runtime.commit_store()


def _run(args: argparse.Namespace) -> int:
    from ddbes.archiving import ArchivePolicy, Archiver  # noqa: PLC0415

    store = _stores(args, writes=None if args.dry_run else "ddbes archive run")
    policy = ArchivePolicy(
        aggregate_types=tuple(args.types), idle_for=timedelta(days=args.idle_days)
    )

    def progress(one: Any) -> None:
        if not args.json:
            verb = "would archive" if args.dry_run else "archived"
            say(
                f"{verb} {one.aggregate_type}:{one.aggregate_key} v1..{one.version} -> "
                f"{one.location} ({one.archive_bytes} bytes; {one.rewritten} commits rewritten)",
                sys.stderr,
            )

    try:
        report = Archiver(store).run(
            policy, dry_run=args.dry_run, limit=args.limit, on_archived=progress
        )
    finally:
        store.close()
    freed = _COPIES * report.hot_bytes
    if args.json:
        print_json(
            {
                "dry_run": report.dry_run,
                "archived": [
                    {
                        "aggregate_type": one.aggregate_type,
                        "aggregate_key": one.aggregate_key,
                        "version": one.version,
                        "location": one.location,
                        "rewritten": one.rewritten,
                        "archive_bytes": one.archive_bytes,
                        "dynamodb_bytes_freed": _COPIES * one.hot_bytes,
                    }
                    for one in report.archived
                ],
                "skipped": report.skipped,
                "archive_bytes": report.archive_bytes,
                "dynamodb_bytes_freed": freed,
            }
        )
    else:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items())) or "none"
        say(
            f"{'would archive' if report.dry_run else 'archived'} {len(report.archived)} "
            f"aggregates: {report.archive_bytes} bytes in S3, {freed} bytes of events out of "
            f"DynamoDB; skipped: {skipped}"
        )
    return _exit.OK


def _status(args: argparse.Namespace) -> int:
    store = _stores(args, writes=None)
    per_type = {}
    for aggregate_type in args.types:
        records = list(store.archive_records(aggregate_type))
        per_type[aggregate_type] = {
            "aggregates": len(records),
            "commits": sum(record.version for record in records),
            "archive_bytes": sum(record.archive_bytes for record in records),
            "dynamodb_bytes_freed": _COPIES * sum(record.hot_bytes for record in records),
            "last_archived_at": max(
                (record.archived_at.isoformat() for record in records), default=None
            ),
        }
    if args.json:
        print_json({"types": per_type})
    else:
        for aggregate_type, one in per_type.items():
            say(
                f"{aggregate_type}: {one['aggregates']} aggregates archived "
                f"({one['commits']} commits), {one['archive_bytes']} bytes in S3, "
                f"{one['dynamodb_bytes_freed']} bytes of events freed in DynamoDB"
                + (f", last at {one['last_archived_at']}" if one["last_archived_at"] else "")
            )
    return _exit.OK

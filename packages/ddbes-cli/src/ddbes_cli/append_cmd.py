"""``ddbes append TYPE KEY EVENT_JSON``: append one commit to an aggregate, from the shell.

EVENT_JSON is one event (a JSON object with a string ``"type"``) or a list of them. Without
``--expected-version`` the commit goes at the aggregate's head, retrying conflicts; with it,
the commit is at exactly that version + 1, and a conflict exits with code 6.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from ddbes.codec import normalize_events
from ddbes.errors import VersionConflict
from ddbes.model import Commit
from ddbes.retry import RetryPolicy, call_with_retries
from ddbes_cli import _exit
from ddbes_cli._runtime import (
    Runtime,
    UsageError,
    add_aws_options,
    add_json_option,
    commit_as_dict,
    print_json,
    say,
)

__all__ = ["register"]

_LOG_WAIT = 10.0
"""Seconds to wait for the commit's log position on a table that gives it in the background."""


def register(subparsers: Any) -> None:
    """Add ``append``."""
    append = subparsers.add_parser(
        "append", help="append events to an aggregate", description=__doc__
    )
    append.add_argument("aggregate_type", metavar="TYPE", help="the aggregate type, e.g. User")
    append.add_argument("aggregate_key", metavar="KEY", help="the aggregate key ('@': keyless)")
    append.add_argument("events", metavar="EVENT_JSON", help='e.g. \'{"type": "Renamed"}\'')
    append.add_argument(
        "--expected-version",
        type=int,
        metavar="N",
        help="the aggregate's current version (0: new); a conflict exits with 6",
    )
    add_aws_options(append)
    add_json_option(append)
    append.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        parsed = json.loads(args.events)
    except ValueError as exc:
        raise UsageError(f"EVENT_JSON is not valid JSON: {exc}") from exc
    if not args.aggregate_type or not args.aggregate_key:
        raise UsageError("TYPE and KEY must not be empty")
    aggregate_id = f"{args.aggregate_type}:{args.aggregate_key}"
    events = normalize_events(parsed, aggregate_id=aggregate_id)
    runtime = Runtime(args, writes="ddbes append")
    store = runtime.commit_store()
    clock = runtime.container.clock()

    def attempt(version: int | None) -> Commit:
        head = next(
            store.read_commits(args.aggregate_type, args.aggregate_key, descending=True, limit=1),
            None,
        )
        now = clock.now()
        if head is not None:
            now = max(now, head.committed_at)
        current = head.version if head else 0
        stored: Commit = store.append(  # its adapter retries an unknown outcome, same commit_id
            Commit(
                commit_id=uuid.uuid4().hex,
                aggregate_type=args.aggregate_type,
                aggregate_key=args.aggregate_key,
                version=(current if version is None else version) + 1,
                committed_at=now,
                events=events,
            ),
        )
        return stored

    if args.expected_version is not None:
        if args.expected_version < 0:
            raise UsageError("--expected-version must be 0 or more")
        try:
            stored = attempt(args.expected_version)
        except VersionConflict as exc:
            raise VersionConflict(
                exc.aggregate_id,
                exc.version,
                f"version {exc.version} of {exc.aggregate_id} is already taken by another "
                f"commit: see its head with `ddbes inspect {args.aggregate_type} "
                f"{args.aggregate_key}`, then give that version to --expected-version, or "
                "leave --expected-version out to append at the head",
            ) from exc
    else:
        stored = call_with_retries(lambda: attempt(None), RetryPolicy(), retry_on=VersionConflict)
    if stored.position is None:  # the table gives positions in the background: wait for it
        store.flush_log(timeout=_LOG_WAIT)
        stored = next(
            store.read_commits(
                stored.aggregate_type,
                stored.aggregate_key,
                from_version=stored.version,
                to_version=stored.version,
            ),
            stored,
        )
    if args.json:
        print_json(commit_as_dict(stored))
    else:
        say(
            f"appended {len(stored.events)} event(s) to {stored.aggregate_id}: version "
            f"{stored.version}, position {stored.position} of log partition "
            f"{stored.log_partition}"
        )
    return _exit.OK

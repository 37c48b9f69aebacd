"""``ddbes inspect TYPE KEY``: an aggregate's history and state, now or in the past.

Without ``--aggregate`` the state shown is plain data: the fields of every event merged in order
(``type`` left out), which is what most reducers of simple aggregates compute. With
``--aggregate MODULE:CLASS`` the class's own reducer (and upcasters and snapshots) build it.
``--limit N`` shows only the newest N commits of the history (the state is still built from
all of them). Exit code 4 when the aggregate has no commits (at that version or time), or fewer
versions than ``--version`` asks for.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ddbes_cli import _exit
from ddbes_cli._args import positive_int
from ddbes_cli._runtime import (
    Runtime,
    UsageError,
    add_aws_options,
    add_json_option,
    commit_as_dict,
    load_object,
    print_json,
    say,
)

if TYPE_CHECKING:
    from ddbes import Aggregate
    from ddbes.model import Commit

__all__ = ["merged_state", "register"]


def register(subparsers: Any) -> None:
    """Add ``inspect``."""
    inspect = subparsers.add_parser(
        "inspect", help="an aggregate's history and state", description=__doc__
    )
    inspect.add_argument("aggregate_type", metavar="TYPE", help="the aggregate type, e.g. User")
    inspect.add_argument("aggregate_key", metavar="KEY", help="the key ('@' for a keyless one)")
    when = inspect.add_mutually_exclusive_group()
    when.add_argument("--version", type=int, metavar="N", help="stop at version N")
    when.add_argument(
        "--time", metavar="T", help="stop at the last commit at or before T (ISO-8601, with Z)"
    )
    inspect.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="show only the newest N commits (the state still covers all of them)",
    )
    inspect.add_argument(
        "--aggregate",
        metavar="MODULE:CLASS",
        help="build the state with this Aggregate class's reducer",
    )
    add_aws_options(inspect)
    add_json_option(inspect)
    inspect.set_defaults(run=_run)


def merged_state(commits: list[Commit]) -> dict[str, Any] | None:
    """Every event's fields merged in order, without ``type``: state as plain data."""
    state: dict[str, Any] | None = None
    for commit in commits:
        for event in commit.events:
            state = {**(state or {}), **{k: v for k, v in event.items() if k != "type"}}
    return state


def _aggregate_class(spec: str, aggregate_type: str) -> type[Aggregate]:
    from ddbes import Aggregate  # noqa: PLC0415 (keeps --help fast)

    cls = load_object(spec, "--aggregate")
    if not (isinstance(cls, type) and issubclass(cls, Aggregate)):
        raise UsageError(f"--aggregate {spec} is not an Aggregate subclass")
    if cls.aggregate_type != aggregate_type:
        raise UsageError(
            f"--aggregate {spec} is of aggregate type {cls.aggregate_type!r}, "
            f"not {aggregate_type!r}"
        )
    return cls


def _run(args: argparse.Namespace) -> int:
    from ddbes.codec import parse_time  # noqa: PLC0415 (keeps --help fast)

    if args.version is not None and args.version < 1:
        raise UsageError("--version must be 1 or more")
    until: datetime | None = None
    if args.time is not None:
        try:
            until = parse_time(args.time)
        except ValueError as exc:
            raise UsageError(f"--time: {exc}") from exc
    cls = _aggregate_class(args.aggregate, args.aggregate_type) if args.aggregate else None
    runtime = Runtime(args)
    store = runtime.commit_store()
    commits = list(
        store.read_commits(
            args.aggregate_type, args.aggregate_key, to_version=args.version, until=until
        )
    )
    aggregate_id = f"{args.aggregate_type}:{args.aggregate_key}"
    if not commits:
        at = f" at or before {args.time}" if args.time else ""
        say(f"ddbes inspect: error: {aggregate_id} has no commits{at}", sys.stderr)
        return _exit.NOT_FOUND
    if args.version is not None and commits[-1].version < args.version:
        say(
            f"ddbes inspect: error: {aggregate_id} has no version {args.version}: its head is "
            f"version {commits[-1].version} (drop --version, or give 1 to {commits[-1].version})",
            sys.stderr,
        )
        return _exit.NOT_FOUND
    if cls is not None:
        runtime.install()
        loaded = cls.using(commit_store=store).load(
            args.aggregate_key if cls.key_schema is not None else None,
            version=args.version,
            time=until,
            fail=True,
        )
        assert loaded is not None
        state, source = loaded.state, f"{cls.__module__}.{cls.__qualname__}.reducer"
    else:
        state, source = merged_state(commits), "merged event fields"
    head = commits[-1]
    shown = commits if args.limit is None else commits[-args.limit :]
    if args.json:
        print_json(
            {
                "aggregate_type": args.aggregate_type,
                "aggregate_key": args.aggregate_key,
                "version": head.version,
                "committed_at": head.committed_at.isoformat(),
                "commits": [commit_as_dict(commit) for commit in shown],
                "commits_shown": len(shown),
                "commits_total": len(commits),
                "state": state,
                "state_source": source,
            }
        )
        return _exit.OK
    say(f"{aggregate_id}  version {head.version}  last commit {head.committed_at.isoformat()}")
    if len(shown) < len(commits):
        say(f"  ({len(commits) - len(shown)} older commit(s) not shown: --limit {args.limit})")
    for commit in shown:
        say(
            f"  v{commit.version:<4} {commit.committed_at.isoformat()}  "
            f"position {commit.log_partition}/{commit.position}  commit {commit.commit_id}"
        )
        for event in commit.events:
            fields = {k: v for k, v in event.items() if k != "type"}
            say(f"        {event['type']} {json.dumps(fields, default=str)}")
    say(f"state ({source}):")
    for line in json.dumps(state, indent=2, default=str, sort_keys=True).splitlines():
        say(f"  {line}")
    return _exit.OK

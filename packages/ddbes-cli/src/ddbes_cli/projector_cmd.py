"""``ddbes projector status|reset|parked|retry|skip``: operate a projector by its name.

``status``, ``reset`` and ``parked`` need only the name (and ``--version`` for a projection
built beside the live one). ``retry`` and ``skip`` hand commits to the projector's handlers, so
they take ``MODULE:PROJECTOR`` as ``ddbes replay`` does: a :class:`ddbes.Projector`, or a
mapping of aggregate type to handler (named by ``--name``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from ddbes.model import ParkedCommit
from ddbes.projection.projector import Projector
from ddbes.projection.status import ProjectorStatus, read_status, stored_name
from ddbes_cli import _exit
from ddbes_cli._args import positive_int
from ddbes_cli._runtime import (
    Runtime,
    UsageError,
    add_aws_options,
    add_json_option,
    load_object,
    print_json,
    say,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``projector`` and its subcommands."""
    projector = subparsers.add_parser(
        "projector", help="status, reset and parked commits of a projector", description=__doc__
    )
    actions = projector.add_subparsers(dest="action", metavar="ACTION", required=True)

    def by_name(action: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            action, help=help_text, description=description
        )
        parser.add_argument("name", metavar="NAME", help="the projector's name")
        parser.add_argument(
            "--version", type=positive_int, default=1, metavar="N", help="its version (1)"
        )
        add_aws_options(parser)
        add_json_option(parser)
        return parser

    status = by_name(
        "status",
        "positions, heads, lag, parked commits, last error",
        "Where the projector stands against the log: per log partition its checkpoint and the "
        "head, lag in commits and seconds, parked commits and the last error. For --version "
        "N > 1, version N-1 too (the live one), so that you can tell when to switch.",
    )
    status.set_defaults(run=_status)
    reset = by_name(
        "reset",
        "start the projector again from position 0",
        "Delete the projector's checkpoints and parked commits: its next run handles the whole "
        "log. Stop every process running it first, and clear its read model (or build a new "
        "version beside it with Projector(..., version=N+1)).",
    )
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(run=_reset)
    parked = by_name(
        "parked",
        "the commits the projector parked",
        "The commits the projector parked (on_failure='park'), one per aggregate, with their "
        "errors and how many later commits of the aggregate are held back.",
    )
    parked.set_defaults(run=_parked)

    def by_handlers(action: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            action, help=help_text, description=description
        )
        parser.add_argument("projector", metavar="MODULE:PROJECTOR")
        parser.add_argument("--name", help="the projector's name, for a handler mapping")
        parser.add_argument(
            "--version", type=positive_int, default=1, metavar="N", help="its version (1)"
        )
        add_aws_options(parser)
        add_json_option(parser)
        return parser

    retry = by_handlers(
        "retry",
        "hand parked commits to the handlers again",
        "Hand the parked commits (all, or --aggregate's) to the handlers again, each followed "
        "by the later commits of its aggregate held back behind it. Exit code 1 when one fails "
        "again (it stays parked, at the commit that failed).",
    )
    retry.add_argument("--aggregate", metavar="TYPE:KEY", help="only this aggregate")
    retry.set_defaults(run=_retry)
    skip = by_handlers(
        "skip",
        "give up on a parked commit, hand over the held ones",
        "Give up on an aggregate's parked commit and hand the later commits held back behind "
        "it to the handlers.",
    )
    skip.add_argument("--aggregate", metavar="TYPE:KEY", required=True, help="the aggregate")
    skip.set_defaults(run=_skip)


def _status(args: argparse.Namespace) -> int:
    runtime = Runtime(args)
    status = read_status(
        args.name, version=args.version, commits=runtime.commit_store(),
        checkpoints=runtime.checkpoint_store(), clock=runtime.container.clock(),
    )  # fmt: skip
    if args.json:
        print_json(status.to_json())
    else:
        say(describe(status))
        if status.previous is not None:
            say(describe(status.previous))
    return _exit.OK


def describe(status: ProjectorStatus) -> str:
    """A few lines for people about a projector's status."""
    label = status.name if status.version == 1 else f"{status.name} version {status.version}"
    parts = sorted(status.heads)
    at = ", ".join(f"{status.positions.get(p, 0)}/{status.heads[p]}" for p in parts)
    lines = [
        f"projector {label!r}: at {at} (position/head"
        + (" per log partition" if len(parts) > 1 else "")
        + ")",
        "  caught up"
        if status.caught_up
        else f"  behind by {status.lag_commits} commit(s), {status.lag_seconds:.1f} s",
        f"  parked: {len(status.parked)} aggregate(s)",
    ]
    if status.last_error:
        lines.append(f"  last error: {status.last_error}")
    return "\n".join(lines)


def _reset(args: argparse.Namespace) -> int:
    runtime = Runtime(args)
    commits, checkpoints = runtime.commit_store(), runtime.checkpoint_store()
    before = read_status(
        args.name, version=args.version, commits=commits, checkpoints=checkpoints,
        clock=runtime.container.clock(), with_previous=False,
    )  # fmt: skip
    label = f"{args.name!r}" + (f" version {args.version}" if args.version != 1 else "")
    if not args.yes:
        if not sys.stdin.isatty():
            say(f"ddbes projector reset: error: refusing to reset projector {label} without "
                "--yes", sys.stderr)  # fmt: skip
            return _exit.USAGE
        answer = input(
            f"Reset projector {label} (checkpoints {dict(before.positions)}, "
            f"{len(before.parked)} parked) to position 0? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            say("nothing reset", sys.stderr)
            return _exit.FAILED
    Projector(
        {"*": _nothing}, name=args.name, version=args.version, commit_store=commits,
        checkpoint_store=checkpoints,
    ).reset()  # fmt: skip
    if args.json:
        print_json(
            {
                "name": args.name,
                "version": args.version,
                "reset": True,
                "positions_before": {str(k): v for k, v in before.positions.items()},
                "parked_before": len(before.parked),
            }
        )
    else:
        say(
            f"projector {label} reset: it was at {dict(before.positions)} with "
            f"{len(before.parked)} parked aggregate(s); its next run starts at position 0"
        )
    return _exit.OK


def _nothing(_: object) -> None:
    return None


def parked_json(parked: ParkedCommit) -> dict[str, Any]:
    """A parked commit as JSON-compatible values."""
    return {
        "aggregate_id": parked.aggregate_id,
        "log_partition": parked.log_partition,
        "position": parked.position,
        "version": parked.version,
        "commit_id": parked.commit_id,
        "error": parked.error,
        "parked_at": parked.parked_at.isoformat(),
        "held": parked.held,
        "held_through": parked.held_through,
    }


def _parked_line(parked: ParkedCommit) -> str:
    return (
        f"{parked.aggregate_id} version {parked.version} (position {parked.position} of log "
        f"partition {parked.log_partition}, parked {parked.parked_at:%Y-%m-%d %H:%M:%S}), "
        f"{parked.held} later commit(s) held: {parked.error}"
    )


def _parked(args: argparse.Namespace) -> int:
    runtime = Runtime(args)
    name = stored_name(args.name, args.version)
    parked = runtime.checkpoint_store().parked(name)
    if args.json:
        print_json([parked_json(p) for p in parked])
    elif not parked:
        say(f"projector {name!r} has no parked commits")
    else:
        for entry in parked:
            say(_parked_line(entry))
    return _exit.OK


def _build(args: argparse.Namespace, runtime: Runtime) -> Projector:
    target = load_object(args.projector, "PROJECTOR")
    if isinstance(target, Projector):
        if args.name or args.version != 1:
            raise UsageError(
                f"--name and --version work with a mapping of handlers; {args.projector} is a "
                "Projector with its own name and version"
            )
        return target
    if isinstance(target, Mapping):
        return Projector(
            target, name=args.name or args.projector.rpartition(":")[2], version=args.version,
            commit_store=runtime.commit_store(), checkpoint_store=runtime.checkpoint_store(),
            on_failure="park",
        )  # fmt: skip
    raise UsageError(
        f"{args.projector} is a {type(target).__name__}, not a Projector or a mapping of handlers"
    )


def _released(args: argparse.Namespace, left: list[ParkedCommit], what: str) -> int:
    if args.json:
        print_json({"released": what, "still_parked": [parked_json(p) for p in left]})
    elif not left:
        say(f"{what}: handled and unparked")
    else:
        for entry in left:
            say(f"still parked: {_parked_line(entry)}")
    return _exit.FAILED if left else _exit.OK


def _retry(args: argparse.Namespace) -> int:
    runtime = Runtime(args)
    runtime.install()
    projector = _build(args, runtime)
    try:
        left = projector.retry(args.aggregate)
    except KeyError as missing:
        raise UsageError(str(missing.args[0])) from None
    return _released(args, left, args.aggregate or "every parked aggregate")


def _skip(args: argparse.Namespace) -> int:
    runtime = Runtime(args)
    runtime.install()
    projector = _build(args, runtime)
    try:
        again = projector.skip(args.aggregate)
    except KeyError as missing:
        raise UsageError(str(missing.args[0])) from None
    return _released(args, [] if again is None else [again], args.aggregate)

"""``ddbes replay MODULE:PROJECTOR``: run a projector over the log up to its head, with a
progress bar.

PROJECTOR is a :class:`ddbes.Projector`, or a mapping of aggregate type to handler from which
one is built (named by ``--name``, default the attribute's name). The module is imported after
ddbes is configured, so a projector built at import time uses the configured stores. The
projector continues from its saved checkpoint, and says so when that is not the start: a new
read model with an old checkpoint would miss every commit before it. ``--from-start`` resets the
saved checkpoint (and parked commits) first, replays everything and saves the checkpoint as it
goes, as ``ddbes projector reset NAME --yes`` followed by ``ddbes replay`` would.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Mapping
from typing import Any

from ddbes.projection.projector import Projector, ProjectorProgress
from ddbes_cli import _exit
from ddbes_cli._progress import ProgressBar
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
    """Add ``replay``."""
    replay = subparsers.add_parser(
        "replay", help="run a projector up to the log's head", description=__doc__
    )
    replay.add_argument("projector", metavar="MODULE:PROJECTOR")
    replay.add_argument("--name", help="the projector's name, for a handler mapping")
    replay.add_argument(
        "--from-start",
        action="store_true",
        help="reset the saved checkpoint, replay from position 0 and save it as it goes",
    )
    replay.add_argument(
        "--batch-size", type=int, default=100, metavar="N", help="commits per batch (100)"
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_aws_options(replay)
    add_json_option(replay)
    replay.set_defaults(run=_run)


def _build(args: argparse.Namespace, runtime: Runtime, bar: ProgressBar | None) -> Projector:
    target = load_object(args.projector, "PROJECTOR")
    if isinstance(target, Projector):
        if args.name:
            raise UsageError(
                "--name works with a mapping of handlers; "
                f"{args.projector} is a Projector with its own name and stores"
            )
        return target
    if isinstance(target, Mapping):
        name = args.name or args.projector.rpartition(":")[2]
        return Projector(
            target,
            name=name,
            commit_store=runtime.commit_store(),
            checkpoint_store=runtime.checkpoint_store(),
            batch_size=args.batch_size,
            on_progress=None if bar is None else bar.update_from,
        )
    raise UsageError(
        f"{args.projector} is a {type(target).__name__}, not a Projector or a mapping of handlers"
    )


def _run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UsageError("--batch-size must be 1 or more")
    runtime = Runtime(args)
    runtime.install()
    bar = None if args.no_progress else ProgressBar(f"replay {args.projector}")
    projector = _build(args, runtime, bar)
    if args.from_start:
        projector.reset()
    started = projector.status().positions
    done = threading.Event()
    watcher = None
    if bar is not None:
        # a ready-made Projector has its own (or no) progress hook: watch its progress instead
        def watch() -> None:
            while not done.wait(0.1):
                if projector.running:
                    bar.update_from(projector.progress)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    try:
        progress: ProjectorProgress = projector.run()
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    if bar is not None:
        bar.update_from(progress)
        bar.finish()
    positions = {str(k): v for k, v in progress.positions.items()}
    if args.json:
        print_json(
            {
                "name": progress.name,
                "handled": progress.handled,
                "positions": positions,
                "heads": {str(k): v for k, v in progress.heads.items()},
                "caught_up": progress.caught_up,
                "started_at": {str(k): v for k, v in started.items()},
                "from_start": args.from_start,
                "parked": progress.parked,
            }
        )
    else:
        say(_summary(progress))
        if any(started.values()):
            say(
                f"it continued from its saved checkpoint {dict(started)} (log partition: "
                "position): the commits up to there were handled by an earlier run. For a new "
                f"read model, run again with --from-start (or `ddbes projector reset "
                f"{projector.name}`)"
            )
        if progress.parked:
            say(f"{progress.parked} aggregate(s) parked: see `ddbes projector parked NAME`")
    return _exit.OK


def _summary(progress: ProjectorProgress) -> str:
    """One line for people: what was handled, and where the projector is against the log."""
    caught_up = "caught up: yes" if progress.caught_up else "caught up: no"
    if not any(progress.heads.values()):
        return (
            f"projector {progress.name!r} handled {progress.handled} commit(s): the log is "
            f"empty, nothing to replay; {caught_up}"
        )
    partitions = sorted(progress.heads)
    at = ", ".join(str(progress.positions.get(p, 0)) for p in partitions)
    heads = ", ".join(str(progress.heads[p]) for p in partitions)
    where = (
        f"at position {at} of {heads}"
        if len(partitions) == 1
        else f"at positions {at} of {heads} (one per log partition)"
    )
    return f"projector {progress.name!r} handled {progress.handled} commit(s), {where}; {caught_up}"

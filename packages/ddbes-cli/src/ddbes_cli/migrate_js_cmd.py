"""``ddbes migrate-js SOURCE --to TABLE``: import a table of the JavaScript ddbes (0.20 to
0.25) into a ddbes table, with a progress bar and a verified report.

Reads every commit of SOURCE (strongly consistent, every page) and writes it to TABLE, which
is created when missing (with --log-partitions). Each aggregate keeps its type, key, versions,
events, commit time and JavaScript commit id; the global log gets the commits in commit-time
order. Stopped at any point (Ctrl-C, a crash), it resumes where it was when run again; run
again after it finished, it writes nothing (or only what the JavaScript writers added since).
It refuses, before writing anything, commits ddbes cannot store (--skip-bad-events leaves them
out) and aggregates with version holes (--allow-version-gaps migrates them with the holes), and
a TABLE that holds other data (--yes adds the migrated commits after it). Exit code 1 when the
migration is refused or does not verify. See docs/migrating-from-js.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ddbes_cli import _exit
from ddbes_cli._args import positive_int
from ddbes_cli._progress import ProgressBar
from ddbes_cli._runtime import Runtime, add_json_option, print_json, say

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``migrate-js``."""
    command = subparsers.add_parser(
        "migrate-js", help="import a table of the JavaScript ddbes", description=__doc__
    )
    command.add_argument("source", metavar="SOURCE", help="the JavaScript library's table")
    command.add_argument("--to", required=True, metavar="TABLE", help="the ddbes table")
    command.add_argument(
        "--log-partitions",
        type=positive_int,
        default=1,
        metavar="N",
        help="log partitions of TABLE when it is created (default 1)",
    )
    command.add_argument(
        "--yes", action="store_true", help="write into a TABLE that already holds other data"
    )
    command.add_argument(
        "--allow-version-gaps",
        action="store_true",
        help="migrate aggregates whose versions have holes, with the holes",
    )
    command.add_argument(
        "--skip-bad-events",
        action="store_true",
        help="leave out events and commits ddbes cannot store (listed in the report)",
    )
    command.add_argument(
        "--dry-run", action="store_true", help="read and report only; write nothing"
    )
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = command.add_argument_group("where the tables are (see docs/configuration.md)")
    group.add_argument("--config", metavar="FILE", help="a TOML or JSON configuration file")
    group.add_argument(
        "--endpoint-url", metavar="URL", help="the AWS endpoint (DynamoDB Local, ...)"
    )
    group.add_argument("--region", metavar="NAME", help="the AWS region")
    add_json_option(command)
    command.set_defaults(run=_run)


class _Progress:
    """One progress bar per phase, on stderr."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.source, self.target = args.source, args.to
        self.phase = ""
        self.bar: ProgressBar | None = None

    def __call__(self, progress: Any) -> None:
        if progress.phase != self.phase:
            if self.bar is not None:
                self.bar.finish()
            self.phase = progress.phase
            if progress.phase == "reading":
                self.bar = ProgressBar(f"reading {self.source}", unit="items", rate=True)
            elif progress.phase == "writing":
                self.bar = ProgressBar(f"writing {self.target}", unit="commits", rate=True)
            else:
                self.bar = None
                say(f"verifying {self.target} ...", sys.stderr)
        if self.bar is not None:
            self.bar.update(progress.done, progress.total)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.finish()
            self.bar = None


def _show(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.lines():
            say(line)


def _run(args: argparse.Namespace) -> int:
    from ddbes_dynamodb.js_migration import MigrationFailed, migrate_js  # noqa: PLC0415

    runtime = Runtime(
        args, settings={"table_name": args.to, "backend": "dynamodb"}, writes="ddbes migrate-js"
    )
    config = runtime.configuration
    progress = None if args.no_progress else _Progress(args)
    try:
        report = migrate_js(
            args.source,
            args.to,
            endpoint_url=config["endpoint_url"],
            region_name=config["region_name"],
            log_partitions=args.log_partitions,
            allow_other_data=args.yes,
            allow_version_gaps=args.allow_version_gaps,
            skip_bad_events=args.skip_bad_events,
            dry_run=args.dry_run,
            on_progress=progress,
        )
    except MigrationFailed as failed:
        if progress is not None:
            progress.finish()
        _show(failed.report, args.json)
        say(f"ddbes migrate-js: error: {failed}", sys.stderr)
        return _exit.FAILED
    finally:
        if progress is not None:
            progress.finish()
    _show(report, args.json)
    return _exit.OK

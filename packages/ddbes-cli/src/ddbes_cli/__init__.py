"""The ``ddbes`` command: the operator's tool, and the demo.

Each subcommand is a small module of this package with ``register(subparsers)``; the command's
exit codes are in :mod:`ddbes_cli._exit` and ``docs/cli.md``. Errors end a command with one line
on stderr (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ddbes_cli import _exit

__all__ = ["main"]

_COMMANDS = (
    "demo",
    "local",
    "table",
    "autoscaling",
    "serve",
    "tail",
    "append",
    "inspect",
    "replay",
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``ddbes tail: error: ... (see ddbes tail --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(_exit.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_LOG_FORMAT = "ddbes: %(levelname)s: %(message)s"


class _OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks (``--debug`` shows them)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return " ".join(super().format(record).split("\n"))
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    import importlib  # noqa: PLC0415

    parser = _Parser(
        prog="ddbes",
        description="ddbes: an event store on DynamoDB. Run `ddbes demo` to see it work.",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 configuration, 4 not found, "
        "5 unavailable, 6 conflict, 130 interrupted. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--debug", action="store_true", help="show tracebacks (also DDBES_DEBUG=1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log ddbes's info lines")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for name in _COMMANDS:
        importlib.import_module(f"ddbes_cli.{name}_cmd").register(subparsers)
    return parser


def _version() -> str:
    from ddbes import __version__  # noqa: PLC0415

    return f"ddbes {__version__}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ddbes`` command; returns its exit code."""
    try:
        parser = build_parser()
    except ImportError as exc:
        if exc.name != "dependency_injector":
            raise
        print(
            "ddbes: error: the ddbes command needs dependency-injector: pip install ddbes-cli",
            file=sys.stderr,
            flush=True,
        )
        return _exit.CONFIGURATION
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("DDBES_DEBUG", "") not in ("", "0")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(_LOG_FORMAT) if debug else _OneLineFormatter(_LOG_FORMAT)
    )
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    prog = " ".join(["ddbes", args.command, getattr(args, "action", None) or ""]).strip()
    try:
        code: int = args.run(args)
        return code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return _exit.INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        from ddbes.errors import DdbesError  # noqa: PLC0415
        from ddbes_cli._runtime import UsageError  # noqa: PLC0415

        if isinstance(exc, (UsageError, ValueError, TypeError)) and not isinstance(exc, DdbesError):
            print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
            return _exit.USAGE
        if isinstance(exc, DdbesError):
            print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
            return _exit.exit_code_for(exc)
        print(
            f"{prog}: unexpected error: {type(exc).__name__}: {_one_line(exc)} "
            "(--debug shows the traceback)",
            file=sys.stderr,
            flush=True,
        )
        return _exit.FAILED

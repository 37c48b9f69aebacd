"""The ``ddbes`` command: the operator's tool, and the demo.

Each subcommand is a small module of this package with ``register(subparsers)``; the command's
exit codes are in :mod:`ddbes_cli._exit` and ``docs/cli.md``. Errors end a command with one line
on stderr (``--debug`` shows the traceback).

Only the module of the command being run is imported (``ddbes --help`` imports none, nor ddbes
itself): the list of commands and their one-line help live in :data:`_COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ddbes_cli import _exit
from ddbes_cli._help import PlainHelpFormatter, plain

__all__ = ["main"]

_COMMANDS = {
    "demo": "see ddbes work, end to end",
    "local": "run the embedded AWS emulator for other processes",
    "table": "create, delete or describe the DynamoDB table",
    "autoscaling": "scale a provisioned table's capacity",
    "serve": "serve the event stream over websockets",
    "tail": "print events from an event stream server",
    "append": "append events to an aggregate",
    "inspect": "an aggregate's history and state",
    "replay": "run a projector up to the log's head",
    "projector": "status, reset and parked commits of a projector",
    "migrate-js": "import a table of the JavaScript ddbes",
    "archive": "move cold aggregates to S3; storage saved",
}
"""Every command, in the order of ``ddbes --help``, with the help its module registers."""

_GLOBAL_FLAGS = frozenset({"-h", "--help", "--version", "--debug", "-v", "--verbose"})

SIGPIPE_EXIT = 141
"""The exit code when stdout's reader went away (``ddbes ... | head``), as for shell tools."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``ddbes tail: error: ... (see ddbes tail --help)``) and
    help texts without reST markup."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for key in ("description", "epilog"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = plain(kwargs[key])
        kwargs.setdefault("formatter_class", PlainHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(_exit.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """``--version``, importing ddbes only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.exit(message=_version() + "\n")


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


def _command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (global flags take no values, so it is the first other word)."""
    for word in argv:
        if word not in _GLOBAL_FLAGS:
            return word if word in _COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line: every command, with the options of the one ``argv`` names (all of
    them when ``argv`` is None)."""
    import importlib  # noqa: PLC0415

    wanted = set(_COMMANDS) if argv is None else {_command_in(argv)}
    parser = _Parser(
        prog="ddbes",
        description="ddbes: an event store on DynamoDB. Run `ddbes demo` to see it work.",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 configuration, 4 not found, "
        "5 unavailable, 6 conflict, 130 interrupted, 141 output closed (| head). "
        "See docs/cli.md.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--debug", action="store_true", help="show tracebacks (also DDBES_DEBUG=1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log ddbes's info lines")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for name, help_text in _COMMANDS.items():
        if name in wanted:
            module = name.replace("-", "_")
            importlib.import_module(f"ddbes_cli.{module}_cmd").register(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def _version() -> str:
    from ddbes import __version__  # noqa: PLC0415

    return f"ddbes {__version__}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text


def _missing_dependency_injector() -> int:
    print(
        "ddbes: error: the ddbes command needs dependency-injector: pip install ddbes-cli",
        file=sys.stderr,
        flush=True,
    )
    return _exit.CONFIGURATION


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ddbes`` command; returns its exit code."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # the reader of stdout went away (| head): stop quietly, and keep the interpreter's
        # final flush from complaining about the same closed pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_EXIT
    except ImportError as exc:
        if exc.name != "dependency_injector":
            raise
        return _missing_dependency_injector()


def _main(argv: Sequence[str]) -> int:
    parser = build_parser(argv)
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
    except BrokenPipeError:
        raise
    except Exception as exc:
        if debug or (isinstance(exc, ImportError) and exc.name == "dependency_injector"):
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

"""What every subcommand shares: common options, configuration, the container, the embedded
default, and output helpers."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from ddbes.errors import ConfigurationError
from ddbes.model import Commit

__all__ = [
    "Runtime",
    "UsageError",
    "add_aws_options",
    "add_json_option",
    "commit_as_dict",
    "load_object",
    "print_json",
    "say",
]

_AWS_BACKENDS = {"dynamodb"}
DEFAULT_TIMEOUT = 10.0
"""Seconds after which a command gives up on an AWS call (a library user's default is 20)."""


class UsageError(Exception):
    """A bad command line that argparse cannot see (malformed JSON, a bad MODULE:NAME)."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that touches a store."""
    group = parser.add_argument_group("where the data is (see docs/configuration.md)")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML or JSON configuration file (default: $DDBES_CONFIG)",
    )
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="the AWS endpoint (DynamoDB Local, moto, ...); leaves the embedded default",
    )
    group.add_argument("--region", metavar="NAME", help="the AWS region")
    group.add_argument("--table", metavar="NAME", help="the DynamoDB table (default: ddbes)")
    group.add_argument(
        "--backend",
        metavar="NAME",
        help="commit store backend: dynamodb (default for the command) or memory",
    )
    group.add_argument(
        "--archive-bucket",
        metavar="NAME",
        help="the S3 bucket of archived aggregates, to read them (default: $DDBES_ARCHIVE_BUCKET)",
    )
    group.add_argument(
        "--archive-prefix",
        metavar="PREFIX",
        help="the key prefix in that bucket (default: archive)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        help=f"give up on an AWS call after this long, retries included (default: "
        f"{DEFAULT_TIMEOUT:g}; also DDBES_TIMEOUT)",
    )
    group.add_argument(
        "--embedded",
        action="store_true",
        help="use the in-process AWS emulator even when AWS is configured",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output on stdout."""
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def say(message: str, stream: TextIO | None = None) -> None:
    """Print a line and flush it (other processes read it as it comes)."""
    print(message, file=stream or sys.stdout, flush=True)


def print_json(value: Any) -> None:
    """One JSON document on one line of stdout."""
    say(json.dumps(value, default=str, sort_keys=False))


def commit_as_dict(commit: Commit) -> dict[str, Any]:
    """A commit as plain JSON-ready data."""
    return {
        "commit_id": commit.commit_id,
        "aggregate_type": commit.aggregate_type,
        "aggregate_key": commit.aggregate_key,
        "version": commit.version,
        "committed_at": commit.committed_at.isoformat(),
        "position": commit.position,
        "log_partition": commit.log_partition,
        "events": list(commit.events),
    }


def load_object(spec: str, what: str) -> Any:
    """The object ``MODULE:NAME`` (``NAME`` may be dotted) names.

    Raises:
        UsageError: the spec is malformed, or the module or name cannot be found or imported.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"{what} must be given as MODULE:NAME, got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r} for {what}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no {attribute!r} ({what})") from None
    return target


def _throwaway_write(command: str) -> str:
    return (
        f"{command} writes data, but no AWS endpoint or credentials are configured: it would "
        "go to the embedded AWS emulator, which starts empty and loses everything when the "
        "command exits. Point it at a store (--endpoint-url URL, DDBES_ENDPOINT_URL, or the "
        "exports `ddbes local --setup` prints), or pass --embedded to write there anyway"
    )


class Runtime:
    """Configuration, the container and, when needed, the embedded AWS emulator of one command.

    Args:
        args: the parsed command line (the options of :func:`add_aws_options`).
        defaults: configuration defaults of the command (under file, environment and options).
        settings: configuration the command fixes (over everything else).
        demo: the demo never goes to AWS itself: only an explicit endpoint (``--endpoint-url``,
            ``DDBES_ENDPOINT_URL``, ``AWS_ENDPOINT_URL``) leaves the embedded default.
        set_up_embedded: create the configured table and bucket in a freshly started embedded
            emulator (the demo creates its own).
        writes: the command, when it writes data a user means to keep (``"ddbes append"``): it
            refuses the embedded default, whose data is lost on exit, unless ``--embedded``
            asks for it.

    Raises:
        ConfigurationError: ``writes`` is set and only the embedded default is configured.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        defaults: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        demo: bool = False,
        set_up_embedded: bool = True,
        environ: Mapping[str, str] | None = None,
        writes: str | None = None,
    ) -> None:
        from ddbes.container import load_configuration  # noqa: PLC0415 (needs the extra)

        self.environ = os.environ if environ is None else environ
        given = {
            "endpoint_url": getattr(args, "endpoint_url", None),
            "region_name": getattr(args, "region", None),
            "table_name": getattr(args, "table", None),
            "backend": getattr(args, "backend", None),
            "timeout": getattr(args, "timeout", None),
            "archive_bucket": getattr(args, "archive_bucket", None),
            "archive_prefix": getattr(args, "archive_prefix", None),
            **(settings or {}),
        }
        self.configuration = load_configuration(
            given,
            file=getattr(args, "config", None),
            environ=self.environ,
            defaults={"backend": "dynamodb", "timeout": DEFAULT_TIMEOUT, **(defaults or {})},
        )
        self.embedded: Any = None
        self._container: Any = None
        forced = bool(getattr(args, "embedded", False))
        if self._wants_embedded(forced, demo):
            if writes and not forced:
                raise ConfigurationError(_throwaway_write(writes))
            self._start_embedded(set_up_embedded)
        else:
            self._local_endpoint_credentials()

    # ------------------------------------------------------------------ where AWS is

    def _uses_aws(self) -> bool:
        config = self.configuration
        return bool(
            {config["backend"], config["checkpoints"]} & _AWS_BACKENDS
            or config["snapshots"] == "s3"
        )

    def _wants_embedded(self, forced: bool, demo: bool) -> bool:
        from ddbes_cli._embedded import aws_configured, endpoint_configured  # noqa: PLC0415

        if not self._uses_aws() or self.configuration["endpoint_url"]:
            return False
        if forced:
            return True
        if demo:
            return endpoint_configured(self.environ) is None
        return aws_configured(self.environ) is None

    def _local_endpoint_credentials(self) -> None:
        """DynamoDB Local and moto on this machine accept any credentials: supply some."""
        from ddbes_cli._embedded import (  # noqa: PLC0415
            credentials_configured,
            is_loopback,
            use_emulator_credentials,
        )

        endpoint = self.configuration["endpoint_url"]
        if endpoint and is_loopback(endpoint) and credentials_configured(self.environ) is None:
            use_emulator_credentials()

    def _start_embedded(self, set_up: bool) -> None:
        from ddbes_cli._embedded import EmbeddedAWS  # noqa: PLC0415

        self.embedded = EmbeddedAWS()
        self.embedded.use_in_this_process()
        self.configuration["endpoint_url"] = self.embedded.endpoint_url
        self.configuration["s3_endpoint_url"] = None
        self.configuration["region_name"] = self.configuration["region_name"] or "us-east-1"
        say(
            "ddbes: no AWS endpoint configured: using the embedded AWS emulator (moto, in this "
            f"process) at {self.embedded.endpoint_url}; it starts empty, and its data is lost "
            "on exit (--endpoint-url or AWS_ENDPOINT_URL to use another)",
            sys.stderr,
        )
        if set_up:
            self._set_up_embedded()

    def _set_up_embedded(self) -> None:
        """An emulator starts empty: give it the table and bucket the configuration names."""
        config = self.configuration
        if "dynamodb" in (config["backend"], config["checkpoints"]):
            from ddbes.container import require_adapter  # noqa: PLC0415

            adapter = require_adapter("ddbes_dynamodb", "backend 'dynamodb'")
            adapter.DynamoDBCommitStore.from_settings(
                config, resources=self.container.resources()
            ).create_table(log_partitions=config["log_partitions"])
        snapshots = self.snapshot_store()
        for store in (snapshots, getattr(snapshots, "overflow", None)):  # tips' S3 overflow
            if store is not None and hasattr(store, "create_bucket"):
                store.create_bucket()

    @property
    def where(self) -> str:
        """Where the data is, for messages."""
        config = self.configuration
        if config["backend"] == "memory":
            return "in this process's memory"
        endpoint = config["endpoint_url"] or "AWS"
        return f"DynamoDB table {config['table_name']!r} at {endpoint}"

    # ------------------------------------------------------------------ stores

    @property
    def container(self) -> Any:
        """The configured :class:`ddbes.container.Container` (built on first use)."""
        if self._container is None:
            from ddbes.container import Container  # noqa: PLC0415

            container = Container()
            container.config.from_dict(self.configuration)
            self._container = container
        return self._container

    def install(self) -> None:
        """Make this command's stores ``ddbes.config``'s defaults."""
        from ddbes.container import install  # noqa: PLC0415

        install(self.container)

    def commit_store(self) -> Any:
        """The configured commit store."""
        return self.container.commit_store()

    def checkpoint_store(self) -> Any:
        """The configured checkpoint store."""
        return self.container.checkpoint_store()

    def snapshot_store(self) -> Any:
        """The configured snapshot store (``None`` when snapshots are off)."""
        return self.container.snapshot_store()

    def dynamodb_store(self, what: str) -> Any:
        """The commit store, which must be DynamoDB's (table administration needs it)."""
        if self.configuration["backend"] != "dynamodb":
            raise ConfigurationError(
                f"{what} needs the dynamodb backend, but backend is "
                f"{self.configuration['backend']!r}"
            )
        return self.commit_store()

    def close(self) -> None:
        """Stop the embedded emulator, if one runs."""
        if self.embedded is not None:
            self.embedded.close()
            self.embedded = None

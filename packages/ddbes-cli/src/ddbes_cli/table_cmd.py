"""``ddbes table create|delete|describe``: the DynamoDB table of the commit log."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from ddbes_cli import _exit
from ddbes_cli._args import positive_int
from ddbes_cli._runtime import Runtime, add_aws_options, add_json_option, print_json, say

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``table`` and its subcommands."""
    table = subparsers.add_parser(
        "table", help="create, delete or describe the DynamoDB table", description=__doc__
    )
    actions = table.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="create the table (on-demand billing unless capacities are given)",
        description="Create the table; an existing table is left as it is.",
    )
    create.add_argument("--read-capacity", type=positive_int, metavar="N", help="provisioned reads")
    create.add_argument(
        "--write-capacity", type=positive_int, metavar="N", help="provisioned writes"
    )
    create.add_argument(
        "--log-partitions",
        type=positive_int,
        metavar="N",
        help="global log partitions (fixed for the table's life; default 1)",
    )
    create.add_argument(
        "--sequencing",
        choices=("background", "inline"),
        default="background",
        help="how commits get log positions: a background sequencer (default; writer processes "
        "scale out) or the commit's own transaction (positions known at once)",
    )
    create.add_argument("--no-wait", action="store_true", help="return before it is ACTIVE")
    add_aws_options(create)
    add_json_option(create)
    create.set_defaults(run=_create)

    delete = actions.add_parser(
        "delete",
        help="delete the table and every commit in it",
        description="Delete the table. A missing table is not an error: the command says so "
        "and exits 0.",
    )
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--no-wait", action="store_true", help="return before it is gone")
    add_aws_options(delete)
    add_json_option(delete)
    delete.set_defaults(run=_delete)

    describe = actions.add_parser(
        "describe",
        help="status, billing, size, log partitions and heads",
        description="Describe the table. Exit code 4 when it does not exist.",
    )
    add_aws_options(describe)
    add_json_option(describe)
    describe.set_defaults(run=_describe)


def _create(args: argparse.Namespace) -> int:
    if (args.read_capacity is None) != (args.write_capacity is None):
        say("ddbes table create: error: give both --read-capacity and --write-capacity", sys.stderr)
        return _exit.USAGE
    runtime = Runtime(args, writes="ddbes table create")
    store = runtime.dynamodb_store("ddbes table create")
    partitions = (
        runtime.configuration["log_partitions"]
        if args.log_partitions is None
        else args.log_partitions
    )
    store.create_table(
        read_capacity=args.read_capacity,
        write_capacity=args.write_capacity,
        log_partitions=partitions,
        wait=not args.no_wait,
        sequencing=args.sequencing,
    )
    description = store.describe()
    if args.json:
        print_json(asdict(description))
    else:
        say(f"table {store.table_name!r} is {description.status} ({_billing(description)})")
    return _exit.OK


def _delete(args: argparse.Namespace) -> int:
    runtime = Runtime(args, writes="ddbes table delete")
    store = runtime.dynamodb_store("ddbes table delete")
    if not store.describe().exists:
        if args.json:
            print_json({"table_name": store.table_name, "deleted": False, "existed": False})
        else:
            where = runtime.configuration["endpoint_url"] or "AWS"
            say(f"table {store.table_name!r} does not exist at {where}: nothing deleted")
        return _exit.OK
    if not args.yes:
        if not sys.stdin.isatty():
            say(
                f"ddbes table delete: error: refusing to delete table {store.table_name!r} "
                "without --yes",
                sys.stderr,
            )
            return _exit.USAGE
        answer = input(f"Delete table {store.table_name!r} and every commit in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            say("nothing deleted", sys.stderr)
            return _exit.FAILED
    store.delete_table(wait=not args.no_wait)
    if args.json:
        print_json({"table_name": store.table_name, "deleted": True, "existed": True})
    else:
        say(f"table {store.table_name!r} deleted")
    return _exit.OK


def _billing(description: Any) -> str:
    if description.billing_mode == "PROVISIONED":
        return (
            f"provisioned: {description.read_capacity} reads, {description.write_capacity} writes"
        )
    return "on-demand billing" if description.billing_mode else "billing unknown"


def _format(version: int | None) -> str:
    kinds = {1: "log entries, written with each commit", 2: "log entries", 3: "log pages"}
    return "unknown" if version is None else f"{version} ({kinds.get(version, 'unknown')})"


def _describe(args: argparse.Namespace) -> int:
    runtime = Runtime(args)
    store = runtime.dynamodb_store("ddbes table describe")
    description = store.describe()
    if args.json:
        print_json({**asdict(description), "exists": description.exists})
    elif not description.exists:
        say(f"table {store.table_name!r} does not exist (ddbes table create)")
    else:
        say(f"table        {description.table_name}")
        say(f"status       {description.status}")
        say(f"billing      {_billing(description)}")
        say(f"items        {description.item_count} (estimate)")
        say(f"size         {description.size_bytes} bytes (estimate)")
        say(f"partitions   {description.log_partitions}")
        say(f"sequencing   {description.sequencing}")
        say(f"format       {_format(description.format_version)}")
        heads = ", ".join(f"{n}: {h}" for n, h in enumerate(description.heads)) or "-"
        say(f"log heads    {heads}")
        if description.sequencing == "background":
            backlog = ", ".join(f"{n}: {b}" for n, b in enumerate(description.backlog))
            say(f"not in log   {backlog} (commits the sequencer has yet to place)")
    return _exit.OK if description.exists else _exit.NOT_FOUND

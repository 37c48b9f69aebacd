"""``ddbes autoscaling setup|remove|describe``: Application Auto Scaling for a provisioned
table."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from ddbes.errors import ConfigurationError
from ddbes_cli import _exit
from ddbes_cli._args import positive_int
from ddbes_cli._runtime import (
    Runtime,
    UsageError,
    add_aws_options,
    add_json_option,
    print_json,
    say,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``autoscaling`` and its subcommands."""
    scaling = subparsers.add_parser(
        "autoscaling", help="scale a provisioned table's capacity", description=__doc__
    )
    actions = scaling.add_subparsers(dest="action", metavar="ACTION", required=True)

    setup = actions.add_parser(
        "setup",
        help="register scalable targets and target-tracking policies",
        description="Scale reads and writes between their bounds to keep the utilization "
        "near the target; running it again updates them.",
    )
    setup.add_argument("--read-min", type=positive_int, default=5, metavar="N", help="default 5")
    setup.add_argument(
        "--read-max", type=positive_int, default=100, metavar="N", help="default 100"
    )
    setup.add_argument("--write-min", type=positive_int, default=5, metavar="N", help="default 5")
    setup.add_argument(
        "--write-max", type=positive_int, default=100, metavar="N", help="default 100"
    )
    setup.add_argument(
        "--target", type=float, default=70.0, metavar="PERCENT", help="utilization, default 70"
    )
    setup.add_argument("--role-arn", metavar="ARN", help="a role instead of the service-linked one")
    add_aws_options(setup)
    add_json_option(setup)
    setup.set_defaults(run=_setup)

    remove = actions.add_parser("remove", help="remove the policies and targets")
    add_aws_options(remove)
    add_json_option(remove)
    remove.set_defaults(run=_remove)

    describe = actions.add_parser("describe", help="the scalable targets and their policies")
    add_aws_options(describe)
    add_json_option(describe)
    describe.set_defaults(run=_describe)


def _show(store: Any, as_json: bool) -> None:
    targets = store.describe_autoscaling()
    if as_json:
        print_json([asdict(target) for target in targets])
        return
    if not targets:
        say(f"table {store.table_name!r} has no autoscaling")
    for target in targets:
        policy = (
            f"target {target.target_value:g}%" if target.target_value is not None else "no policy"
        )
        say(
            f"{target.dimension}  {target.min_capacity}..{target.max_capacity}  {policy}  "
            f"({target.resource_id})"
        )


def _check_bounds(args: argparse.Namespace) -> None:
    """The bounds in the command's own terms (the Python API would name its parameters)."""
    for kind in ("read", "write"):
        low, high = getattr(args, f"{kind}_min"), getattr(args, f"{kind}_max")
        if high < low:
            raise UsageError(f"--{kind}-max ({high}) is below --{kind}-min ({low})")
    if not 20 <= args.target <= 90:
        raise UsageError(f"--target must be from 20 to 90 (percent), got {args.target:g}")


def _setup(args: argparse.Namespace) -> int:
    _check_bounds(args)
    store = Runtime(args, writes="ddbes autoscaling setup").dynamodb_store(
        "ddbes autoscaling setup"
    )
    try:
        store.setup_autoscaling(
            table_read_min_capacity=args.read_min,
            table_read_max_capacity=args.read_max,
            table_write_min_capacity=args.write_min,
            table_write_max_capacity=args.write_max,
            utilization_target_in_percent=args.target,
            role_arn=args.role_arn,
        )
    except ConfigurationError as exc:
        if "on-demand" not in str(exc):
            raise
        raise ConfigurationError(
            f"table {store.table_name!r} is on-demand (PAY_PER_REQUEST) and scales by itself: "
            "autoscaling needs a provisioned table (ddbes table create --read-capacity N "
            "--write-capacity N)"
        ) from exc
    _show(store, args.json)
    return _exit.OK


def _remove(args: argparse.Namespace) -> int:
    store = Runtime(args, writes="ddbes autoscaling remove").dynamodb_store(
        "ddbes autoscaling remove"
    )
    store.remove_autoscaling()
    if args.json:
        print_json({"table_name": store.table_name, "autoscaling": []})
    else:
        say(f"autoscaling removed from table {store.table_name!r}")
    return _exit.OK


def _describe(args: argparse.Namespace) -> int:
    store = Runtime(args).dynamodb_store("ddbes autoscaling describe")
    _show(store, args.json)
    return _exit.OK

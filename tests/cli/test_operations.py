"""``ddbes table`` and ``ddbes autoscaling`` against an endpoint."""

from __future__ import annotations

import uuid

from tests.cli.conftest import Ddbes, assert_one_line_error


def _table() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def test_table_create_describe_delete(ddbes: Ddbes) -> None:
    table = _table()
    created = ddbes("table", "create", "--table", table, "--log-partitions", "3", "--json")
    assert created.returncode == 0, created.stderr
    description = created.json()
    assert description["status"] == "ACTIVE"
    assert description["log_partitions"] == 3
    assert description["billing_mode"] == "PAY_PER_REQUEST"

    described = ddbes("table", "describe", "--table", table)
    assert described.returncode == 0
    assert "partitions   3" in described.lines
    assert "format       3 (log pages)" in described.lines
    assert "log heads    0: 0, 1: 0, 2: 0" in described.lines

    again = ddbes("table", "create", "--table", table)
    assert (again.returncode, again.stdout.strip()) == (
        0,
        f"table {table!r} is ACTIVE (on-demand billing)",
    )

    refused = ddbes("table", "delete", "--table", table)
    assert_one_line_error(refused, 2, f"refusing to delete table {table!r} without --yes")

    deleted = ddbes("table", "delete", "--table", table, "--yes")
    assert (deleted.returncode, deleted.stdout.strip()) == (0, f"table {table!r} deleted")
    gone = ddbes("table", "describe", "--table", table, "--json")
    assert gone.returncode == 4
    assert gone.json()["exists"] is False
    missing_again = ddbes("table", "delete", "--table", table, "--yes")
    assert missing_again.returncode == 0


def test_autoscaling_setup_describe_remove_on_a_provisioned_table(ddbes: Ddbes) -> None:
    table = _table()
    created = ddbes(
        "table", "create", "--table", table, "--read-capacity", "5", "--write-capacity", "5"
    )
    assert created.stdout.strip() == f"table {table!r} is ACTIVE (provisioned: 5 reads, 5 writes)"
    setup = ddbes(
        "autoscaling",
        "setup",
        "--table",
        table,
        "--read-min",
        "5",
        "--read-max",
        "50",
        "--write-min",
        "5",
        "--write-max",
        "20",
        "--target",
        "60",
        "--json",
    )
    assert setup.returncode == 0, setup.stderr
    targets = {t["dimension"]: t for t in setup.json()}
    reads = targets["dynamodb:table:ReadCapacityUnits"]
    writes = targets["dynamodb:table:WriteCapacityUnits"]
    assert (reads["min_capacity"], reads["max_capacity"], reads["target_value"]) == (5, 50, 60.0)
    assert (writes["min_capacity"], writes["max_capacity"]) == (5, 20)

    removed = ddbes("autoscaling", "remove", "--table", table)
    assert removed.stdout.strip() == f"autoscaling removed from table {table!r}"
    described = ddbes("autoscaling", "describe", "--table", table)
    assert described.stdout.strip() == f"table {table!r} has no autoscaling"
    ddbes("table", "delete", "--table", table, "--yes")


def test_autoscaling_an_on_demand_table_is_a_configuration_error(ddbes: Ddbes) -> None:
    result = ddbes("autoscaling", "setup")
    assert_one_line_error(result, 3, "table 'ddbes' is on-demand")


def test_table_create_needs_both_capacities(ddbes: Ddbes) -> None:
    result = ddbes("table", "create", "--table", _table(), "--read-capacity", "5")
    assert_one_line_error(result, 2, "give both --read-capacity and --write-capacity")

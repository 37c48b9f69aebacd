"""``ddbes migrate-js``: the command is a thin shell over ``migrate_js``: a progress bar with
commits/s on stderr, the report on stdout (or JSON), exit 1 when refused; and the other
commands pointed at a JavaScript table say to migrate it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb.js_migration import JS_TABLE_MESSAGE
from tests.cli.conftest import Ddbes, clean_environment
from tests.dynamodb.tables import client_for
from tests.migrate_js.jstables import JsTables, js_item
from tests.services import DynamoDBLocal

T0 = datetime(2017, 1, 1, tzinfo=UTC)


@pytest.fixture
def ddbes(tmp_path: Path, dynamodb_local: DynamoDBLocal) -> Ddbes:
    """``ddbes`` with a clean environment; every call names the endpoint."""
    return Ddbes(clean_environment(tmp_path))


def carts(count: int) -> list[dict[str, object]]:
    return [
        js_item(
            "Cart",
            f"c{n % 4}",
            n // 4 + 1,
            [{"type": "ItemAdded", "name": str(n)}],
            T0 + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def test_dry_run_then_migrate_with_a_progress_bar_and_a_verified_report(
    ddbes: Ddbes, dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    source = js_tables.create(carts(40))
    where = ("--endpoint-url", dynamodb_local.endpoint_url)

    dry = ddbes("migrate-js", source, "--to", target, *where, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = dry.json()
    assert (planned["commits_planned"], planned["commits_written"], planned["ok"]) == (40, 0, True)
    assert target not in client_for(dynamodb_local.endpoint_url).list_tables()["TableNames"]

    done = ddbes("migrate-js", source, "--to", target, *where, "--log-partitions", "2")
    assert done.returncode == 0, done.stderr
    assert f"writing {target} [" in done.stderr and "commits/s" in done.stderr
    assert "migrated 40 commit(s) of 4 aggregate(s) (40 written now, 0 by earlier runs)" in (
        done.stdout
    )
    assert "  Cart: 4 aggregate(s), 40 of 40 commit(s)" in done.lines
    assert "verified: the target holds every migrated commit, in log order" in done.lines
    store = DynamoDBCommitStore(target, client=client_for(dynamodb_local.endpoint_url))
    assert store.log_partitions == 2
    assert sum(len(list(store.read_log(log_partition=p))) for p in range(2)) == 40

    again = ddbes("migrate-js", source, "--to", target, *where, "--json", "--no-progress")
    assert again.returncode == 0 and again.stderr == ""
    assert json.loads(again.stdout)["commits_already_migrated"] == 40
    store.close()


def test_a_refused_migration_exits_1_with_the_report_and_writes_nothing(
    ddbes: Ddbes, dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    source = js_tables.create([*carts(4), js_item("Cart", "gap", 3, [{"type": "E"}], T0)])
    result = ddbes(
        "migrate-js", source, "--to", target, "--endpoint-url", dynamodb_local.endpoint_url
    )
    assert result.returncode == 1
    assert "'gap' lacks versions 1-2" in result.stdout
    assert "--allow-version-gaps" in result.errors[-1]
    assert target not in client_for(dynamodb_local.endpoint_url).list_tables()["TableNames"]


def test_other_commands_pointed_at_a_javascript_table_say_to_migrate_it(
    ddbes: Ddbes, dynamodb_local: DynamoDBLocal, js_tables: JsTables
) -> None:
    source = js_tables.create(carts(1))
    where = ("--endpoint-url", dynamodb_local.endpoint_url, "--table", source)
    for args in (("table", "describe"), ("inspect", "Cart", "c0")):
        result = ddbes(*args, *where)
        assert result.returncode == 3, result.stderr
        assert JS_TABLE_MESSAGE in result.errors[-1]
        assert "ValidationException" not in result.stderr

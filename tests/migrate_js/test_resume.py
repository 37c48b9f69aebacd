"""A migration stopped at any point resumes without duplicating or reordering anything; a
re-run is idempotent, and picks up commits added to the source since, when they come later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ddbes_dynamodb import DynamoDBCommitStore, migrate_js
from ddbes_dynamodb.js_migration import MigrationConflict, MigrationProgress, VerificationFailed
from tests.dynamodb.tables import client_for
from tests.migrate_js.jstables import JsTables, js_item
from tests.services import DynamoDBLocal

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2018, 3, 1, tzinfo=UTC)


def history(count: int, keys: int = 9, start: int = 0) -> list[dict[str, Any]]:
    return [
        js_item(
            "Cart",
            f"k{n % keys}",
            n // keys + 1,
            [{"type": "Counted", "n": n}],
            T0 + timedelta(milliseconds=10 * n),
        )
        for n in range(start, start + count)
    ]


def whole_log(store: DynamoDBCommitStore) -> list[tuple[int, int, str]]:
    """(partition, position, commit id) of every log entry; positions checked dense."""
    entries = []
    for partition in range(store.log_partitions):
        log = list(store.read_log(log_partition=partition))
        assert [c.position for c in log] == list(range(1, len(log) + 1))
        entries += [(partition, c.position or 0, c.commit_id) for c in log]
    return entries


class Stop(Exception):
    pass


def test_an_interrupted_migration_resumes_and_a_rerun_writes_nothing(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    source = js_tables.create(history(90))
    seen: list[int] = []

    def interrupt(progress: MigrationProgress) -> None:
        if progress.phase == "writing" and progress.done:
            seen.append(progress.done)
            if len(seen) == 3:
                raise Stop  # as Ctrl-C would, in the middle of the writes

    with pytest.raises(Stop):
        migrate_js(source, target, client=client, chunk_commits=10, on_progress=interrupt)
    store = DynamoDBCommitStore(target, client=client)
    partial = whole_log(store)
    assert 30 <= len(partial) < 90  # three chunks, maybe one more in flight: never half of one
    assert len(partial) % 10 == 0

    resumed = migrate_js(source, target, client=client, chunk_commits=10)
    assert resumed.commits_already_migrated == len(partial)
    assert resumed.commits_written == 90 - len(partial)
    full = whole_log(store)
    assert full[: len(partial)] == partial  # nothing rewritten, nothing reordered
    assert len({commit_id for _, _, commit_id in full}) == 90

    again = migrate_js(source, target, client=client)
    assert (again.commits_written, again.commits_already_migrated) == (0, 90)
    assert again.verified and whole_log(store) == full

    js_tables.put(source, history(9, start=90))  # the JavaScript writers went on a little
    caught_up = migrate_js(source, target, client=client)
    assert (caught_up.commits_written, caught_up.commits_already_migrated) == (9, 90)
    assert whole_log(store)[:90] == full
    store.close()


def test_a_killed_migration_process_resumes_without_duplicates(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    source = js_tables.create(history(120))
    environ = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "fakeKey1",
        "AWS_SECRET_ACCESS_KEY": "fakeSecret1",
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.migrate_js.crash_worker",
            dynamodb_local.endpoint_url,
            source,
            target,
            "7",
            "5",
        ],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    client = client_for(dynamodb_local.endpoint_url)
    store = DynamoDBCommitStore(target, client=client)
    partial = whole_log(store)
    assert 0 < len(partial) < 120

    report = migrate_js(source, target, client=client)
    assert report.verified
    assert report.commits_already_migrated == len(partial)
    assert report.commits_written + report.commits_already_migrated == 120
    full = whole_log(store)
    assert len(full) == 120 and len({entry[2] for entry in full}) == 120
    assert set(partial) <= set(full)
    for key in range(9):  # every aggregate whole, in version order
        versions = [c.version for c in store.read_commits("Cart", f"k{key}")]
        assert versions == list(range(1, len(versions) + 1))
    store.close()


def test_a_resume_refuses_a_source_whose_migrated_part_changed(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    source = js_tables.create(history(40))

    def stop_after_first(progress: MigrationProgress) -> None:
        if progress.phase == "writing" and progress.done:
            raise Stop

    with pytest.raises(Stop):
        migrate_js(source, target, client=client, chunk_commits=10, on_progress=stop_after_first)
    # a JavaScript writer with a slow clock adds a commit older than what was migrated
    js_tables.put(source, [js_item("Cart", "late", 1, [{"type": "Late"}], T0)])
    with pytest.raises(MigrationConflict, match="earlier times"):
        migrate_js(source, target, client=client)
    log = list(DynamoDBCommitStore(target, client=client).read_log())
    assert len(log) == 10  # nothing more was written


def test_a_rerun_verifies_again_and_reports_a_damaged_target(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    source = js_tables.create(history(12))
    assert migrate_js(source, target, client=client).verified
    fifth = {"p": {"S": "l#0"}, "s": {"S": f"{5:012d}"}}
    entry = client.get_item(TableName=target, Key=fifth)["Item"]
    client.delete_item(TableName=target, Key=fifth)
    with pytest.raises(VerificationFailed) as failed:
        migrate_js(source, target, client=client)
    assert failed.value.report.verification_errors == (
        "log partition 0: 11 log entries after position 0, the last at 12, where 12 commits "
        "were migrated to positions 1..12",
    )
    assert failed.value.report.commits_written == 0

    client.put_item(TableName=target, Item=entry)
    last = {"p": {"S": "c#4#Cart#k2"}, "s": {"S": f"{2:012d}"}}  # the log's last commit
    client.update_item(
        TableName=target,
        Key=last,
        UpdateExpression="SET e = :e",
        ExpressionAttributeValues={":e": {"S": '[{"type":"Tampered"}]'}},
    )
    with pytest.raises(VerificationFailed, match="is not stored as migrated"):
        migrate_js(source, target, client=client)

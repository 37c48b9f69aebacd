"""``ddbes archive run|status`` against ``ddbes local``: dry run, run, idempotent re-run,
status, and reads of the archived commits afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ddbes.model import Commit
from tests.cli.conftest import Ddbes, Local

OLD = datetime.now(UTC) - timedelta(days=100)


@pytest.fixture
def pasted(local: Local, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in local.environment.items():
        monkeypatch.setenv(name, value)
    yield


def test_archive_run_moves_old_aggregates_and_status_reports_the_savings(
    pasted: None, local: Local, ddbes: Ddbes, tmp_path: Path
) -> None:
    from ddbes_dynamodb import DynamoDBCommitStore
    from ddbes_s3 import S3ArchiveStore, S3SnapshotStore

    table = f"ddbes-archive-{uuid.uuid4().hex[:8]}"
    bucket = f"ddbes-archive-{uuid.uuid4().hex[:8]}"
    store = DynamoDBCommitStore(table, endpoint_url=local.endpoint_url)
    store.create_table()
    S3SnapshotStore(bucket, endpoint_url=local.endpoint_url).create_bucket()
    for key, when in (("old", OLD), ("new", datetime.now(UTC))):
        for version in (1, 2):
            store.append(
                Commit(
                    commit_id=uuid.uuid4().hex,
                    aggregate_type="Order",
                    aggregate_key=key,
                    version=version,
                    committed_at=when + timedelta(seconds=version),
                    events=(
                        {"type": "Line", "note": "".join(uuid.uuid4().hex for _ in range(20))},
                    ),
                )
            )
    store.flush_log(timeout=30)
    before = list(store.read_log())
    where = ("--table", table, "--bucket", bucket, "--type", "Order")

    dry = ddbes("archive", "run", *where, "--idle-days", "30", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = dry.json()
    assert report["dry_run"] is True
    assert [one["aggregate_key"] for one in report["archived"]] == ["old"]
    assert report["skipped"] == {"recent": 1}

    run = ddbes("archive", "run", *where, "--idle-days", "30", "--json")
    assert run.returncode == 0, run.stderr
    report = run.json()
    assert [(one["aggregate_key"], one["rewritten"]) for one in report["archived"]] == [("old", 2)]
    assert report["dynamodb_bytes_freed"] > report["archive_bytes"] > 0

    again = ddbes("archive", "run", *where, "--idle-days", "30")
    assert again.returncode == 0, again.stderr
    assert again.lines[-1].startswith("archived 0 aggregates"), again.lines
    assert "1 archived" in again.lines[-1] and "1 recent" in again.lines[-1]

    status = ddbes("archive", "status", *where, "--json")
    assert status.returncode == 0, status.stderr
    order = status.json()["types"]["Order"]
    assert (order["aggregates"], order["commits"]) == (1, 2)
    assert order["dynamodb_bytes_freed"] == report["dynamodb_bytes_freed"]

    reader = DynamoDBCommitStore(
        table,
        endpoint_url=local.endpoint_url,
        archive=S3ArchiveStore(bucket, "archive", endpoint_url=local.endpoint_url),
    )
    assert list(reader.read_log()) == before
    reader.close()

    # The commands that read commits read archived ones given the bucket, by option or setting.
    blind = ddbes("inspect", "Order", "old", "--table", table)
    assert blind.returncode != 0 and "DDBES_ARCHIVE_BUCKET" in blind.stderr, blind.stderr
    inspected = ddbes("inspect", "Order", "old", "--table", table, "--archive-bucket", bucket)
    assert inspected.returncode == 0, inspected.stderr
    assert inspected.lines[0].startswith("Order:old  version 2"), inspected.lines
    shown = ddbes(
        "inspect", "Order", "old", "--table", table, "--json", env={"DDBES_ARCHIVE_BUCKET": bucket}
    )
    assert shown.returncode == 0, shown.stderr
    old = [c for c in before if c.aggregate_key == "old"]
    assert shown.json()["version"] == 2
    assert [c["events"] for c in shown.json()["commits"]] == [list(c.events) for c in old]
    (tmp_path / "projections.py").write_text(PROJECTIONS)
    replayed = ddbes(
        "replay",
        "projections:handlers",
        "--name",
        f"archive-{table}",
        "--table",
        table,
        "--json",
        "--no-progress",
        cwd=tmp_path,
        env={"DDBES_ARCHIVE_BUCKET": bucket},
    )
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.json()["handled"] == len(before)
    store.delete_table(wait=False)


PROJECTIONS = """
def note(commit):
    assert commit.events[0]["note"]  # the events, read from the archive

handlers = {"Order": note}
"""


def test_archive_without_a_bucket_says_how_to_give_one(pasted: None, ddbes: Ddbes) -> None:
    result = ddbes("archive", "status", "--type", "Order")
    assert result.returncode != 0
    assert "--bucket NAME" in result.stderr and "DDBES_ARCHIVE_BUCKET" in result.stderr

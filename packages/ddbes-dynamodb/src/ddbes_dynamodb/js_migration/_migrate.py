"""``migrate_js``: read a JavaScript ddbes table, plan, write resumably, verify, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ddbes.errors import ConfigurationError
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import admin
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.commit_store import DynamoDBCommitStore
from ddbes_dynamodb.js_migration._plan import build_plan
from ddbes_dynamodb.js_migration._report import (
    MigrationRefused,
    MigrationReport,
    VerificationFailed,
)
from ddbes_dynamodb.js_migration._source import check_source, read_source
from ddbes_dynamodb.js_migration._verify import verify
from ddbes_dynamodb.js_migration._writer import (
    MAX_CHUNK_ACTIONS,
    open_partition,
    read_marker,
    write_partitions,
)

__all__ = ["MigrationProgress", "migrate_js"]


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """Where a migration is: ``phase`` is ``"reading"`` (items of the source; ``total`` is
    DynamoDB's estimate of its item count), ``"writing"`` (commits in the target, earlier runs
    included, of those planned) or ``"verifying"``."""

    phase: str
    done: int
    total: int


def _holds_data(table: TableHandle) -> bool:
    """Whether the table holds anything but metadata (commits, log entries, keys, ...)."""
    request: dict[str, Any] = {
        "TableName": table.name,
        "ConsistentRead": True,
        "ProjectionExpression": "p",
        "FilterExpression": "NOT begins_with(p, :m)",
        "ExpressionAttributeValues": {":m": {"S": "m#"}},
    }
    while True:
        response = table.call(table.client.scan, "looking for data in the target", **request)
        if response.get("Items"):
            return True
        last = response.get("LastEvaluatedKey")
        if last is None:
            return False
        request["ExclusiveStartKey"] = last


def _exists(table: TableHandle) -> bool:
    response = table.call(
        table.client.describe_table,
        "describe_table",
        tolerate=frozenset({"ResourceNotFoundException"}),
        TableName=table.name,
    )
    return response is not None


def migrate_js(
    source_table: str,
    target: DynamoDBCommitStore | str,
    *,
    client: Any = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    log_partitions: int = 1,
    sequencing: str = "background",
    allow_other_data: bool = False,
    allow_version_gaps: bool = False,
    skip_bad_events: bool = False,
    dry_run: bool = False,
    chunk_commits: int = MAX_CHUNK_ACTIONS,
    timeouts: Timeouts | None = None,
    on_progress: Callable[[MigrationProgress], None] | None = None,
) -> MigrationReport:
    """Copy every commit of a table of the JavaScript ddbes (0.20 to 0.25) into a ddbes table.

    Each aggregate keeps its type, key string, versions, events, commit time (milliseconds)
    and JavaScript commit id; the global log gets the commits in commit-time order (ties: type,
    key, version), dense. Running it again resumes an interrupted migration, or finds nothing
    to do (or only the commits added to the source since, when they come after the migrated
    ones). ``docs/migrating-from-js.md`` explains the choices.

    Args:
        source_table: the JavaScript library's table.
        target: a :class:`DynamoDBCommitStore`, or the name of its table, reached with the
            same ``client``/``endpoint_url``/``region_name`` as the source. A missing table is
            created with ``log_partitions`` and ``sequencing``; an existing one keeps its own.
        client: a low-level boto3 DynamoDB client for the source (and a target given by name).
        allow_other_data: write into a target that holds other data (the migrated commits
            then take the log positions after its heads; aggregates it already has conflict).
        allow_version_gaps: migrate aggregates whose versions have holes, with the holes.
        skip_bad_events: leave out events (and commits) that ddbes cannot store, instead of
            stopping; they are listed in the report.
        dry_run: read and plan only; write nothing (not even the target table).
        chunk_commits: commits per transaction, at most (fewer when DynamoDB's 100 actions or
            2 MB per chunk say so).
        on_progress: called with a :class:`MigrationProgress` after each page read and each
            chunk written (from worker threads; an exception raised there stops the migration
            after the chunks in flight, which are complete: running it again resumes).

    Returns:
        The :class:`MigrationReport`, verified.

    Raises:
        ConfigurationError: the source is missing or not a JavaScript ddbes table; the target
            is not a ddbes table, or holds other data and ``allow_other_data`` is false.
        MigrationRefused: bad commits or version holes that the options do not allow (the
            error's ``report`` lists them); nothing was written.
        MigrationConflict: the target changed under the migration (another migration, a
            foreign writer, a source whose migrated part changed); nothing half-written.
        VerificationFailed: the target does not hold exactly the plan afterwards.
        StoreUnavailable: DynamoDB kept failing; run it again to resume.
    """
    if not isinstance(chunk_commits, int) or not 1 <= chunk_commits <= MAX_CHUNK_ACTIONS:
        raise ValueError(f"chunk_commits must be an int in 1..{MAX_CHUNK_ACTIONS}")
    options: dict[str, Any] = {
        "log_partitions": log_partitions,
        "sequencing": sequencing,
        "allow_other_data": allow_other_data,
        "allow_version_gaps": allow_version_gaps,
        "skip_bad_events": skip_bad_events,
        "dry_run": dry_run,
        "chunk_commits": chunk_commits,
        "timeouts": timeouts,
        "on_progress": on_progress,
    }
    source = TableHandle(
        source_table,
        client=client,
        endpoint_url=endpoint_url,
        region_name=region_name,
        retry_policy=None,
        timeouts=timeouts,
    )
    if isinstance(target, DynamoDBCommitStore):
        return _migrate(source, target, **options)
    store = DynamoDBCommitStore(target, client=source.client, timeouts=timeouts)
    try:
        return _migrate(source, store, **options)
    finally:
        store.close()


def _migrate(
    source: TableHandle,
    store: DynamoDBCommitStore,
    *,
    log_partitions: int,
    sequencing: str,
    allow_other_data: bool,
    allow_version_gaps: bool,
    skip_bad_events: bool,
    dry_run: bool,
    chunk_commits: int,
    timeouts: Timeouts | None,
    on_progress: Callable[[MigrationProgress], None] | None,
) -> MigrationReport:
    started = time.monotonic()
    report_progress = on_progress or (lambda _: None)
    table = TableHandle(
        store.table_name,
        client=store.client,
        endpoint_url=None,
        region_name=None,
        retry_policy=None,
        timeouts=timeouts,
    )
    if table.name == source.name and store.client is source.client:
        raise ValueError("the target must be another table than the source")
    description = check_source(source)
    estimate = int(description.get("ItemCount") or 0)
    exists = _exists(table)
    partitions = store.log_partitions if exists else log_partitions

    items = read_source(
        source,
        on_read=lambda n: report_progress(MigrationProgress("reading", n, max(n, estimate))),
    )
    plan = build_plan(
        items,
        log_partitions=partitions,
        allow_version_gaps=allow_version_gaps,
        skip_bad_events=skip_bad_events,
    )
    del items
    run = {"source_table": source.name, "target_table": table.name, "dry_run": dry_run}
    if plan.refusals:
        report = MigrationReport.of(
            plan,
            **run,
            commits_written=0,
            commits_already_migrated=0,
            seconds=time.monotonic() - started,
        )
        raise MigrationRefused(
            f"the migration of {source.name!r} was refused: " + "; ".join(plan.refusals), report
        )
    if dry_run:
        return MigrationReport.of(
            plan,
            **run,
            commits_written=0,
            commits_already_migrated=0,
            seconds=time.monotonic() - started,
        )

    if not exists:
        store.create_table(log_partitions=log_partitions, sequencing=sequencing)
    resuming = any(read_marker(table, source.name, p) is not None for p in range(partitions))
    if not resuming and not allow_other_data and _holds_data(table):
        raise ConfigurationError(
            f"the target table {table.name!r} already holds data: migrate into a new table, or "
            "pass --yes (allow_other_data=True) to add the migrated commits after it"
        )
    layout = admin.read_layout(table)
    pages = layout is not None and layout.log_pages
    progress = [
        open_partition(table, source.name, p, plan.partitions[p], pages=pages)
        for p in range(partitions)
    ]
    already = sum(p.done for p in progress)
    written = 0

    def wrote(count: int) -> None:
        nonlocal written
        written += count
        report_progress(MigrationProgress("writing", already + written, plan.commits))

    report_progress(MigrationProgress("writing", already, plan.commits))
    write_partitions(
        table,
        source.name,
        plan.partitions,
        progress,
        max_commits=chunk_commits,
        on_chunk=wrote,
        pages=pages,
    )
    report_progress(MigrationProgress("verifying", 0, plan.commits))
    errors = verify(table, source.name, plan.partitions, progress, pages=pages)
    log = {
        p.partition: (p.base + 1, p.base + len(plan.partitions[p.partition]))
        for p in progress
        if plan.partitions[p.partition]
    }
    report = MigrationReport.of(
        plan,
        **run,
        commits_written=written,
        commits_already_migrated=already,
        log=log,
        verified=not errors,
        verification_errors=tuple(errors),
        seconds=time.monotonic() - started,
    )
    if errors:
        raise VerificationFailed(
            f"the migration of {source.name!r} into {table.name!r} did not verify: {errors[0]}",
            report,
        )
    return report

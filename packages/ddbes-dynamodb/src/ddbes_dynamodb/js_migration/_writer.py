"""Writing the plan into the target table, resumably.

Each log partition is written by one thread, in chunks. A chunk is **one
``TransactWriteItems``** of up to 99 actions: for each of its commits the commit item (already
holding its position ``n``, with no ``u``: the background sequencer never sees it) and the log
entry, both with the condition ``attribute_not_exists(p)``, the key-registry item for an
aggregate's first commit, and **the update of the partition's progress marker** with the
condition ``n = <what this run read>``. So a chunk and its progress are stored together or not
at all, whatever happens to the process:

- the log stays dense (positions ``b + 1 .. b + n`` exist, nothing beyond them), a reader never
  meets a hole, and a crash leaves nothing half-written;
- a resume reads the marker and continues at ``n + 1``, with the same plan (checked by a chained
  hash of the first ``n`` commits' identities, ``h``): nothing is written twice or out of order;
- two migrations of the same source into the same table cannot interleave: the second one's
  marker condition fails;
- a foreign write (a commit of that aggregate version, a log entry at that position) cancels
  the chunk, and the migration stops with a clear error instead of overwriting anything.

On a table of log pages (format 3) the chunk also moves **the partition's head item** to its
last position, on the condition that it still holds the chunk's first position less one (or
has no head yet), as the sequencer does with each page it writes: a sequencer that built a page
on an older head fails its condition instead of writing a page over migrated positions (a
page is keyed by its last position, so the log entries' conditions alone would not stop it),
and a migration chunk after a page fails its own. The base is read from the head item, so the
two agree from the first chunk on. The migrated entries are log entries of their own (pages of
one), which every reader of the log takes as such.

The marker: ``p = "m#migrate-js"``, ``s = "<source table>#<log partition>"``, ``b`` the
partition's head when the migration started, ``n`` commits written, ``h`` the hash, ``w`` when.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ddbes.codec import format_time
from ddbes.errors import DdbesError, StoreError
from ddbes_dynamodb._errors import ConditionFailed, ItemTooLarge, TransactionCancelled
from ddbes_dynamodb._items import Item, commit_items, head_key, keys_pk, log_pk, pad
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.js_migration._plan import Planned

__all__ = [
    "MARKER_PK",
    "MAX_CHUNK_ACTIONS",
    "MigrationConflict",
    "PartitionProgress",
    "chain",
    "marker_key",
    "read_head",
    "read_head_item",
    "read_marker",
    "write_partitions",
]

MARKER_PK = "m#migrate-js"
MAX_CHUNK_ACTIONS = 100
"""DynamoDB's limit of actions per transaction (one is the marker's, and on a table of log
pages one the head item's)."""
MAX_CHUNK_BYTES = 2 * 1024 * 1024
"""Item bytes per transaction, well under DynamoDB's 4 MB."""
_ITEM_OVERHEAD = 200


class MigrationConflict(DdbesError):
    """The target changed under the migration: another migration runs, the source changed in a
    way that reorders what was migrated, or something else wrote to the target."""


@dataclass(slots=True)
class PartitionProgress:
    """One log partition: its head before the migration (``base``), the commits of the plan
    already written (``done``) of ``planned``."""

    partition: int
    base: int
    done: int
    planned: int
    hash: str = ""
    resumed_at: int = 0


def marker_key(source: str, partition: int) -> Item:
    """The key of the progress marker of ``source``'s migration into log partition
    ``partition``."""
    return {"p": {"S": MARKER_PK}, "s": {"S": f"{source}#{partition}"}}


def chain(previous: str, planned: Planned) -> str:
    """The resume check's hash after ``planned``."""
    return hashlib.sha256(f"{previous}\x01{planned.identity}".encode()).hexdigest()


def read_marker(table: TableHandle, source: str, partition: int) -> Item | None:
    """The progress marker, read strongly consistently (``None``: none yet)."""
    response = table.call(
        table.client.get_item,
        "reading the migration's progress",
        TableName=table.name,
        Key=marker_key(source, partition),
        ConsistentRead=True,
    )
    item: Item | None = response.get("Item")
    return item


def read_head(table: TableHandle, partition: int, *, pages: bool) -> int:
    """The partition's newest log position, read strongly consistently: on a table of log
    pages the head item's, which every page write moves (a log without a head item, none of
    whose pages were written, has its last log entry's)."""
    head = read_head_item(table, partition) if pages else None
    return _last_position(table, partition) if head is None else head


def read_head_item(table: TableHandle, partition: int) -> int | None:
    """The position the partition's head item holds (tables of log pages; ``None``: none)."""
    response = table.call(
        table.client.get_item,
        "read_head",
        TableName=table.name,
        Key=head_key(partition),
        ConsistentRead=True,
        ProjectionExpression="n",
    )
    head = response.get("Item", {}).get("n")
    return None if head is None else int(head["N"])


def _last_position(table: TableHandle, partition: int) -> int:
    """The sort key of the partition's last log item (a page is keyed by its last position)."""
    response = table.call(
        table.client.query,
        "read_head",
        TableName=table.name,
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": log_pk(partition)}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
        ProjectionExpression="s",
    )
    items = response["Items"]
    return int(items[0]["s"]["S"]) if items else 0


def open_partition(
    table: TableHandle, source: str, partition: int, planned: list[Planned], *, pages: bool
) -> PartitionProgress:
    """The partition's progress: resumed from its marker (after checking that the plan's first
    ``n`` commits are the ones written), or a new marker at the partition's head (``pages``:
    the table's log is of pages, see :func:`read_head`).

    Raises:
        MigrationConflict: the plan no longer starts with what was written.
    """
    marker = read_marker(table, source, partition)
    if marker is None:
        base = read_head(table, partition, pages=pages)
        item = {
            **marker_key(source, partition),
            "b": {"N": str(base)},
            "n": {"N": "0"},
            "h": {"S": ""},
            "w": {"S": format_time(datetime.now(UTC))},
        }
        try:
            table.call(
                table.client.put_item,
                "recording the migration's start",
                TableName=table.name,
                Item=item,
                ConditionExpression="attribute_not_exists(p)",
            )
        except ConditionFailed:
            return open_partition(table, source, partition, planned, pages=pages)
        return PartitionProgress(partition, base, 0, len(planned))
    base, done, stored_hash = int(marker["b"]["N"]), int(marker["n"]["N"]), marker["h"]["S"]
    if done > len(planned):
        raise MigrationConflict(
            f"log partition {partition} of {table.name!r} already holds {done} commits migrated "
            f"from {source!r}, but the source now gives only {len(planned)} for it: the source "
            "lost commits, or the options changed (--skip-bad-events); migrate into a new table"
        )
    digest = ""
    for entry in planned[:done]:
        digest = chain(digest, entry)
    if digest != stored_hash:
        raise MigrationConflict(
            f"the first {done} commits migrated from {source!r} into log partition {partition} "
            f"of {table.name!r} are not the first {done} the source gives now: commits were added "
            "to the source with earlier times (a JavaScript writer still running?), or the "
            "options changed. Stop the JavaScript writers and migrate into a new table"
        )
    return PartitionProgress(partition, base, done, len(planned), digest, resumed_at=done)


def _chunk(planned: list[Planned], start: int, max_commits: int, *, reserved: int) -> int:
    """Where the chunk starting at ``start`` ends (exclusive), with ``reserved`` actions of the
    transaction taken (the marker's, the head item's)."""
    actions, size, end = reserved, 0, start
    while end < len(planned) and end - start < max_commits:
        entry = planned[end]
        need = 3 if entry.registers else 2
        weight = 2 * (len(entry.payload) + _ITEM_OVERHEAD)
        if actions + need > MAX_CHUNK_ACTIONS or (end > start and size + weight > MAX_CHUNK_BYTES):
            break
        actions += need
        size += weight
        end += 1
    return end


def _actions(table: str, entries: list[Planned], first_position: int) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    for offset, entry in enumerate(entries):
        position = first_position + offset
        commit_item, log_item = commit_items(
            entry.commit, entry.partition, entry.payload, entry.compressed
        )
        commit_item["n"] = {"N": str(position)}
        log_item["s"] = {"S": pad(position)}
        actions.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": commit_item,
                    "ConditionExpression": "attribute_not_exists(p)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        )
        actions.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": log_item,
                    "ConditionExpression": "attribute_not_exists(p)",
                }
            }
        )
        if entry.registers:
            registry = {
                "p": {"S": keys_pk(entry.commit.aggregate_type)},
                "s": {"S": entry.commit.aggregate_key},
            }
            actions.append({"Put": {"TableName": table, "Item": registry}})
    return actions


class _PartitionWriter:
    def __init__(
        self,
        table: TableHandle,
        source: str,
        progress: PartitionProgress,
        planned: list[Planned],
        *,
        max_commits: int,
        wrote: Callable[[int], None],
        stop: threading.Event,
        pages: bool,
    ) -> None:
        self.table = table
        self.source = source
        self.progress = progress
        self.planned = planned
        self.max_commits = max_commits
        self.wrote = wrote
        self.stop = stop
        self.pages = pages

    def run(self) -> None:
        progress = self.progress
        while progress.done < len(self.planned) and not self.stop.is_set():
            reserved = 2 if self.pages else 1
            end = _chunk(self.planned, progress.done, self.max_commits, reserved=reserved)
            entries = self.planned[progress.done : end]
            digest = progress.hash
            for entry in entries:
                digest = chain(digest, entry)
            self._write(entries, digest)
            progress.done = end
            progress.hash = digest
            self.wrote(len(entries))

    def _write(self, entries: list[Planned], digest: str) -> None:
        progress = self.progress
        name = self.table.name
        actions = _actions(name, entries, progress.base + progress.done + 1)
        new_done = progress.done + len(entries)
        if self.pages:
            actions.append(self._head_update(new_done))
        actions.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": marker_key(self.source, progress.partition),
                    "UpdateExpression": "SET n = :n, h = :h, w = :w",
                    "ConditionExpression": "n = :o",
                    "ExpressionAttributeValues": {
                        ":n": {"N": str(new_done)},
                        ":o": {"N": str(progress.done)},
                        ":h": {"S": digest},
                        ":w": {"S": format_time(datetime.now(UTC))},
                    },
                }
            }
        )
        token = hashlib.sha256(
            f"{name}#{self.source}#{progress.partition}#{progress.done}#{digest}".encode()
        ).hexdigest()[:32]
        try:
            self.table.call(
                self.table.client.transact_write_items,
                "migrating commits",
                TransactItems=actions,
                ClientRequestToken=token,
            )
        except TransactionCancelled as cancelled:
            self._cancelled(entries, cancelled.reasons, new_done, digest)
        except ItemTooLarge as exc:
            raise StoreError(
                f"DynamoDB refused a commit of the migration into {name!r} for its size ({exc}), "
                "which ddbes's own size check allowed: please report it"
            ) from exc

    def _head_update(self, new_done: int) -> dict[str, Any]:
        """The move of the partition's head item to the chunk's last position, on the
        condition that it is where the chunk starts (or not there yet), as a sequencer's."""
        progress = self.progress
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": head_key(progress.partition),
                "UpdateExpression": "SET n = :n",
                "ConditionExpression": "attribute_not_exists(n) OR n = :o",
                "ExpressionAttributeValues": {
                    ":n": {"N": str(progress.base + new_done)},
                    ":o": {"N": str(progress.base + progress.done)},
                },
            }
        }

    def _cancelled(
        self, entries: list[Planned], reasons: list[dict[str, Any]], new_done: int, digest: str
    ) -> None:
        progress = self.progress
        codes = [reason.get("Code") for reason in reasons]
        if len(codes) == 0 or codes[-1] == "ConditionalCheckFailed":
            marker = read_marker(self.table, self.source, progress.partition)
            if marker is not None and (
                int(marker["n"]["N"]) == new_done and marker["h"]["S"] == digest
            ):
                return  # this very chunk was written; only its answer was lost
            raise MigrationConflict(
                f"another migration from {self.source!r} into {self.table.name!r} moved log "
                f"partition {progress.partition}'s progress: run one migration at a time; "
                "running it again resumes where they stopped"
            )
        if self.pages and len(codes) > 1 and codes[-2] == "ConditionalCheckFailed":
            raise MigrationConflict(
                f"the head of log partition {progress.partition} of {self.table.name!r} is not "
                f"at position {progress.base + progress.done} any more: something else (a "
                "background sequencer) wrote to the log during the migration, so the migrated "
                "commits cannot continue at the next positions; migrate into a new table, with "
                "no other writer of it running"
            )
        index = 0
        for offset, entry in enumerate(entries):
            position = progress.base + progress.done + offset + 1
            commit = entry.commit
            if codes[index] == "ConditionalCheckFailed":
                held = reasons[index].get("Item") or {}
                held_id = held.get("i", {}).get("S")
                raise MigrationConflict(
                    f"{name_of(commit.aggregate_type, commit.aggregate_key)} version "
                    f"{commit.version} already exists in {self.table.name!r} with commit id "
                    f"{held_id!r}, not migrated from {self.source!r}: the target holds other "
                    "data for this aggregate; migrate into a new table"
                )
            if codes[index + 1] == "ConditionalCheckFailed":
                raise MigrationConflict(
                    f"position {position} of log partition {progress.partition} of "
                    f"{self.table.name!r} was written by something else during the migration: "
                    "stop every writer of the target and run the migration again (it resumes)"
                )
            index += 3 if entry.registers else 2
        raise StoreError(
            f"DynamoDB cancelled a migration transaction into {self.table.name!r} for an "
            f"unexpected reason: {codes}"
        )


def name_of(aggregate_type: str, aggregate_key: str) -> str:
    """An aggregate as messages name it."""
    return f"aggregate {aggregate_type}:{aggregate_key!r}"


def write_partitions(
    table: TableHandle,
    source: str,
    partitions: list[list[Planned]],
    progress: list[PartitionProgress],
    *,
    max_commits: int,
    on_chunk: Callable[[int], None],
    pages: bool,
) -> None:
    """Write every partition's remaining commits, one thread per partition; ``on_chunk(n)``
    after each chunk of ``n`` commits (from the writing thread; an exception there stops the
    migration after the chunks in flight, which are complete). ``pages``: the table's log is of
    pages, and each chunk moves the partition's head item too."""
    stop = threading.Event()
    lock = threading.Lock()

    def wrote(count: int) -> None:
        with lock:
            on_chunk(count)

    writers = [
        _PartitionWriter(
            table,
            source,
            progress[p],
            partitions[p],
            max_commits=max_commits,
            wrote=wrote,
            stop=stop,
            pages=pages,
        )
        for p in range(len(partitions))
        if progress[p].done < len(partitions[p])
    ]
    if not writers:
        return

    def run(writer: _PartitionWriter) -> None:
        try:
            writer.run()
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(min(len(writers), 8), thread_name_prefix="ddbes-migrate") as pool:
        futures = [pool.submit(run, writer) for writer in writers]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise

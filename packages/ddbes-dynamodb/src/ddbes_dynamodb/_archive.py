"""Archiving on DynamoDB, as steps (:mod:`._steps`) the sync and async stores share.

An archived commit keeps both its items as stubs: the commit item keeps ``p s i t n`` and the
log entry ``p s a k v i t``, each gains ``ar`` (the archive object's key) and loses ``e x m``.
So the version stays taken (``attribute_not_exists(p)`` still fails for a stale writer), the
position stays filled, and the stub says where the events are. Each stub is a conditional
update, in ``TransactWriteItems`` of at most :data:`STUBS_PER_TRANSACTION` commits: the item
must still hold that commit id (and the commit item its position), so a rewrite never creates
an item and never touches another commit.

On a table of log pages (format 3) a log entry is an element of the list ``c`` of the page
keyed by its last position: a strongly consistent query finds the page holding a position
(``s >= position``, one item, projecting ``s, f``), and one update per page and transaction
stubs its elements (``SET c[j].ar = :ar REMOVE c[j].e, c[j].x, c[j].m``, on the condition
that each element ``j`` still holds its commit id and version), for DynamoDB refuses a
transaction that touches an item twice. The page's other commits stay as they are. A log entry
of its own (a migrated one, or any on a table of format 1 or 2) is updated as an item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ddbes.archiving import AggregateTip, ArchiveRecord
from ddbes.codec import format_time
from ddbes.errors import StoreError, VersionConflict
from ddbes.model import Commit
from ddbes_dynamodb._errors import TransactionCancelled
from ddbes_dynamodb._items import MAX_NUMBER, Item, commit_pk, corrupt, keys_fit, log_pk, pad
from ddbes_dynamodb._steps import Reads, Request, Steps

__all__ = [
    "STUBS_PER_TRANSACTION",
    "archive_pk",
    "archive_records",
    "archive_tip",
    "record_archive",
    "stub_commits",
]

_STUB = "SET ar = :ar REMOVE e, x, m"
_FAILED = "ConditionalCheckFailed"
STUBS_PER_TRANSACTION = 50
"""Commits stubbed per ``TransactWriteItems``: at most two updates each (a commit item's, and
its log item's, which it shares with the commit's neighbours in a page); DynamoDB's limit is
100 actions (and 4 MB, far above 100 small updates with keys of at most 2 KB)."""
STUBS_PER_PAGE_UPDATE = 25
"""Entries of one page stubbed by one update: four operators of its condition each (two
comparisons, two ``AND``), within DynamoDB's 300 per expression and its 4 KB per expression
(about 50 bytes of update and 45 of condition each)."""


def archive_pk(aggregate_type: str) -> str:
    """The partition key of the archive records of an aggregate type."""
    return f"a#{aggregate_type}"


def archive_tip(table: str, aggregate_type: str, aggregate_key: str) -> Steps[AggregateTip | None]:
    """The newest commit item's version, time, position and stub marker (no events read)."""
    pk = commit_pk(aggregate_type, aggregate_key)
    if not keys_fit(pk, aggregate_key):
        return None
    response = yield Request(
        "query",
        "archive_tip",
        {
            "TableName": table,
            "KeyConditionExpression": "p = :p AND s BETWEEN :l AND :h",
            "ExpressionAttributeValues": {
                ":p": {"S": pk},
                ":l": {"S": pad(1)},
                ":h": {"S": pad(MAX_NUMBER)},
            },
            "ScanIndexForward": False,
            "Limit": 1,
            "ConsistentRead": True,
            "ProjectionExpression": "s, t, n, ar",
        },
    )
    items = response["Items"]
    if not items:
        return None
    item = items[0]
    try:
        return AggregateTip(
            version=int(item["s"]["S"]),
            committed_at=datetime.fromisoformat(item["t"]["S"]),
            # the sequencer logs an aggregate's versions in order: the newest logged, all are
            sequenced="n" in item,
            archived="ar" in item,
        )
    except (KeyError, ValueError) as exc:
        raise corrupt(table, item, exc, pk) from exc


def stub_commits(
    table: str, commits: Sequence[Commit], location: str, *, pages: bool = False
) -> Steps[int]:
    """Turn the log entries and commit items of ``commits`` (version order) into stubs
    pointing to ``location``, in ``TransactWriteItems`` of at most
    :data:`STUBS_PER_TRANSACTION` commits, in version order, so the newest commit item is in
    the last one: a run killed before it leaves the aggregate selected again. On a table of
    log pages (``pages``) each log entry is first found in its page (:func:`_locate`). Returns
    how many commit items changed (a commit item already that stub is left out, and its
    transaction retried)."""
    for commit in commits:
        if commit.position is None:
            raise ValueError(f"{commit.aggregate_id} v{commit.version} is not in the global log")
    slots = (yield from _locate(table, commits)) if pages else _entries(commits)
    rewritten = 0
    for batch in _batches(list(commits), slots):
        rewritten += yield from _stub_batch(table, batch, slots, location)
    return rewritten


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a commit's log entry is: the sort key of the item holding it, and its index in
    that page's list ``c`` (``None``: the item is the log entry itself)."""

    sort_key: str
    index: int | None = None


_Slots = dict[tuple[int, int], _Slot]
"""The slot of each (log partition, position)."""


def _at(slots: _Slots, commit: Commit) -> _Slot:
    return slots[commit.log_partition, commit.position or 0]


def _entries(commits: Sequence[Commit]) -> _Slots:
    """The slots on a table of one log entry per position: keyed by the position."""
    return {(c.log_partition, c.position or 0): _Slot(pad(c.position or 0)) for c in commits}


def _locate(table: str, commits: Sequence[Commit]) -> Steps[_Slots]:
    """The slots on a table of log pages: one strongly consistent query per page holding any
    of the positions (the first log item whose last position is at or after it), projecting
    only ``s, f``; a page never moves once written, so the answer stays true."""
    slots: _Slots = {}
    wanted = sorted({(c.log_partition, c.position or 0) for c in commits})
    at = 0
    while at < len(wanted):
        partition, position = wanted[at]
        last, first = yield from _page_at(table, partition, position)
        while at < len(wanted) and wanted[at][0] == partition and wanted[at][1] <= last:
            held = wanted[at][1]
            slots[partition, held] = _Slot(pad(last), None if first is None else held - first)
            at += 1
    return slots


def _page_at(table: str, partition: int, position: int) -> Steps[tuple[int, int | None]]:
    """The last and first position (``None``: a log entry, no page) of the log item that holds
    ``position``.

    Raises:
        StoreError: no log item holds it (the log has a hole there, or ends before it).
    """
    pk = log_pk(partition)
    response = yield Request(
        "query",
        "archive_locate",
        {
            "TableName": table,
            "KeyConditionExpression": "p = :p AND s >= :s",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":s": {"S": pad(position)}},
            "Limit": 1,
            "ConsistentRead": True,
            "ProjectionExpression": "s, f",
        },
    )
    items = response["Items"]
    if items:
        item = items[0]
        try:
            last = int(item["s"]["S"])
            first = int(item["f"]["N"]) if "f" in item else None
        except (KeyError, ValueError) as exc:
            raise corrupt(table, item, exc, pk) from exc
        if (last if first is None else first) <= position:
            return last, first
    raise StoreError(
        f"no log entry of partition {partition} in table {table!r} holds position {position}: "
        "not archived"
    )


def _batches(commits: list[Commit], slots: _Slots) -> list[list[Commit]]:
    """``commits`` in version order, cut into transactions of at most
    :data:`STUBS_PER_TRANSACTION` commits and :data:`STUBS_PER_PAGE_UPDATE` entries of one
    page (a transaction updates a page once, for all its entries there)."""
    batches: list[list[Commit]] = []
    batch: list[Commit] = []
    per_page: dict[tuple[int, str], int] = {}
    for commit in commits:
        page = (commit.log_partition, _at(slots, commit).sort_key)
        if len(batch) == STUBS_PER_TRANSACTION or per_page.get(page) == STUBS_PER_PAGE_UPDATE:
            batches.append(batch)
            batch, per_page = [], {}
        batch.append(commit)
        per_page[page] = per_page.get(page, 0) + 1
    if batch:
        batches.append(batch)
    return batches


def _by_log_item(batch: list[Commit], slots: _Slots) -> list[list[Commit]]:
    """The commits of ``batch`` grouped by the log item holding their entries, in order."""
    groups: dict[tuple[int, str], list[Commit]] = {}
    for commit in batch:
        groups.setdefault((commit.log_partition, _at(slots, commit).sort_key), []).append(commit)
    return list(groups.values())


def _log_key(commit: Commit, slot: _Slot) -> Item:
    return {"p": {"S": log_pk(commit.log_partition)}, "s": {"S": slot.sort_key}}


def _entry_stub(table: str, commit: Commit, slot: _Slot, location: str) -> dict[str, Any]:
    """The update of a log entry (an item of its own) into a stub, if it holds the commit."""
    return {
        "Update": {
            "TableName": table,
            "Key": _log_key(commit, slot),
            "UpdateExpression": _STUB,
            "ConditionExpression": "i = :i AND v = :v",
            "ExpressionAttributeValues": {
                ":ar": {"S": location},
                ":i": {"S": commit.commit_id},
                ":v": {"N": str(commit.version)},
            },
        }
    }


def _page_stub(table: str, commits: list[Commit], slots: _Slots, location: str) -> dict[str, Any]:
    """The one update of a page that turns the entries of ``commits`` into stubs, if each
    still holds its commit; the page comes back when one does not (to name it)."""
    sets: list[str] = []
    removes: list[str] = []
    conditions: list[str] = []
    values: dict[str, Any] = {":ar": {"S": location}}
    for commit in commits:
        element = f"c[{_at(slots, commit).index}]"
        number = len(conditions)
        sets.append(f"{element}.ar = :ar")
        removes += [f"{element}.e", f"{element}.x", f"{element}.m"]
        conditions.append(f"{element}.i = :i{number} AND {element}.v = :v{number}")
        values[f":i{number}"] = {"S": commit.commit_id}
        values[f":v{number}"] = {"N": str(commit.version)}
    return {
        "Update": {
            "TableName": table,
            "Key": _log_key(commits[0], _at(slots, commits[0])),
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _commit_stub(table: str, commit: Commit, location: str) -> dict[str, Any]:
    """The update of a commit item into a stub: it must hold the commit, in the log, and not
    be that stub already (then its old image comes back, to tell a rerun from a conflict)."""
    return {
        "Update": {
            "TableName": table,
            "Key": {
                "p": {"S": commit_pk(commit.aggregate_type, commit.aggregate_key)},
                "s": {"S": pad(commit.version)},
            },
            "UpdateExpression": _STUB,
            "ConditionExpression": (
                "i = :i AND attribute_exists(n) AND (attribute_not_exists(ar) OR ar <> :ar)"
            ),
            "ExpressionAttributeValues": {
                ":ar": {"S": location},
                ":i": {"S": commit.commit_id},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _stub_actions(
    table: str, batch: list[Commit], slots: _Slots, location: str
) -> tuple[list[dict[str, Any]], list[list[Commit]]]:
    """The transaction's actions, and the commits each one stubs: an update per log item
    (a page's covers its entries of ``batch``), then an update per commit item."""
    actions: list[dict[str, Any]] = []
    stubs: list[list[Commit]] = []
    for group in _by_log_item(batch, slots):
        if _at(slots, group[0]).index is None:
            actions.append(_entry_stub(table, group[0], _at(slots, group[0]), location))
        else:
            actions.append(_page_stub(table, group, slots, location))
        stubs.append(group)
    for commit in batch:
        actions.append(_commit_stub(table, commit, location))
        stubs.append([commit])
    return actions, stubs


def _stub_batch(table: str, batch: list[Commit], slots: _Slots, location: str) -> Steps[int]:
    """One transaction of stubs; commits whose item is that stub already are dropped from it
    (an interrupted run's completed transactions), and it is sent again without them."""
    while batch:
        actions, stubs = _stub_actions(table, batch, slots, location)
        try:
            yield Request("transact_write_items", "archive_commits", {"TransactItems": actions})
        except TransactionCancelled as cancelled:
            batch = _not_stubbed(
                table, batch, cancelled.reasons, location, stubs=stubs, slots=slots
            )
            continue
        return len(batch)
    return 0


def _not_stubbed(
    table: str,
    batch: list[Commit],
    reasons: list[dict[str, Any]],
    location: str,
    *,
    stubs: list[list[Commit]],
    slots: _Slots,
) -> list[Commit]:
    """The commits of a cancelled batch still to stub (``stubs``: the commits of each of its
    actions), or the conflict that cancelled it."""
    done: set[str] = set()
    log_items = len(stubs) - len(batch)
    for number, (commits, reason) in enumerate(zip(stubs, _padded(reasons, stubs), strict=True)):
        if reason.get("Code") != _FAILED:
            continue
        if number < log_items:
            raise _not_in_log(table, _mismatched(commits, slots, reason.get("Item")))
        commit = commits[0]
        item = reason.get("Item") or {}
        if item.get("i", {}).get("S") != commit.commit_id or item.get("ar", {}).get("S") != (
            location
        ):
            raise VersionConflict(
                commit.aggregate_id,
                commit.version,
                f"version {commit.version} of {commit.aggregate_id} is not commit "
                f"{commit.commit_id!r} in the log any more: not archived",
            )
        done.add(commit.commit_id)
    if not done:
        raise StoreError(
            f"DynamoDB cancelled the archive stubs of {batch[0].aggregate_id} in table "
            f"{table!r} for an unexpected reason: {[r.get('Code') for r in reasons]}"
        )
    return [commit for commit in batch if commit.commit_id not in done]


def _padded(reasons: list[dict[str, Any]], stubs: list[list[Commit]]) -> list[dict[str, Any]]:
    """One reason per action (DynamoDB gives one each; a short list is read as no reason)."""
    return (reasons + [{}] * len(stubs))[: len(stubs)]


def _mismatched(commits: list[Commit], slots: _Slots, page: Item | None) -> Commit:
    """The commit of ``commits`` whose entry in ``page`` (its old image, when DynamoDB gave it)
    is not that commit's; the first one when it cannot tell."""
    try:
        elements = (page or {})["c"]["L"]
        for commit in commits:
            index = _at(slots, commit).index or 0
            fields = elements[index]["M"] if index < len(elements) else {}
            if (fields.get("i", {}).get("S"), fields.get("v", {}).get("N")) != (
                commit.commit_id,
                str(commit.version),
            ):
                return commit
    except (KeyError, TypeError):
        pass
    return commits[0]


def _not_in_log(table: str, commit: Commit) -> StoreError:
    """The error for a log entry that is not the commit an archive run read."""
    return StoreError(
        f"the log entry at position {commit.position} of partition {commit.log_partition} in "
        f"table {table!r} is not commit {commit.commit_id!r} of {commit.aggregate_id} "
        f"v{commit.version}: not archived"
    )


def record_archive(table: str, record: ArchiveRecord) -> Steps[None]:
    """Keep ``record`` (one item per archived aggregate, replaced by each archive of it)."""
    yield Request(
        "put_item",
        "record_archive",
        {
            "TableName": table,
            "Item": {
                "p": {"S": archive_pk(record.aggregate_type)},
                "s": {"S": record.aggregate_key},
                "v": {"N": str(record.version)},
                "ar": {"S": record.location},
                "z": {"N": str(record.archive_bytes)},
                "h": {"N": str(record.hot_bytes)},
                "w": {"S": format_time(record.archived_at)},
            },
        },
    )


def archive_records(table: str, aggregate_type: str) -> Reads[ArchiveRecord]:
    """The archive records of ``aggregate_type``, by key, page by page."""
    pk = archive_pk(aggregate_type)
    if not keys_fit(pk, "-"):
        return
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "p = :p",
        "ExpressionAttributeValues": {":p": {"S": pk}},
        "ConsistentRead": True,
    }
    while True:
        response = yield Request("query", "archive_records", request)
        page = []
        for item in response["Items"]:
            try:
                page.append(
                    ArchiveRecord(
                        aggregate_type=aggregate_type,
                        aggregate_key=item["s"]["S"],
                        version=int(item["v"]["N"]),
                        location=item["ar"]["S"],
                        archive_bytes=int(item["z"]["N"]),
                        hot_bytes=int(item["h"]["N"]),
                        archived_at=datetime.fromisoformat(item["w"]["S"]),
                    )
                )
            except (KeyError, ValueError) as exc:
                raise corrupt(table, item, exc, pk) from exc
        yield page
        last = response.get("LastEvaluatedKey")
        if last is None:
            return
        request["ExclusiveStartKey"] = last

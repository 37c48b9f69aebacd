"""Giving stored commits their global log positions, on a table sequenced in the background.

On such a table a commit is one conditional ``PutItem`` of its commit item, which carries
``u`` (its log partition) and no position. The sparse index :data:`UNSEQUENCED_INDEX` (keys
``u``, ``t``) lists exactly those commits: the to-do list of the partition. A :class:`Sequencer`
takes a batch from it and writes it to the log in one of two ways, fixed by the table's format.

**Log pages** (format 3, the default): the whole batch is **one page item** (or a few, in one
transaction, when it exceeds a page's size) at the next positions, written in one
``TransactWriteItems`` with the update of the partition's head item (condition: it still holds
the head this sequencer built on). Then the batch leaves the to-do list: each commit item is
put again with its position ``n`` and without ``u``, 25 to a ``BatchWriteItem``. A page is
written only after the previous page's commits left the to-do list (the writer of a page does
it before its next page; a sequencer that (re)reads the head does it for the last page first),
so a commit that the index still shows is in the log only if it is in a page this sequencer
knows: one it wrote or read since its first read of the head. It keeps, per aggregate, the
newest version those pages hold; a commit of an aggregate it knows nothing about is checked
with a strongly consistent read (an item without ``u`` is in the log already). So a commit
enters the log at most once, and the cost per commit is a share of one page write plus one
plain put, instead of two transactional writes.

**Log entries** (format 2): in **one** ``TransactWriteItems``, for each commit:

1. ``Put`` the log entry at the next position (condition: the position is free), and
2. ``Update`` the commit item: ``SET n = position REMOVE u`` (condition: ``u`` still exists).

So a commit enters the log at most once (the second condition), positions stay dense and
unique (the first: only ``head + 1 ..`` where the head was read consistently or written by this
sequencer), and the batch is atomic. The index is eventually consistent, which only delays
work: a commit that shows late is sequenced late, at a later position; one that shows after
it left the index fails the second condition and is dropped.

Commits of one aggregate enter the log in version order: a batch takes each aggregate's
versions in order, and an aggregate's first version in a batch is sequenced only once its
predecessor is known to be in the log (sequenced here before, or read with a strongly
consistent ``BatchGetItem``; an unsequenced predecessor joins the batch first).

The commits of an atomic unit (``CommitStore.append_all``) carry the unit's id ``g`` and how
many of them share this partition, ``gn``: a batch takes them all, at consecutive positions
in the unit's order (``gi``), or none of them (the index may show some before the others).

Several sequencers of one partition (processes, or a lease changing hands) are safe together:
the conditions decide, and the loser of a race reads what the winner wrote (or re-reads the
head). The lease in :mod:`ddbes_dynamodb._sequencing` only keeps them from racing.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ddbes.errors import CorruptItem, StoreError
from ddbes.model import Commit
from ddbes_dynamodb._errors import Caller, TransactionCancelled
from ddbes_dynamodb._items import (
    UNSEQUENCED_INDEX,
    Item,
    commit_pk,
    corrupt,
    decode_log_item,
    decode_log_page,
    decode_position,
    head_key,
    log_page,
    log_pk,
    pad,
    parse_commit_pk,
)

__all__ = ["MAX_BATCH", "Sequencer"]

logger = logging.getLogger("ddbes.dynamodb")

MAX_BATCH = 50
"""Commits per transaction of log entries: two actions each, DynamoDB's limit is 100."""

MAX_PAGE_BATCH = 100
"""Commits per batch of log pages (one page, or a few in one transaction)."""

MAX_BATCH_BYTES = 2 * 1024 * 1024
"""Item bytes per transaction, well under DynamoDB's 4 MB."""

QUERY_LIMIT = 200
"""Index entries read per batch: more than one batch, so that stale entries do not starve it."""

KNOWN_LIMIT = 100_000
"""Aggregates whose newest sequenced version is remembered; past this the memory starts anew."""

PAGE_BYTES = 300 * 1024
"""The most item bytes (by :attr:`_Entry.size`'s reckoning, which counts the events twice) a
log page holds, under DynamoDB's 400 KB per item."""

CLEAR_THREADS = 4
"""Requests in flight at once when a batch leaves the to-do list (25 commits each)."""

CATCH_UP_PAGES = 20
"""After losing a race, read up to this many pages written meanwhile; beyond, start anew."""

_PREDECESSOR_ROUNDS = 4
_CLEAR_ATTEMPTS = 8
_ATTEMPTS = 8
_FAILED = "ConditionalCheckFailed"


@dataclass(slots=True)
class _Entry:
    """One unsequenced commit item, as read from the index or the table."""

    item: Item
    pk: str
    version: int

    @property
    def size(self) -> int:
        events = self.item.get("e") or self.item.get("x") or {}
        payload = next(iter(events.values()), b"")
        metadata = self.item.get("m", {}).get("S", "")
        return 2 * (len(payload) + len(metadata)) + 512


def _entry(item: Item, table: str) -> _Entry:
    try:
        return _Entry(item, item["p"]["S"], decode_position(item, table=table))
    except KeyError as exc:
        raise corrupt(table, item, exc) from exc


def _place(entry: _Entry) -> int:
    """An atomic unit's commit's place in its unit."""
    try:
        return int(entry.item["gi"]["N"])
    except (KeyError, ValueError):
        return 0


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _clearing_pool() -> ThreadPoolExecutor:
    """The threads every sequencer of the process sends its to-do list clearing from."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(CLEAR_THREADS, thread_name_prefix="ddbes-sequencer")
        return _pool


def _log_fields(entry: _Entry) -> Item:
    """A commit's log entry attributes (no keys), from its commit item."""
    item = entry.item
    aggregate_type, aggregate_key = parse_commit_pk(entry.pk)
    fields: Item = {
        "a": {"S": aggregate_type},
        "k": {"S": aggregate_key},
        "v": {"N": str(entry.version)},
        "i": item["i"],
        "t": item["t"],
    }
    for name in ("e", "x", "m"):
        if name in item:
            fields[name] = item[name]
    return fields


def _is_commit(item: Item) -> bool:
    """Whether an index entry is a ddbes commit item (an item of someone else's that happens to
    have ``u`` and ``t`` is left alone)."""
    try:
        return (
            item["p"]["S"].startswith("c#")
            and item["s"]["S"].isdigit()
            and "S" in item["i"]
            and "S" in item["t"]
            and ("e" in item or "x" in item)
        )
    except (KeyError, TypeError):
        return False


class Sequencer:
    """Writes the global log of one partition from its to-do index; thread-safe (one batch at
    a time per object)."""

    def __init__(
        self,
        *,
        partition: int,
        table: str,
        call: Caller,
        client: Any,
        read_head: Callable[[int], int],
        on_sequenced: Callable[[Callable[[], list[Commit]]], None],
        pages: bool = False,
    ) -> None:
        self.partition = partition
        self.pages = pages
        self._table = table
        self._call = call
        self._client = client
        self._read_head = read_head
        self._on_sequenced = on_sequenced
        self._lock = threading.Lock()
        self._head: int | None = None
        self._head_item: int | None = None  # what the head item holds (pages), as last known
        # aggregate pk -> newest version known to be in the log (with pages: in the pages this
        # sequencer wrote or read since it last read the head, or read strongly consistently)
        self._known: dict[str, int] = {}

    def in_log(self, pk: str, version: int) -> bool:
        """Whether this sequencer knows that version ``version`` of ``pk`` is in the log."""
        return self._known.get(pk, 0) >= version

    def run_once(self) -> int:
        """Sequence one batch of the partition's unsequenced commits; return how many.

        Raises:
            StoreError: the backend failed; what was written is decided by the conditions,
                and the next batch starts from a fresh read of the head.
        """
        with self._lock:
            try:
                return self._run_once()
            except StoreError:
                # Trust only fresh reads: a store that failed may also have lost writes it
                # acknowledged (a crash before its disk caught up).
                self._head = None
                self._known.clear()
                raise

    def _run_once(self) -> int:
        if self.pages and self._head is None:
            self._resync()
        response = self._call(
            self._client.query,
            "reading the unsequenced commits",
            TableName=self._table,
            IndexName=UNSEQUENCED_INDEX,
            KeyConditionExpression="u = :u",
            ExpressionAttributeValues={":u": {"S": str(self.partition)}},
            Limit=QUERY_LIMIT,
        )
        entries = [_entry(item, self._table) for item in response["Items"] if _is_commit(item)]
        entries = [e for e in entries if not self.in_log(e.pk, e.version)]
        if not entries:
            return 0
        batch = self._in_order(entries)
        total = 0
        for _ in range(_ATTEMPTS):
            if not batch:
                break
            written, batch = self._write(batch)
            total += written
            if written:
                break
        return total

    def _in_order(self, entries: list[_Entry]) -> list[_Entry]:
        """A batch that keeps each aggregate's versions dense and in order, with every
        aggregate's first version's predecessor in the log (or in the batch before it)."""
        groups: dict[str, dict[int, _Entry]] = {}
        for entry in entries:
            groups.setdefault(entry.pk, {})[entry.version] = entry
        runs: dict[str, list[_Entry]] = {}
        for pk, by_version in groups.items():
            first = min(by_version)
            run = []
            version = first
            while version in by_version:  # a later version the index shows early waits
                run.append(by_version[version])
                version += 1
            runs[pk] = run
        if self.pages:
            self._drop_logged(runs)
        for _ in range(_PREDECESSOR_ROUNDS):
            unknown = {
                pk: run[0].version - 1
                for pk, run in runs.items()
                if run[0].version > 1 and not self.in_log(pk, run[0].version - 1)
            }
            if not unknown:
                break
            found = self._get_items(unknown)
            for pk, version in unknown.items():
                item = found.get(pk)
                if item is None:
                    del runs[pk]  # a version below it is missing: not ours to decide now
                elif "u" in item:
                    runs[pk].insert(0, _entry(item, self._table))
                else:
                    self._remember(pk, version)
        else:
            for pk in [pk for pk, run in runs.items() if run[0].version > 1]:
                if not self.in_log(pk, runs[pk][0].version - 1):
                    del runs[pk]
        # Commit-time order across aggregates; within one, version order even when a caller of
        # append gave a later version an earlier time: each entry sorts at the latest time of
        # its run so far.
        keyed: list[tuple[str, str, int, _Entry]] = []
        for pk, run in runs.items():
            latest = ""
            for entry in run:
                latest = max(latest, entry.item["t"]["S"])
                keyed.append((latest, pk, entry.version, entry))
        ordered = [entry for *_, entry in sorted(keyed, key=lambda k: k[:3])]
        return self._filled(ordered)

    def _filled(self, ordered: list[_Entry]) -> list[_Entry]:
        """The batch: ``ordered`` up to the limits, with the commits of an atomic unit
        together at the place of its first one, or all held back until every one of them
        shows in the index with its predecessor in the log (an aggregate held back takes
        none of its later versions either)."""
        units: dict[str, list[_Entry]] = {}
        for entry in ordered:
            group = entry.item.get("g")
            if group is not None:
                units.setdefault(group["S"], []).append(entry)
        for members in units.values():
            members.sort(key=_place)
        batch: list[_Entry] = []
        limit = MAX_PAGE_BATCH if self.pages else MAX_BATCH
        placed: set[tuple[str, int]] = set()
        held: dict[str, int] = {}  # pk -> the lowest version held back
        size = 0
        for entry in ordered:
            if (entry.pk, entry.version) in placed or entry.version >= held.get(entry.pk, 1 << 62):
                continue
            group = entry.item.get("g")
            members = [entry] if group is None else units[group["S"]]
            if group is not None and not self._complete(members, placed):
                for member in members:
                    held[member.pk] = min(held.get(member.pk, member.version), member.version)
                continue
            grown = sum(member.size for member in members)
            if len(batch) + len(members) > limit or (batch and size + grown > MAX_BATCH_BYTES):
                break
            batch.extend(members)
            placed.update((member.pk, member.version) for member in members)
            size += grown
        return batch

    def _complete(self, members: list[_Entry], placed: set[tuple[str, int]]) -> bool:
        """Whether an atomic unit's commits in this partition can all go now."""
        try:
            wanted = int(members[0].item["gn"]["N"])
        except (KeyError, ValueError):
            return False
        return len(members) == wanted and all(
            member.version == 1
            or self.in_log(member.pk, member.version - 1)
            or (member.pk, member.version - 1) in placed
            for member in members
        )

    def _get_items(self, keys: dict[str, int]) -> dict[str, Item]:
        """The commit items at ``keys`` (pk -> version), read strongly consistently."""
        found = self._read_items(list(keys.items()))
        return {pk: found[pk, version] for pk, version in keys.items() if (pk, version) in found}

    def _read_items(
        self, keys: list[tuple[str, int]], projection: str | None = None
    ) -> dict[tuple[str, int], Item]:
        """The commit items at ``keys`` (pk, version), read strongly consistently (only the
        attributes ``projection`` names, when given)."""
        wanted = [{"p": {"S": pk}, "s": {"S": pad(version)}} for pk, version in keys]
        found: dict[tuple[str, int], Item] = {}
        while wanted:
            chunk, wanted = wanted[:100], wanted[100:]
            read: dict[str, Any] = {"Keys": chunk, "ConsistentRead": True}
            if projection is not None:
                read["ProjectionExpression"] = projection
            request: dict[str, Any] = {self._table: read}
            while request:
                response = self._call(
                    self._client.batch_get_item,
                    "reading commits before sequencing",
                    RequestItems=request,
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["p"]["S"], decode_position(item, table=self._table)] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def _write(self, batch: list[_Entry]) -> tuple[int, list[_Entry]]:
        """Write ``batch`` at the next positions: (commits written, commits still to write)."""
        if self.pages:
            return self._write_pages(batch)
        return self._write_entries(batch)

    # -- log pages ---------------------------------------------------------------------

    def _drop_logged(self, runs: dict[str, list[_Entry]]) -> None:
        """Check, strongly consistently, the runs of aggregates whose newest logged version
        this sequencer does not know: versions whose item lost ``u`` are in the log already
        (the index showed them late), and drop out."""
        known = self._known
        doubtful = {
            pk: run
            for pk, run in runs.items()
            if pk not in known or known[pk] != run[0].version - 1
        }
        if not doubtful:
            return
        found = self._read_items(
            [(pk, entry.version) for pk, run in doubtful.items() for entry in run], "p, s, u"
        )
        for pk, run in doubtful.items():
            kept: list[_Entry] = []
            for entry in run:
                item = found.get((pk, entry.version))
                if item is not None and "u" in item:
                    kept.append(entry)  # its index entry holds the whole (immutable) item
                elif kept:
                    break  # a later version cannot be waiting behind one in the log
            if kept:
                runs[pk] = kept
            else:
                del runs[pk]

    def _resync(self) -> None:
        """Read the head from the partition's last page, learn that page's commits and take
        them off the to-do list (its writer may have died before it did)."""
        response = self._call(
            self._client.query,
            "reading the log head",
            TableName=self._table,
            KeyConditionExpression="p = :p",
            ExpressionAttributeValues={":p": {"S": log_pk(self.partition)}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        self._known.clear()
        self._head_item = self._read_head_item()
        items = response["Items"]
        if not items:
            self._head = 0
            return
        self._learn(items)
        self._head = decode_position(items[-1], table=self._table, pk=log_pk(self.partition))

    def _read_head_item(self) -> int | None:
        """What the head item holds (``None``: there is none yet), read strongly consistently.
        It equals the log's head unless something wrote the log without it (a damaged table,
        a foreign writer): pages then go after the log's head, on the condition that the
        head item still holds what was read here."""
        response = self._call(
            self._client.get_item,
            "reading the log head",
            TableName=self._table,
            Key=head_key(self.partition),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None or "n" not in item:
            return None
        try:
            return int(item["n"]["N"])
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(self._table, item, exc) from exc

    def _catch_up(self, head: int) -> None:
        """After losing a race at ``head``: learn the pages written since (all of them, else
        start anew from the last one)."""
        response = self._call(
            self._client.query,
            "reading the log written meanwhile",
            TableName=self._table,
            KeyConditionExpression="p = :p AND s > :a",
            ExpressionAttributeValues={
                ":p": {"S": log_pk(self.partition)},
                ":a": {"S": pad(head)},
            },
            Limit=CATCH_UP_PAGES,
            ConsistentRead=True,
        )
        items = response["Items"]
        if not items or "LastEvaluatedKey" in response:
            self._resync()
            return
        self._head_item = self._read_head_item()
        self._learn(items)
        self._head = decode_position(items[-1], table=self._table, pk=log_pk(self.partition))

    def _learn(self, pages: list[Item]) -> None:
        """Remember the commits of ``pages``; take the last page's off the to-do list."""
        positions: dict[tuple[str, int], int] = {}
        for page in pages:
            positions = {}
            try:
                logged = decode_log_page(page, self.partition, table=self._table)
            except CorruptItem as damaged:  # not a commit anyone can identify: go past it
                logger.warning("the sequencer passes a damaged log item: %s", damaged)
                continue
            for commit in logged:
                key = (commit_pk(commit.aggregate_type, commit.aggregate_key), commit.version)
                self._remember(*key)
                positions[key] = commit.position or 0  # log reads always have it
        found = self._read_items(list(positions))
        self._clear_todo([(item, positions[key]) for key, item in found.items() if "u" in item])

    def _write_pages(self, batch: list[_Entry]) -> tuple[int, list[_Entry]]:
        head = self._head
        if head is None:
            self._resync()
            return 0, [e for e in batch if not self.in_log(e.pk, e.version)]
        pages: list[Item] = []
        entries: list[Item] = []
        size = 0
        first = head + 1
        for entry in batch:
            if entries and size + entry.size > PAGE_BYTES:
                pages.append(log_page(self.partition, first, entries))
                first += len(entries)
                entries, size = [], 0
            entries.append(_log_fields(entry))
            size += entry.size
        pages.append(log_page(self.partition, first, entries))
        new_head = head + len(batch)
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": head_key(self.partition),
            "UpdateExpression": "SET n = :n",
            "ConditionExpression": "attribute_not_exists(n)",
            "ExpressionAttributeValues": {":n": {"N": str(new_head)}},
        }
        if self._head_item is not None:
            update["ConditionExpression"] = "n = :h"
            update["ExpressionAttributeValues"][":h"] = {"N": str(self._head_item)}
        actions: list[dict[str, Any]] = [{"Update": update}]
        actions += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": page,
                    "ConditionExpression": "attribute_not_exists(p)",
                }
            }
            for page in pages
        ]
        try:
            self._call(self._client.transact_write_items, "sequencing", TransactItems=actions)
        except TransactionCancelled:
            # Another sequencer wrote at this head: learn what it wrote, then retry the rest.
            self._catch_up(head)
            return 0, [e for e in batch if not self.in_log(e.pk, e.version)]
        self._head = self._head_item = new_head
        self._clear_todo([(entry.item, head + offset) for offset, entry in enumerate(batch, 1)])
        for entry in batch:  # known once off the to-do list too: a flush returns after both
            self._remember(entry.pk, entry.version)

        def logged() -> list[Commit]:
            return [
                commit
                for page in pages
                for commit in decode_log_page(page, self.partition, table=self._table)
                if isinstance(commit, Commit)
            ]

        self._on_sequenced(logged)
        return len(batch), []

    def _clear_todo(self, logged: list[tuple[Item, int]]) -> None:
        """Put the commit items of ``logged`` (item, position) again with their position and
        without ``u``: off the to-do list. Unconditional and idempotent: every sequencer that
        does it writes the same item."""
        requests = []
        for item, position in logged:
            cleared = {name: value for name, value in item.items() if name != "u"}
            cleared["n"] = {"N": str(position)}
            requests.append({"PutRequest": {"Item": cleared}})
        chunks = [requests[start : start + 25] for start in range(0, len(requests), 25)]
        if len(chunks) <= 1:
            for chunk in chunks:
                self._put_again(chunk)
            return
        # In parallel: a busy process gives this thread the GIL back slowly after each reply.
        futures = []
        for chunk in chunks:
            try:
                futures.append(
                    _clearing_pool().submit(contextvars.copy_context().run, self._put_again, chunk)
                )
            except RuntimeError:  # the interpreter is exiting: its pools take no more work
                self._put_again(chunk)
        for future in futures:
            future.result()

    def _put_again(self, requests: list[dict[str, Any]]) -> None:
        """One ``BatchWriteItem`` of ``requests``, and again for what DynamoDB left undone."""
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(_CLEAR_ATTEMPTS):
            if attempt:
                self._call.pause(min(0.02 * 2**attempt, 1.0))  # throttled: back off
            response = self._call(
                self._client.batch_write_item,
                "taking sequenced commits off the to-do list",
                RequestItems=pending,
            )
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise StoreError(
                f"DynamoDB kept refusing to take sequenced commits of table {self._table!r} "
                "off the to-do list; the next batch does it first"
            )

    # -- log entries -------------------------------------------------------------------

    def _write_entries(self, batch: list[_Entry]) -> tuple[int, list[_Entry]]:
        if self._head is None:
            self._head = self._read_head(self.partition)
        head = self._head
        actions: list[dict[str, Any]] = []
        logged: list[Item] = []
        for offset, entry in enumerate(batch, 1):
            item = entry.item
            log_item: Item = {
                "p": {"S": log_pk(self.partition)},
                "s": {"S": pad(head + offset)},
                **_log_fields(entry),
            }
            logged.append(log_item)
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": log_item,
                        "ConditionExpression": "attribute_not_exists(p)",
                    }
                }
            )
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"p": item["p"], "s": item["s"]},
                        "UpdateExpression": "SET n = :n REMOVE u",
                        "ConditionExpression": "attribute_exists(u)",
                        "ExpressionAttributeValues": {":n": {"N": str(head + offset)}},
                    }
                }
            )
        try:
            self._call(self._client.transact_write_items, "sequencing", TransactItems=actions)
        except TransactionCancelled as cancelled:
            return 0, self._sort_out(batch, cancelled.reasons)
        self._head = head + len(batch)
        for entry in batch:
            self._remember(entry.pk, entry.version)
        self._on_sequenced(
            lambda: [decode_log_item(item, self.partition, table=self._table) for item in logged]
        )
        return len(batch), []

    def _sort_out(self, batch: list[_Entry], reasons: list[dict[str, Any]]) -> list[_Entry]:
        """What is left to write after a cancellation: commits already in the log drop out; a
        taken position means another sequencer wrote: re-read the head."""
        rest: list[_Entry] = []
        for index, entry in enumerate(batch):
            code = reasons[2 * index + 1].get("Code") if 2 * index + 1 < len(reasons) else None
            if code == _FAILED:
                self._remember(entry.pk, entry.version)
            else:
                rest.append(entry)
        taken = any(
            reasons[2 * index].get("Code") == _FAILED
            for index in range(len(batch))
            if 2 * index < len(reasons)
        )
        if taken or len(rest) == len(batch):
            self._head = None
        if len(rest) == len(batch) and not taken:
            raise StoreError(
                f"DynamoDB cancelled sequencing log partition {self.partition} of table "
                f"{self._table!r} for an unexpected reason: {[r.get('Code') for r in reasons]}"
            )
        # A commit of an aggregate whose earlier version dropped out stays in order: the
        # dropped one is in the log already.
        return rest

    def _remember(self, pk: str, version: int) -> None:
        known = self._known
        if known.get(pk, 0) < version:
            if len(known) >= KNOWN_LIMIT:
                known.clear()
            known[pk] = version

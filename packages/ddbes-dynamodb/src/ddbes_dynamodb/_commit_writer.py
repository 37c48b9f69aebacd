"""Appending on a table sequenced in the background: one conditional write per commit.

The commit item is written with ``u`` (its log partition) and no position; the sequencer
(:mod:`ddbes_dynamodb._sequencer`) gives it one shortly after. What the write must still check:

- **the version is free**: the condition ``attribute_not_exists(p)`` on the commit item
  (``ReturnValuesOnConditionCheckFailure=ALL_OLD`` returns the holder, to tell an idempotent
  retry from a conflict);
- **versions stay dense**: version ``v`` may only follow a stored ``v - 1``. Commits are never
  deleted, so once this store has seen ``v - 1`` stored (it wrote it, or read it) that stays
  true, and the write is a plain conditional ``PutItem``. Otherwise (a first write of this
  aggregate in this process without a read) it is a ``TransactWriteItems`` with a
  ``ConditionCheck`` on ``v - 1``, as is version 1, which also registers the aggregate's key.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ddbes._validation import MAX_ITEM_BYTES
from ddbes.errors import CommitTooLarge, StoreError, VersionConflict
from ddbes.model import Commit
from ddbes_dynamodb._errors import ConditionFailed, ItemTooLarge, TransactionCancelled
from ddbes_dynamodb._items import Item, pad
from ddbes_dynamodb._steps import Request, Steps

__all__ = ["CommitWriter"]

KNOWN_LIMIT = 100_000
"""Aggregates whose newest stored version this writer remembers; past this it starts anew."""

_NOT_EXISTS = "attribute_not_exists(p)"
_FAILED = "ConditionalCheckFailed"


class CommitWriter:
    """Writes commit items of a background-sequenced table, as steps (:mod:`._steps`) that the
    sync and async stores drive; shared by a store's threads or tasks."""

    def __init__(
        self,
        *,
        table: str,
        resolve_taken: Callable[[Commit, Item | None, int], Steps[Commit]],
        stored: Callable[[str, int, int], None],
    ) -> None:
        self._table = table
        self._resolve_taken = resolve_taken
        self._stored = stored
        self._lock = threading.Lock()
        self._known: dict[str, int] = {}  # commit pk -> newest version known to be stored

    def forget(self) -> None:
        """Forget what was stored (the table was deleted or created anew)."""
        with self._lock:
            self._known.clear()

    def saw(self, pk: str, version: int) -> None:
        """Version ``version`` of the aggregate ``pk`` is stored (a read found it)."""
        known = self._known
        if known.get(pk, 0) < version:
            with self._lock:
                if len(known) >= KNOWN_LIMIT:
                    known.clear()
                known[pk] = max(known.get(pk, 0), version)

    def append(
        self, commit: Commit, partition: int, commit_item: Item, registry: Item, size: int
    ) -> Steps[Commit]:
        """Store ``commit`` without a position; the result has ``position=None``."""
        commit_item["u"] = {"S": str(partition)}
        pk = commit_item["p"]["S"]
        version = commit.version
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": commit_item,
            "ConditionExpression": _NOT_EXISTS,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            if version > 1 and self._known.get(pk, 0) >= version - 1:
                yield Request("put_item", "append", put)
            else:
                yield Request(
                    "transact_write_items",
                    "append",
                    {"TransactItems": [{"Put": put}, self._second_action(pk, version, registry)]},
                )
        except ConditionFailed as taken:
            stored = yield from self._resolve_taken(commit, taken.item, partition)
            return self._retried(stored, pk)
        except TransactionCancelled as cancelled:
            stored = yield from self._cancelled(commit, partition, cancelled.reasons)
            return self._retried(stored, pk)
        except ItemTooLarge as exc:
            raise CommitTooLarge(
                commit.aggregate_id, max(size, MAX_ITEM_BYTES + 1), MAX_ITEM_BYTES
            ) from exc
        except StoreError:
            self._known.pop(pk, None)  # check the predecessor again, as after a crash
            raise
        self.saw(pk, version)
        self._stored(pk, version, partition)
        return replace(commit, position=None, log_partition=partition)

    def append_all(self, unit: list[tuple[Commit, int, Item, Item]]) -> Steps[list[Commit]]:
        """Store an atomic unit of commits (each ``(commit, partition, commit_item,
        registry)``, on different aggregates) in one ``TransactWriteItems``, without
        positions. Each commit item carries the unit's id ``g`` (its first commit's id) and
        ``gn``, how many of the unit's commits share its log partition, and ``gi``, its place in
        the unit: the sequencer gives those consecutive positions in that order, once all of
        them show in its to-do index."""
        group = unit[0][0].commit_id
        counts = Counter(partition for _, partition, _, _ in unit)
        actions: list[dict[str, Any]] = []
        owners: list[tuple[int, bool]] = []  # per action: (commit index, is the commit put)
        for index, (commit, partition, item, registry) in enumerate(unit):
            item["u"] = {"S": str(partition)}
            item["g"] = {"S": group}
            item["gn"] = {"N": str(counts[partition])}
            item["gi"] = {"N": str(index)}
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": _NOT_EXISTS,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
            owners.append((index, True))
            pk = item["p"]["S"]
            if commit.version == 1 or self._known.get(pk, 0) < commit.version - 1:
                actions.append(self._second_action(pk, commit.version, registry))
                owners.append((index, False))
        try:
            yield Request("transact_write_items", "append", {"TransactItems": actions})
        except TransactionCancelled as cancelled:
            stored = yield from self._unit_cancelled(unit, owners, cancelled.reasons)
            return [
                self._retried(one, item["p"]["S"])
                for one, (_, _, item, _) in zip(stored, unit, strict=True)
            ]
        except ItemTooLarge as exc:
            commit = unit[0][0]
            raise CommitTooLarge(commit.aggregate_id, MAX_ITEM_BYTES + 1, MAX_ITEM_BYTES) from exc
        except StoreError:
            for _, _, item, _ in unit:
                self._known.pop(item["p"]["S"], None)
            raise
        for commit, partition, item, _ in unit:
            self.saw(item["p"]["S"], commit.version)
            self._stored(item["p"]["S"], commit.version, partition)
        return [
            replace(commit, position=None, log_partition=partition)
            for commit, partition, _, _ in unit
        ]

    def _unit_cancelled(
        self,
        unit: list[tuple[Commit, int, Item, Item]],
        owners: list[tuple[int, bool]],
        reasons: list[dict[str, Any]],
    ) -> Steps[list[Commit]]:
        """The stored unit when every commit of it was stored by an earlier attempt (an
        idempotent retry); else the :class:`VersionConflict` of the first commit that failed."""
        failed = [
            (owner, reason)
            for owner, reason in zip(owners, reasons, strict=False)
            if reason.get("Code") == _FAILED
        ]
        for (index, is_put), _ in failed:
            if not is_put:
                commit = unit[index][0]
                raise VersionConflict(
                    commit.aggregate_id,
                    commit.version,
                    f"version {commit.version} of {commit.aggregate_id} does not follow its "
                    "newest version: versions are dense; hydrate the aggregate and try again",
                )
        taken = {index: reason.get("Item") for (index, _), reason in failed}
        if taken:
            stored: list[Commit] = []
            for index, (commit, partition, _, _) in enumerate(unit):
                if index not in taken:  # the others were stored: it never was, so a conflict
                    continue
                stored.append((yield from self._resolve_taken(commit, taken[index], partition)))
            if len(stored) == len(unit):
                return stored
            raise StoreError(
                f"DynamoDB holds only part of an atomic unit in table {self._table!r} (another "
                "unit reused its commit ids?): the commits of a unit need ids of their own"
            )
        raise StoreError(
            f"DynamoDB cancelled an atomic unit in table {self._table!r} for an unexpected "
            f"reason: {[reason.get('Code') for reason in reasons]}"
        )

    def _retried(self, stored: Commit, pk: str) -> Commit:
        """An earlier attempt stored this commit: it may still wait for its position."""
        self.saw(pk, stored.version)
        if stored.position is None:
            self._stored(pk, stored.version, stored.log_partition)
        return stored

    def _second_action(self, pk: str, version: int, registry: Item) -> dict[str, Any]:
        if version == 1:
            return {"Put": {"TableName": self._table, "Item": registry}}
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"p": {"S": pk}, "s": {"S": pad(version - 1)}},
                "ConditionExpression": "attribute_exists(p)",
            }
        }

    def _cancelled(
        self, commit: Commit, partition: int, reasons: list[dict[str, Any]]
    ) -> Steps[Commit]:
        codes = [reason.get("Code") for reason in reasons]
        if codes and codes[0] == _FAILED:
            return (yield from self._resolve_taken(commit, reasons[0].get("Item"), partition))
        if len(codes) > 1 and codes[1] == _FAILED:
            raise VersionConflict(
                commit.aggregate_id,
                commit.version,
                f"version {commit.version} of {commit.aggregate_id} does not follow its "
                "newest version: versions are dense; hydrate the aggregate and try again",
            )
        raise StoreError(
            f"DynamoDB cancelled a commit in table {self._table!r} for an unexpected reason: "
            f"{codes}"
        )

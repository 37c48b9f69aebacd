"""Making moto (the in-process AWS emulator) fit to run the DynamoDB adapter.

moto 5 implements ``TransactWriteItems`` by deep-copying *every table the transaction touches,
once per action*, so that it can roll back. Every ddbes commit is a three-action transaction, so
a commit on moto costs time proportional to the whole table: about 50 ms at 1,000 items and
seconds at 10,000, which makes the embedded default and the moto test runs quadratic.

:func:`patch_moto_transactions` keeps moto's semantics (all actions apply or none) but saves
and restores only the items the transaction touches. It also holds moto to DynamoDB's item size
limit (400 KB, 409,600 bytes, where moto stops at 405,000) and makes it count a binary attribute
at its size, not at the length of its base64 text (4/3 of it): otherwise commits that DynamoDB
stores would be refused as too large. Call it once in a process that runs moto's
backend in-process (``ThreadedMotoServer``, the serialized werkzeug server, or ``mock_aws``)
before the first transaction; it is idempotent. moto is imported only when it is called.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

__all__ = ["patch_moto_transactions"]

_MARK = "_ddbes_item_level_rollback"
_DYNAMODB_MAX_ITEM_BYTES = 400 * 1024


def patch_moto_transactions() -> bool:
    """Replace moto's whole-table rollback of ``TransactWriteItems`` by an item-level one.

    Returns:
        ``True`` when the patch was applied now, ``False`` when it already was.

    Raises:
        ImportError: moto is not installed.
    """
    from moto.dynamodb import models  # noqa: PLC0415 (moto is optional)
    from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: PLC0415
    from moto.dynamodb.models import dynamo_type  # noqa: PLC0415
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    backend_class: Any = models.DynamoDBBackend
    if getattr(backend_class.transact_write_items, _MARK, False):
        return False
    original = backend_class.transact_write_items

    class _TablesAreNotCopied:
        """Stands in for the ``copy`` module inside moto's backend module: a ``Table`` is
        "copied" as itself (we roll back item by item instead), anything else really is."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

        copy = staticmethod(copy.copy)

    def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        saved: list[tuple[Any, ...]] = []
        for action in transact_items:
            try:
                _, operation = next(iter(action.items()))
                table = backend.tables.get(operation.get("TableName"))
                attributes = operation.get("Item") or operation.get("Key")
                hash_value = DynamoType(attributes[table.hash_key_attr])
                range_value = (
                    DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
                )
            except (AttributeError, KeyError, TypeError, StopIteration):
                continue  # moto itself will refuse a malformed action
            if range_value is None:
                current = table.items.get(hash_value)
            else:
                current = table.items.get(hash_value, {}).get(range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        return saved

    def _restore(saved: list[tuple[Any, ...]]) -> None:
        for table, hash_value, range_value, item in reversed(saved):
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            elif item is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved = _touched(self, transact_items)
        try:
            return original(self, transact_items)
        except BaseException:
            _restore(saved)
            raise

    original_size = DynamoType.size

    def size(self: Any) -> int:
        if self.is_binary() and isinstance(self.value, str):
            try:
                return len(base64.b64decode(self.value, validate=True))
            except (binascii.Error, ValueError):
                pass  # not base64 after all: count it as moto does
        return int(original_size(self))

    def _size(value: Any) -> int:
        return int(value.size()) if type(value) is DynamoType else len(str(value).encode())

    def setitem(self: Any, key: str, value: Any) -> None:
        total = sum(len(k.encode()) + _size(v) for k, v in self.items() if k != key)
        if total + len(key.encode()) + _size(value) > _DYNAMODB_MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)

    setattr(transact_write_items, _MARK, True)
    setattr(DynamoType, "size", size)  # noqa: B010 (mypy refuses assigning a method)
    setattr(dynamo_type.LimitedSizeDict, "__setitem__", setitem)  # noqa: B010
    # Only transact_write_items deep-copies Table objects in that module.
    module: Any = models
    module.copy = _TablesAreNotCopied
    backend_class.transact_write_items = transact_write_items
    return True

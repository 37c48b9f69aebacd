"""The :class:`~ddbes.ports.SnapshotStore` contract suite (re-exported by
:mod:`ddbes.testing.contracts`): ``SNAPSHOT_STORE_CHECKS``, each ``check(factory)``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ddbes.model import Snapshot
from ddbes.ports import SnapshotStore
from ddbes.testing._assertions import raises as _raises

__all__ = ["SNAPSHOT_STORE_CHECKS"]

_T0 = datetime(2024, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- snapshot store


def _snapshot(key: str, version: int, state: Any, aggregate_type: str = "Cart") -> Snapshot:
    return Snapshot(
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        state=state,
        head_commit_id=f"c{version}",
        head_committed_at=_T0 + timedelta(seconds=version, microseconds=7),
        checksum="sum-1",
    )


def snapshot_round_trip(factory: Callable[[], SnapshotStore]) -> None:
    store = factory()
    assert store.get("Cart", "k") is None
    state = {"items": ["a", "ø"], "total": 2.5, "nested": {"x": None, "ok": True}}
    store.put(_snapshot("k", 100, state))
    got = store.get("Cart", "k")
    assert got == _snapshot("k", 100, state), got
    assert got is not None and got.head_committed_at.tzinfo is not None


def snapshot_put_replaces_the_previous_one(factory: Callable[[], SnapshotStore]) -> None:
    store = factory()
    store.put(_snapshot("k", 100, {"v": 1}))
    store.put(_snapshot("k", 200, {"v": 2}))
    got = store.get("Cart", "k")
    assert got is not None and got.version == 200 and got.state == {"v": 2}


def snapshot_keys_are_isolated(factory: Callable[[], SnapshotStore]) -> None:
    store = factory()
    keys = ["a", "a:5", "a.b", "a/b", "a%2Fb", "None", "@", "a\\", "ü ", "a_b"]
    for index, key in enumerate(keys):
        store.put(_snapshot(key, index + 1, {"key": key}))
    store.put(_snapshot("a", 99, {"key": "other type"}, aggregate_type="Cart_a"))
    for index, key in enumerate(keys):
        got = store.get("Cart", key)
        assert got is not None and got.state == {"key": key} and got.version == index + 1, (
            key,
            got,
        )
    assert store.get("Cart_a", "a") is not None


def snapshot_delete_and_clear(factory: Callable[[], SnapshotStore]) -> None:
    store = factory()
    for key in ("a", "b", "c"):
        store.put(_snapshot(key, 1, {}))
        store.put(_snapshot(key, 1, {}, aggregate_type="User"))
    store.delete("Cart", "a")
    store.delete("Cart", "missing")
    assert store.get("Cart", "a") is None and store.get("Cart", "b") is not None
    store.clear("Cart")
    assert [store.get("Cart", k) for k in "abc"] == [None, None, None]
    assert all(store.get("User", k) is not None for k in "abc")
    store.clear()
    assert all(store.get("User", k) is None for k in "abc")


def snapshot_states_of_every_json_shape(factory: Callable[[], SnapshotStore]) -> None:
    store = factory()
    for index, state in enumerate([None, 0, "text", [1, [2]], {"big": ["x" * 1000] * 500}]):
        store.put(_snapshot(f"s{index}", 1, state))
        got = store.get("Cart", f"s{index}")
        assert got is not None and got.state == state


def snapshot_refuses_a_state_that_is_not_json(factory: Callable[[], SnapshotStore]) -> None:
    store = factory()
    _raises(ValueError, lambda: store.put(_snapshot("k", 1, {"s": {1, 2}})))
    _raises(ValueError, lambda: store.put(_snapshot("k", 1, {"when": _T0})))
    _raises(ValueError, lambda: store.put(_snapshot("k", 1, {"pair": (1, 2)})))
    _raises(ValueError, lambda: store.put(_snapshot("k", 1, {7: "int key"})))
    assert store.get("Cart", "k") is None


SNAPSHOT_STORE_CHECKS: dict[str, Callable[[Callable[[], SnapshotStore]], None]] = {
    name.removeprefix("snapshot_"): check
    for name, check in list(globals().items())
    if name.startswith("snapshot_") and callable(check) and name != "snapshot_"
}

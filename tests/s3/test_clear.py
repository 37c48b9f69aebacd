"""clear() removes every page of its own snapshots and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import ddbes_s3._steps
from ddbes_s3 import S3SnapshotStore
from tests.s3.conftest import object_keys
from tests.s3.helpers import snapshot

FOREIGN = [
    "app-2/Cart/a.json",  # a store whose prefix starts like ours
    "app/nested/Cart/a.json",  # a store nested inside our prefix
    "app/README.txt",  # not a snapshot
    "app/Cart/notes.txt",  # not a snapshot either
    "Cart/a.json",  # a store without a prefix
]


def test_clear_of_a_type_removes_more_than_a_page_and_nothing_else(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store("app")
    for key in FOREIGN:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"{}")
    for number in range(1010):
        store.put(snapshot("Cart", f"k{number:04}"))
    store.put(snapshot("Cart/x", "a"))  # type segment "Cart%2Fx": not under "app/Cart/"
    store.put(snapshot("Carts", "a"))
    store.put(snapshot("User", "u"))

    store.clear("Cart")

    assert object_keys(s3_client, bucket) == sorted(
        [*FOREIGN, "app/Cart%2Fx/a.json", "app/Carts/a.json", "app/User/u.json"]
    )
    assert store.get("Cart", "k1009") is None
    assert store.get("Carts", "a") is not None


def test_clear_follows_every_page_while_deleting(
    make_store: Callable[..., S3SnapshotStore],
    s3_client: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pages of 7 keys make the >1000-object case cheap to run; the test above runs a real one.
    monkeypatch.setattr(ddbes_s3._steps, "_LIST_PAGE", 7)
    store = make_store("app")
    for key in FOREIGN:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"{}")
    for number in range(30):
        store.put(snapshot(f"T{number % 3}", f"k{number:02}"))

    store.clear()

    assert object_keys(s3_client, bucket) == sorted(FOREIGN)


def test_clear_without_a_prefix_leaves_prefixed_stores_alone(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    top, prefixed = make_store(), make_store("app")
    top.put(snapshot("Cart", "a"))
    prefixed.put(snapshot("Cart", "a"))
    top.clear()
    assert object_keys(s3_client, bucket) == ["app/Cart/a.json"]


def test_clear_of_an_empty_store_does_nothing(make_store: Callable[..., S3SnapshotStore]) -> None:
    store = make_store("empty")
    store.clear()
    store.clear("Cart")
    assert store.get("Cart", "a") is None

"""Where snapshots live in the bucket: one object per aggregate, names escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ddbes_s3 import S3SnapshotStore
from tests.s3.conftest import object_keys
from tests.s3.helpers import snapshot

TRICKY_KEYS = [
    "a",
    "a:5",
    "a/b",
    "a.b",
    "a%2F",
    "a%2Fb",
    "a b",
    "ä/ö",
    ".",
    "..",
    ".a",
    "%2Ea",
    "a.json",
    "@",
    "x" * 300,
    "x" * 301,
]


def test_object_keys_are_percent_encoded_under_the_prefix() -> None:
    store = S3SnapshotStore("bucket", "snaps/")
    assert store.key_for("Cart", "a") == "snaps/Cart/a.json"
    assert store.key_for("Cart", "a:5") == "snaps/Cart/a%3A5.json"
    assert store.key_for("Cart", "a/b") == "snaps/Cart/a%2Fb.json"
    assert store.key_for("Cart", "a.b") == "snaps/Cart/a.b.json"
    assert store.key_for("Cart", "a%2F") == "snaps/Cart/a%252F.json"
    assert store.key_for("Shop/Cart", "@") == "snaps/Shop%2FCart/%40.json"
    assert store.key_for("Cart", "..") == "snaps/Cart/%2E..json"
    assert store.key_for("..", "k") == "snaps/%2E./k.json"


def test_long_names_are_hashed_and_keys_stay_under_the_s3_limit() -> None:
    store = S3SnapshotStore("bucket", "p" * 400)
    key = store.key_for("T" * 5000, "é" * 5000)
    assert len(key.encode()) <= 1024
    assert "%sha256-" in key
    assert store.key_for("T", "x" * 301) != store.key_for("T", "x" * 302)


@pytest.mark.parametrize("prefix", ["", None])
def test_no_prefix_puts_types_at_the_top_of_the_bucket(prefix: Any) -> None:
    store = S3SnapshotStore("bucket", prefix)
    assert store.prefix == ""
    assert store.key_for("Cart", "a") == "Cart/a.json"


def test_a_prefix_without_a_slash_is_used_as_a_folder() -> None:
    store = S3SnapshotStore("bucket", "snapshots")
    assert store.prefix == "snapshots/"
    assert store.key_for("Cart", "a") == "snapshots/Cart/a.json"


def test_a_prefix_too_long_for_s3_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        S3SnapshotStore("bucket", "p" * 600)


def test_tricky_keys_each_get_their_own_object(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store("app")
    for key in TRICKY_KEYS:
        store.put(snapshot("Cart", key))
    store.put(snapshot("Cart/a", "b"))
    store.put(snapshot("Cart:a", "b"))
    assert len(object_keys(s3_client, bucket)) == len(TRICKY_KEYS) + 2
    for key in TRICKY_KEYS:
        got = store.get("Cart", key)
        assert got is not None
        assert got.state == {"type": "Cart", "key": key}
    got = store.get("Cart/a", "b")
    assert got is not None
    assert got.state == {"type": "Cart/a", "key": "b"}
    assert store.get("Cart", "a/") is None
    assert store.get("Cart", "a:") is None


def test_delete_removes_only_that_aggregate(make_store: Callable[..., S3SnapshotStore]) -> None:
    store = make_store()
    for key in ["a", "a:5", "a/b"]:
        store.put(snapshot("Cart", key))
    store.delete("Cart", "a")
    store.delete("Cart", "never-written")
    assert store.get("Cart", "a") is None
    assert store.get("Cart", "a:5") is not None
    assert store.get("Cart", "a/b") is not None


def test_stores_with_other_prefixes_do_not_see_each_other(
    make_store: Callable[..., S3SnapshotStore],
) -> None:
    one, other, nested = make_store("one"), make_store("one-2"), make_store("one/nested")
    one.put(snapshot("Cart", "a", state="one"))
    other.put(snapshot("Cart", "a", state="other"))
    nested.put(snapshot("Cart", "a", state="nested"))
    assert [s.get("Cart", "a").state for s in (one, other, nested)] == [  # type: ignore[union-attr]
        "one",
        "other",
        "nested",
    ]

"""What a snapshot object holds, and what happens when it holds something else."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from ddbes.errors import SnapshotUnreadable
from ddbes_s3 import S3SnapshotStore
from tests.s3.conftest import object_keys
from tests.s3.helpers import WHEN, snapshot

MAGIC = b"ddbes-snapshot+zlib\n"


def raw_body(s3_client: Any, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    response = s3_client.get_object(Bucket=bucket, Key=key)
    return response["Body"].read(), response


def test_a_small_snapshot_is_plain_versioned_json(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store("p")
    store.put(snapshot("Cart", "a", version=7, state={"items": ["x"]}))
    body, response = raw_body(s3_client, bucket, "p/Cart/a.json")
    assert response["ContentType"] == "application/json"
    assert json.loads(body) == {
        "format": 1,
        "aggregate_type": "Cart",
        "aggregate_key": "a",
        "version": 7,
        "head_commit_id": "commit-Cart-a-7",
        "head_committed_at": "2026-01-02T03:04:05.678901Z",
        "checksum": "sum-1",
        "state": {"items": ["x"]},
    }


def test_a_snapshot_round_trips_every_field(make_store: Callable[..., S3SnapshotStore]) -> None:
    store = make_store()
    original = snapshot("Cart", "a", version=300, state={"n": 1.5, "s": "ü", "l": [None, True]})
    store.put(original)
    assert store.get("Cart", "a") == original
    got = store.get("Cart", "a")
    assert got is not None
    assert got.head_committed_at == WHEN
    assert got.head_committed_at.tzinfo is not None


def test_put_replaces_the_previous_snapshot(make_store: Callable[..., S3SnapshotStore]) -> None:
    store = make_store()
    store.put(snapshot(version=1, state="old"))
    store.put(snapshot(version=2, state="new"))
    got = store.get("Cart", "a")
    assert got is not None
    assert (got.version, got.state) == (2, "new")


def test_a_large_state_is_stored_compressed_and_round_trips(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store()
    state = {
        "items": [{"name": f"item-{i}", "price": i * 3, "tags": ["a", "b"]} for i in range(20_000)]
    }
    original = snapshot(state=state)
    store.put(original)
    body, response = raw_body(s3_client, bucket, "Cart/a.json")
    raw_size = len(json.dumps(state, separators=(",", ":")))
    assert body.startswith(MAGIC)
    assert len(body) < raw_size / 4
    assert response["Metadata"]["ddbes-compression"] == "zlib"
    assert json.loads(zlib.decompress(body[len(MAGIC) :]))["state"] == state
    assert store.get("Cart", "a") == original


def test_a_state_that_is_not_json_is_refused_and_nothing_is_written(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store()
    with pytest.raises(ValueError, match="Cart:a"):
        store.put(snapshot(state={"items": {1, 2}}))
    with pytest.raises(ValueError):
        store.put(snapshot(state={"x": float("nan")}))
    assert object_keys(s3_client, bucket) == []


STATES_THAT_WOULD_CHANGE = {
    "a datetime": ({"updated_at": WHEN}, r"state\['updated_at'\] is a datetime"),
    "a tuple": ({"pair": (1, 2)}, r"state\['pair'\] is a tuple"),
    "an int key": ({"by_id": {7: "x"}}, r"state\['by_id'\] has the key 7"),
    "deep inside": ([{"ok": 1}, {"at": [WHEN]}], r"state\[1\]\['at'\]\[0\] is a datetime"),
}


@pytest.mark.parametrize(
    ("state", "message"), STATES_THAT_WOULD_CHANGE.values(), ids=STATES_THAT_WOULD_CHANGE.keys()
)
def test_a_state_that_json_would_change_is_refused_and_nothing_is_written(
    make_store: Callable[..., S3SnapshotStore],
    s3_client: Any,
    bucket: str,
    state: Any,
    message: str,
) -> None:
    # A load from such a snapshot would see other types than a replay of the commits does.
    store = make_store()
    with pytest.raises(ValueError, match=f"would not come back as it is: {message}"):
        store.put(snapshot(state=state))
    assert object_keys(s3_client, bucket) == []


def valid_document(**changes: Any) -> dict[str, Any]:
    document = {
        "format": 1,
        "aggregate_type": "Cart",
        "aggregate_key": "a",
        "version": 3,
        "head_commit_id": "c3",
        "head_committed_at": "2026-01-02T03:04:05.678901Z",
        "checksum": "sum-1",
        "state": {"items": []},
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not ...}


CORRUPT_BODIES = {
    "garbage": b"\x00\x01not a snapshot",
    "empty": b"",
    "truncated json": json.dumps(valid_document()).encode()[:40],
    "truncated compressed": MAGIC + zlib.compress(json.dumps(valid_document()).encode())[:20],
    "compressed garbage": MAGIC + b"not zlib at all",
    "json array": b"[1, 2, 3]",
    "invalid utf-8": b'{"format": 1, "state": "\xff\xfe"}',
    "the JavaScript library's format": b'{"version":2,"state":{"items":["1"]}}',
    "a newer format": json.dumps(valid_document(format=2)).encode(),
    "no state": json.dumps(valid_document(state=...)).encode(),
    "no checksum": json.dumps(valid_document(checksum=...)).encode(),
    "a string version": json.dumps(valid_document(version="3")).encode(),
    "version 0": json.dumps(valid_document(version=0)).encode(),
    "a naive time": json.dumps(valid_document(head_committed_at="2026-01-02T03:04:05")).encode(),
    "not a time": json.dumps(valid_document(head_committed_at="yesterday")).encode(),
    "another aggregate's snapshot": json.dumps(valid_document(aggregate_key="b")).encode(),
}


@pytest.mark.parametrize("body", CORRUPT_BODIES.values(), ids=CORRUPT_BODIES.keys())
def test_a_body_that_cannot_be_decoded_is_unreadable(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str, body: bytes
) -> None:
    store = make_store("p")
    s3_client.put_object(Bucket=bucket, Key=store.key_for("Cart", "a"), Body=body)
    with pytest.raises(SnapshotUnreadable, match=f"s3://{bucket}/p/Cart/a.json"):
        store.get("Cart", "a")


def test_the_valid_document_used_above_reads(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store("p")
    s3_client.put_object(
        Bucket=bucket, Key=store.key_for("Cart", "a"), Body=json.dumps(valid_document()).encode()
    )
    got = store.get("Cart", "a")
    assert got is not None
    assert (got.version, got.state, got.head_commit_id) == (3, {"items": []}, "c3")


def test_an_unreadable_snapshot_can_be_overwritten(
    make_store: Callable[..., S3SnapshotStore], s3_client: Any, bucket: str
) -> None:
    store = make_store()
    s3_client.put_object(Bucket=bucket, Key=store.key_for("Cart", "a"), Body=b"junk")
    store.put(snapshot(version=4))
    got = store.get("Cart", "a")
    assert got is not None
    assert got.version == 4

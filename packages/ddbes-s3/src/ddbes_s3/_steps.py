"""The S3 store's operations, written once as steps that the sync (boto3) and async
(aiobotocore) stores drive: a step yields a :class:`Call` and receives its answer; botocore's
exceptions are translated by the driver, in the adapter's one mapping (:mod:`._errors`)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ddbes.errors import StoreUnavailable
from ddbes.model import Snapshot
from ddbes_s3._body import FORMAT, decode_body, encode_body
from ddbes_s3._errors import error_code, translate_errors
from ddbes_s3._keys import is_snapshot_key, object_key, type_prefix

__all__ = [
    "Call",
    "Steps",
    "clear",
    "delete",
    "drive",
    "drive_async",
    "get",
    "get_archive",
    "put",
    "put_archive",
]

T = TypeVar("T")

_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_LIST_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Call:
    """One S3 call: the client method, what it does (for messages), its arguments; with
    ``body``, the answer is the object's bytes, or ``None`` for a missing key."""

    operation: str
    action: str
    kwargs: dict[str, Any]
    body: bool = False
    tolerate: frozenset[str] = field(default=frozenset())


Steps = Generator[Call, Any, T]


def drive(steps: Steps[T], client: Any, bucket: str) -> T:
    """Run ``steps`` with a boto3 client."""
    reply: Any = None
    while True:
        try:
            call = steps.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        with translate_errors(call.action, bucket):
            try:
                reply = getattr(client, call.operation)(**call.kwargs)
            except ClientError as exc:
                if error_code(exc) not in call.tolerate:
                    raise
                reply = None
            if call.body and reply is not None:
                with reply["Body"] as stream:
                    reply = stream.read()


async def drive_async(steps: Steps[T], client: Any, bucket: str) -> T:
    """Run ``steps`` with an aiobotocore client, in the running loop."""
    reply: Any = None
    while True:
        try:
            call = steps.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        with translate_errors(call.action, bucket):
            try:
                reply = await getattr(client, call.operation)(**call.kwargs)
            except ClientError as exc:
                if error_code(exc) not in call.tolerate:
                    raise
                reply = None
            if call.body and reply is not None:
                async with reply["Body"] as stream:
                    reply = await stream.read()


def get(
    bucket: str, prefix: str, aggregate_type: str, aggregate_key: str
) -> Steps[Snapshot | None]:
    key = object_key(prefix, aggregate_type, aggregate_key)
    data = yield Call(
        "get_object",
        f"read snapshot {key!r}",
        {"Bucket": bucket, "Key": key},
        body=True,
        tolerate=frozenset({"NoSuchKey"}),
    )
    if data is None:
        return None
    return decode_body(
        data,
        aggregate_type=aggregate_type,
        aggregate_key=aggregate_key,
        where=f"s3://{bucket}/{key}",
    )


def put(bucket: str, prefix: str, snapshot: Snapshot) -> Steps[None]:
    body, compressed = encode_body(snapshot)
    key = object_key(prefix, snapshot.aggregate_type, snapshot.aggregate_key)
    yield Call(
        "put_object",
        f"write snapshot {key!r}",
        {
            "Bucket": bucket,
            "Key": key,
            "Body": body,
            "ContentType": "application/octet-stream" if compressed else "application/json",
            "Metadata": {
                "ddbes-snapshot-format": str(FORMAT),
                "ddbes-compression": "zlib" if compressed else "none",
            },
        },
    )


def delete(bucket: str, prefix: str, aggregate_type: str, aggregate_key: str) -> Steps[None]:
    key = object_key(prefix, aggregate_type, aggregate_key)
    yield Call("delete_object", f"delete snapshot {key!r}", {"Bucket": bucket, "Key": key})


def clear(bucket: str, prefix: str, aggregate_type: str | None) -> Steps[None]:
    listed = prefix if aggregate_type is None else type_prefix(prefix, aggregate_type)
    start_after = ""
    # Pages restart after the last key seen (StartAfter), not from a continuation token,
    # so deleting a page before listing the next cannot make the listing skip anything.
    while True:
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": listed, "MaxKeys": _LIST_PAGE}
        if start_after:
            request["StartAfter"] = start_after
        page = yield Call("list_objects_v2", f"list snapshots under {listed!r}", request)
        contents = page.get("Contents", [])
        keys = [item["Key"] for item in contents if is_snapshot_key(prefix, item["Key"])]
        for start in range(0, len(keys), _DELETE_BATCH):
            yield from _delete_keys(bucket, keys[start : start + _DELETE_BATCH])
        if not contents or not page.get("IsTruncated"):
            return
        start_after = contents[-1]["Key"]


def _delete_keys(bucket: str, keys: list[str]) -> Steps[None]:
    response = yield Call(
        "delete_objects",
        f"delete {len(keys)} snapshots",
        {"Bucket": bucket, "Delete": {"Objects": [{"Key": key} for key in keys], "Quiet": True}},
    )
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise StoreUnavailable(
            f"S3 failed to delete {len(errors)} of {len(keys)} snapshots in bucket "
            f"{bucket!r}, e.g. {first.get('Key')!r}: {first.get('Code')} "
            f"{first.get('Message', '')}".rstrip()
        )


def put_archive(bucket: str, prefix: str, key: str, body: bytes) -> Steps[None]:
    """Store the archive object ``key`` (:func:`ddbes.archiving.archive_key`) under ``prefix``."""
    yield Call(
        "put_object",
        f"write archive object {key!r}",
        {"Bucket": bucket, "Key": prefix + key, "Body": body, "ContentType": "application/zlib"},
    )


def get_archive(bucket: str, prefix: str, key: str) -> Steps[bytes | None]:
    """The bytes of the archive object ``key``; ``None`` when there is none."""
    data: bytes | None = yield Call(
        "get_object",
        f"read archive object {key!r}",
        {"Bucket": bucket, "Key": prefix + key},
        body=True,
        tolerate=frozenset({"NoSuchKey", "404"}),
    )
    return data

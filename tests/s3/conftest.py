"""Fixtures for the S3 adapter's tests: a fresh bucket per test (serialized moto, or the S3
that ``DDBES_TEST_S3_ENDPOINT`` names)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from ddbes_s3 import S3SnapshotStore


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client of the session's S3 (serialized moto unless DDBES_TEST_S3_ENDPOINT)."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A new, empty bucket."""
    name = f"ddbes-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_store(s3_client: Any, bucket: str) -> Callable[..., S3SnapshotStore]:
    """``make_store(prefix="")``: a store on the test's bucket."""

    def make(prefix: str = "") -> S3SnapshotStore:
        return S3SnapshotStore(bucket, prefix, client=s3_client)

    return make


def object_keys(s3_client: Any, bucket: str) -> list[str]:
    """Every key in ``bucket``, following every page."""
    keys: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)

"""Fixtures for archiving on DynamoDB Local with its archive in S3 (serialized moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    """Stores on fresh DynamoDB Local tables (sequenced in the background), deleted after."""
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client of the session's S3."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A new, empty bucket."""
    name = f"ddbes-archive-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name

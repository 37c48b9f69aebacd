"""Fixtures for the DynamoDB adapter's own tests: fresh tables on DynamoDB Local or moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ddbes_dynamodb.emulator import patch_moto_transactions
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal, MotoServer


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    """Stores on fresh DynamoDB Local tables, deleted after the test."""
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


@pytest.fixture
def moto_tables(moto_server: MotoServer) -> Iterator[DynamoDBTables]:
    """Stores on fresh tables of the serialized moto server, deleted after the test."""
    patch_moto_transactions()
    made = DynamoDBTables(moto_server.endpoint_url)
    yield made
    made.delete_all()

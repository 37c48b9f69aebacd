"""Fixtures of the migration tests: JavaScript-format tables and ddbes tables on DynamoDB
Local, all deleted afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dynamodb.tables import DynamoDBTables, client_for, table_name
from tests.migrate_js.jstables import JsTables
from tests.services import DynamoDBLocal


@pytest.fixture
def js_tables(dynamodb_local: DynamoDBLocal) -> Iterator[JsTables]:
    made = JsTables(client_for(dynamodb_local.endpoint_url))
    yield made
    made.delete_all()


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


@pytest.fixture
def target(dynamodb_local: DynamoDBLocal) -> Iterator[str]:
    """The name of a table that does not exist yet; deleted after the test if it was made."""
    name = table_name("ddbes-migrated")
    yield name
    client = client_for(dynamodb_local.endpoint_url)
    from ddbes_dynamodb import DynamoDBCommitStore

    store = DynamoDBCommitStore(name, client=client)
    store.close()
    store.delete_table(wait=False)

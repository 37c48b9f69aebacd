"""Fresh ddbes tables for tests: unique names, one shared client per endpoint, deleted after."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ddbes.archiving import ArchiveStore
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore
from ddbes_dynamodb._client import make_client

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client_for(endpoint_url: str) -> Any:
    """One DynamoDB client per endpoint for the whole session (building one takes ~50 ms)."""
    with _lock:
        client = _clients.get(endpoint_url)
        if client is None:
            client = make_client(
                "dynamodb", table="tests", endpoint_url=endpoint_url, region_name="us-east-1"
            )
            _clients[endpoint_url] = client
        return client


def table_name(prefix: str = "ddbes-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class DynamoDBTables:
    """Creates stores on fresh tables of one endpoint and deletes every table it made."""

    def __init__(self, endpoint_url: str, *, sequencing: str = "background") -> None:
        self.endpoint_url = endpoint_url
        self.sequencing = sequencing
        self.client = client_for(endpoint_url)
        self.created: list[DynamoDBCommitStore] = []

    def commit_store(
        self, *, log_partitions: int = 1, archive: ArchiveStore | None = None
    ) -> DynamoDBCommitStore:
        store = DynamoDBCommitStore(table_name(), client=self.client, archive=archive)
        store.create_table(log_partitions=log_partitions, sequencing=self.sequencing)
        self.created.append(store)
        return store

    def checkpoint_store(self) -> DynamoDBCheckpointStore:
        store = self.commit_store()
        return DynamoDBCheckpointStore(store.table_name, client=self.client)

    def delete_all(self) -> None:
        for store in self.created:
            store.close()
            store.delete_table(wait=False)
        self.created.clear()

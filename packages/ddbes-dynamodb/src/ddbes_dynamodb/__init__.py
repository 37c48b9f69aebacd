"""ddbes on Amazon DynamoDB: the commit log, projector checkpoints, and table administration.

::

    from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBCheckpointStore

    store = DynamoDBCommitStore("ddbes", endpoint_url="http://127.0.0.1:8000")
    store.create_table(log_partitions=4)        # once; on-demand billing
    checkpoints = DynamoDBCheckpointStore("ddbes", client=store.client)

For asyncio, :class:`AsyncDynamoDBCommitStore` and :class:`AsyncDynamoDBCheckpointStore`
(aiobotocore) read and write the same table layout.
"""

from ddbes_dynamodb.admin import TableDescription
from ddbes_dynamodb.async_checkpoint_store import AsyncDynamoDBCheckpointStore
from ddbes_dynamodb.async_commit_store import AsyncDynamoDBCommitStore
from ddbes_dynamodb.autoscaling import ScalingTarget
from ddbes_dynamodb.checkpoint_store import DynamoDBCheckpointStore
from ddbes_dynamodb.commit_store import DynamoDBCommitStore
from ddbes_dynamodb.js_migration import MigrationReport, migrate_js
from ddbes_dynamodb.key_store import DynamoDBKeyStore
from ddbes_dynamodb.kms import KMSKeyWrapper
from ddbes_dynamodb.lease_store import DynamoDBLeaseStore
from ddbes_dynamodb.snapshot_store import DynamoDBSnapshotStore

__all__ = [
    "AsyncDynamoDBCheckpointStore",
    "AsyncDynamoDBCommitStore",
    "DynamoDBCheckpointStore",
    "DynamoDBCommitStore",
    "DynamoDBKeyStore",
    "DynamoDBLeaseStore",
    "DynamoDBSnapshotStore",
    "KMSKeyWrapper",
    "MigrationReport",
    "ScalingTarget",
    "TableDescription",
    "migrate_js",
]

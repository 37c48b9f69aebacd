"""A sync app does not import the async stack: aiobotocore and aiohttp cost about half a
second of a process's start (a Lambda cold start, every ``ddbes`` command)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from ddbes_s3 import S3SnapshotStore
store = DynamoDBCommitStore("ddbes", client=make_client(
    "dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="us-east-1"))
print(json.dumps(sorted(m for m in ("aiobotocore", "aiohttp", "httpx") if m in sys.modules)))
"""


def test_sync_stores_and_their_clients_do_not_import_the_async_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []

"""Small builders shared by the DynamoDB adapter tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse

from ddbes.model import Commit
from ddbes_dynamodb import DynamoDBLeaseStore
from ddbes_dynamodb._sequencer import Sequencer
from ddbes_dynamodb._sequencing import LEASE_NAME

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def commit(
    key: str,
    version: int,
    events: tuple[dict[str, Any], ...] | None = None,
    *,
    aggregate_type: str = "Cart",
    commit_id: str | None = None,
) -> Commit:
    return Commit(
        commit_id=commit_id or uuid.uuid4().hex,
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=T0 + timedelta(milliseconds=version),
        events=events or ({"type": "ItemAdded", "n": version},),
    )


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def error_response(request: Any, code: str, status: int = 400) -> AWSResponse:
    """A DynamoDB JSON error response, as the service would send it."""
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}"}
    ).encode()
    headers = {"x-amzn-requestid": uuid.uuid4().hex, "content-type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Body(body))


def inject_errors(client: Any, operation: str, code: str, times: int | None) -> Callable[[], int]:
    """Answer the next ``times`` calls of ``operation`` (all when ``None``) with error ``code``
    instead of sending them; returns a function giving the number of calls seen."""
    calls = 0

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        nonlocal calls
        calls += 1
        if times is None or calls <= times:
            return error_response(request, code)
        return None

    client.meta.events.register(f"before-send.dynamodb.{operation}", before_send)
    return lambda: calls


def quiet_store(tables: Any, **options: Any) -> Any:
    """A store on a new table whose background sequencer never runs (another owner holds the
    lease of log partition 0): the test decides when, and how, commits enter the log."""
    store = tables.commit_store(**options)
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)
    return store


def page_sequencer(store: Any, client: Any = None) -> Any:
    """A sequencer of log pages for partition 0 of ``store``'s table, on ``client`` (the
    store's by default)."""
    return Sequencer(
        partition=0,
        table=store.table_name,
        call=store._call,
        client=store.client if client is None else client,
        read_head=store._read_head,
        on_sequenced=lambda commits: None,
        pages=True,
    )

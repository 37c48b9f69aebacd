"""One retry boundary: a commit against an endpoint that never answers fails by its deadline,
after few requests (the aggregate retries only conflicts, botocore makes one attempt per call,
and the adapter's caller retries transient failures within the commit's deadline)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ddbes import Aggregate, Commit
from ddbes.errors import StoreUnavailable
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import DynamoDBCommitStore
from tests.silent import silent_endpoint

READ_TIMEOUT = 0.5
COMMIT_TIMEOUT = 1.5


class Account(Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {"opened": True}


def test_a_commit_to_an_endpoint_that_never_answers_fails_by_its_deadline() -> None:
    accepted: list[object] = []
    with silent_endpoint(accepted) as url:
        # The store's own deadline per operation (20 s) is far longer than the commit's.
        timeouts = Timeouts(connect=READ_TIMEOUT, read=READ_TIMEOUT, total=20.0)
        store = DynamoDBCommitStore("ddbes-silent", endpoint_url=url, timeouts=timeouts)
        bound = Account.using(commit_store=store, commit_timeout=COMMIT_TIMEOUT)
        account = bound("a")
        start = time.monotonic()
        with pytest.raises(StoreUnavailable, match="deadline"):
            account.commit({"type": "Opened"}, retry=True)
        elapsed = time.monotonic() - start
        store.close()
    # An attempt in flight is bounded by the read timeout: no retry starts that could not end
    # by the deadline, so the commit ends by it (plus scheduling slack).
    assert elapsed < COMMIT_TIMEOUT + 0.5, elapsed
    assert 1 <= len(accepted) <= int(COMMIT_TIMEOUT / READ_TIMEOUT), len(accepted)
    assert account.version == 0

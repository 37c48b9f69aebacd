"""The documented web-application wiring, run with Flask's test client on in-memory stores."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from ddbes.container import create_container
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore

pytest.importorskip("flask")


def test_a_flask_app_wired_for_dynamodb_runs_on_overridden_in_memory_stores() -> None:
    from tests.container.flask_app import create_app

    container = create_container(
        environ={"DDBES_BACKEND": "dynamodb", "DDBES_TABLE_NAME": "prod-counters"}
    )
    commits = InMemoryCommitStore()
    container.commit_store.override(providers.Object(commits))
    container.checkpoint_store.override(providers.Object(InMemoryCheckpointStore()))
    client = create_app(container).test_client()
    first = client.post("/counters/visits/increment")
    second = client.post("/counters/visits/increment")
    assert first.status_code == second.status_code == 200
    assert second.get_json() == {"name": "visits", "value": 2, "version": 3}
    assert [c.version for c in commits.read_commits("Counter", "visits")] == [1, 2, 3]

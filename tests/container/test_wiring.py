"""Default wiring a newcomer meets: an endpoint without a backend, a snapshot store without
snapshots, and the container without its extra."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import ddbes
from ddbes.container import create_container, load_configuration
from ddbes.errors import ConfigurationError
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore


def test_an_endpoint_without_a_backend_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_container(environ={"DDBES_ENDPOINT_URL": "http://127.0.0.1:4566"})
    message = str(caught.value)
    assert "endpoint_url (DDBES_ENDPOINT_URL) is 'http://127.0.0.1:4566'" in message
    assert "DDBES_BACKEND=dynamodb" in message


@pytest.mark.parametrize(
    "settings",
    [
        {"DDBES_ENDPOINT_URL": "http://e", "DDBES_BACKEND": "memory"},  # memory on purpose
        {"DDBES_ENDPOINT_URL": "http://e", "DDBES_BACKEND": "dynamodb"},
        {"DDBES_ENDPOINT_URL": "http://e", "DDBES_SNAPSHOTS": "s3", "DDBES_SNAPSHOTS_BUCKET": "b"},
        {"DDBES_ENDPOINT_URL": "http://e", "DDBES_CHECKPOINTS": "dynamodb"},
    ],
)
def test_an_endpoint_that_something_uses_or_an_explicit_memory_backend_is_fine(
    settings: dict[str, str],
) -> None:
    assert load_configuration(environ=settings)["endpoint_url"] == "http://e"


def test_a_command_default_backend_counts_as_chosen() -> None:
    configuration = load_configuration(
        environ={"DDBES_ENDPOINT_URL": "http://e"}, defaults={"backend": "dynamodb"}
    )
    assert configuration["backend"] == "dynamodb"


def test_a_snapshot_store_without_snapshots_warns_that_none_would_be_written() -> None:
    with pytest.warns(UserWarning, match="no aggregate writes snapshots") as caught:
        ddbes.config.update(snapshot_store=InMemorySnapshotStore())
    assert caught[0].filename == __file__  # points at the caller's line


@pytest.mark.parametrize("snapshots", [True, False])
def test_a_snapshot_store_with_snapshots_said_either_way_does_not_warn(snapshots: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ddbes.config.update(snapshot_store=InMemorySnapshotStore(), snapshots=snapshots)
        ddbes.config.update(snapshot_store=InMemorySnapshotStore())  # snapshots already chosen
    assert ddbes.config.snapshots is snapshots


def test_the_readme_s3_snippet_with_snapshots_true_writes_snapshots() -> None:
    snapshots = InMemorySnapshotStore()
    ddbes.config.update(
        commit_store=InMemoryCommitStore(), snapshot_store=snapshots, snapshots=True
    )

    class Counter(ddbes.Aggregate):
        snapshots_frequency = 2

        @staticmethod
        def reducer(state: int | None, event: dict[str, object], commit: object) -> int:
            return (state or 0) + 1

    counter = Counter.load()
    assert counter is not None
    counter.commit({"type": "Up"}).commit({"type": "Up"})
    assert snapshots.get("Counter", "@") is not None


def test_importing_the_container_without_its_extra_names_the_pip_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['dependency_injector'] = None\n"
        "try:\n"
        "    import ddbes.container\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc.name)\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    name, message = done.stdout.splitlines()
    assert name == "dependency_injector"
    assert 'pip install "ddbes-core[container]"' in message

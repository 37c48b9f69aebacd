"""botocore's failures come out as ddbes errors, quickly."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from ddbes.errors import ConfigurationError, StoreUnavailable
from ddbes.timeouts import Timeouts
from ddbes_s3 import S3SnapshotStore
from ddbes_s3.store import DEFAULT_CLIENT_CONFIG, client_config
from tests.s3.helpers import snapshot
from tests.services import free_port

FAST = Config(
    connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 1}
)


def fast_client(endpoint_url: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", config=FAST)


OPERATIONS: dict[str, Callable[[S3SnapshotStore], object]] = {
    "get": lambda store: store.get("Cart", "a"),
    "put": lambda store: store.put(snapshot()),
    "delete": lambda store: store.delete("Cart", "a"),
    "clear": lambda store: store.clear(),
    "clear type": lambda store: store.clear("Cart"),
}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
def test_an_unreachable_endpoint_is_store_unavailable_quickly(
    operation: Callable[[S3SnapshotStore], object],
) -> None:
    store = S3SnapshotStore("bucket", client=fast_client(f"http://127.0.0.1:{free_port()}"))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unreachable"):
        operation(store)
    assert time.monotonic() - started < 2


def test_the_default_client_gives_up_on_a_closed_port_within_seconds() -> None:
    store = S3SnapshotStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.get("Cart", "a")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("operation", [OPERATIONS["get"], OPERATIONS["put"]], ids=["get", "put"])
def test_a_server_that_never_answers_is_store_unavailable(
    silent_port: int, operation: Callable[[S3SnapshotStore], object]
) -> None:
    store = S3SnapshotStore("bucket", client=fast_client(f"http://127.0.0.1:{silent_port}"))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        operation(store)
    assert time.monotonic() - started < 3


def test_a_store_without_a_client_ends_each_call_by_its_timeouts(silent_port: int) -> None:
    timeouts = Timeouts(connect=0.5, read=0.5, total=1.0)
    store = S3SnapshotStore(
        "bucket", endpoint_url=f"http://127.0.0.1:{silent_port}", timeouts=timeouts
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{silent_port}"):
        store.get("Cart", "a")
    assert time.monotonic() - started < 3 * timeouts.total  # not the default 10 s reads, retried


def test_the_default_client_retries_a_hung_read_only_within_the_default_total() -> None:
    assert DEFAULT_CLIENT_CONFIG == {
        "connect_timeout": 3.0,
        "read_timeout": 10.0,
        "retries": {"mode": "standard", "total_max_attempts": 2},
    }
    assert client_config(Timeouts(read=5, total=60))["retries"]["total_max_attempts"] == 3
    assert client_config(Timeouts.within(4))["retries"]["total_max_attempts"] == 1


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
def test_a_missing_bucket_is_a_configuration_error_saying_how_to_create_it(
    s3_endpoint: str, operation: Callable[[S3SnapshotStore], object]
) -> None:
    store = S3SnapshotStore("no-such-bucket-here", endpoint_url=s3_endpoint)
    with pytest.raises(
        ConfigurationError, match=r"'no-such-bucket-here' does not exist.*create_bucket"
    ):
        operation(store)


def test_create_bucket_creates_it_once_and_is_idempotent(s3_endpoint: str) -> None:
    store = S3SnapshotStore("ddbes-created-bucket", "p", endpoint_url=s3_endpoint)
    store.create_bucket()
    store.create_bucket()
    store.put(snapshot())
    assert store.get("Cart", "a") == snapshot()


def test_create_bucket_refuses_an_invalid_name(s3_endpoint: str) -> None:
    store = S3SnapshotStore("ab", endpoint_url=s3_endpoint)
    with pytest.raises(ConfigurationError, match="not a valid S3 bucket name"):
        store.create_bucket()


def test_the_constructor_does_no_io() -> None:
    store = S3SnapshotStore("bucket", "p", endpoint_url=f"http://127.0.0.1:{free_port()}")
    assert repr(store) == "S3SnapshotStore(bucket='bucket', prefix='p/')"


def test_a_client_and_an_endpoint_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either a client or endpoint_url"):
        S3SnapshotStore("bucket", client=fast_client("http://127.0.0.1:1"), endpoint_url="x")


def test_an_empty_bucket_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="bucket name"):
        S3SnapshotStore("")


# botocore's own error responses are not ours to fake with a server: Stubber injects them.
SERVICE_ERRORS = [
    ("SlowDown", 503, StoreUnavailable),
    ("InternalError", 500, StoreUnavailable),
    ("AccessDenied", 403, ConfigurationError),
    ("InvalidAccessKeyId", 403, ConfigurationError),
]


@pytest.mark.parametrize(("code", "status", "expected"), SERVICE_ERRORS)
def test_service_errors_are_mapped(code: str, status: int, expected: type[Exception]) -> None:
    client = fast_client("http://127.0.0.1:1")
    store = S3SnapshotStore("bucket", client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error("get_object", code, http_status_code=status)
        with pytest.raises(expected, match="bucket 'bucket'") as raised:
            store.get("Cart", "a")
    assert raised.value.__cause__ is not None


def test_objects_that_fail_to_delete_make_clear_fail() -> None:
    client = fast_client("http://127.0.0.1:1")
    store = S3SnapshotStore("bucket", "p", client=client)
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_objects_v2",
            {
                "Contents": [{"Key": "p/Cart/a.json"}, {"Key": "p/Cart/b.json"}],
                "IsTruncated": False,
            },
        )
        stubber.add_response(
            "delete_objects",
            {"Errors": [{"Key": "p/Cart/b.json", "Code": "AccessDenied", "Message": "no"}]},
        )
        with pytest.raises(StoreUnavailable, match=r"1 of 2 .*'p/Cart/b.json'.*AccessDenied"):
            store.clear()

"""The KMS envelope: data keys wrapped by a KMS key (moto's KMS), stored in DynamoDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ddbes.errors import ConfigurationError, StoreUnavailable
from ddbes.memory import InMemoryCommitStore
from ddbes.shredding import ERASED, CiphertextUnreadable, SubjectKey
from ddbes_dynamodb import DynamoDBKeyStore, KMSKeyWrapper
from ddbes_dynamodb._client import make_client
from tests.dynamodb.tables import client_for
from tests.services import MotoServer
from tests.shredding.helpers import commit, raw_text, registered, shredder


@pytest.fixture
def kms(moto_server: MotoServer) -> Any:
    return make_client(
        "kms", table="tests", endpoint_url=moto_server.endpoint_url, region_name="us-east-1"
    )


@pytest.fixture
def kms_key(kms: Any) -> str:
    key_id: str = kms.create_key(Description="ddbes test")["KeyMetadata"]["KeyId"]
    return key_id


@pytest.fixture
def keys(moto_server: MotoServer) -> Iterator[DynamoDBKeyStore]:
    store = DynamoDBKeyStore(
        f"ddbes-keys-{uuid.uuid4().hex[:12]}", client=client_for(moto_server.endpoint_url)
    )
    store.create_table()
    yield store
    store.delete_table(wait=False)


def test_data_keys_are_stored_wrapped_by_kms(
    kms: Any, kms_key: str, keys: DynamoDBKeyStore
) -> None:
    raw = InMemoryCommitStore()
    wrapper = KMSKeyWrapper(kms_key, client=kms)
    shred = shredder(keys, wrapper=wrapper)
    store = shred.commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    stored = keys.get("c1")
    assert stored is not None
    assert stored.wrapping == f"kms:{kms_key}"
    assert len(stored.material) > 32  # a KMS ciphertext blob, not the 32-byte key
    # another process, same KMS key: reads; without the wrapper: a clear configuration error
    assert next(shredder(keys, wrapper=wrapper).commit_store(raw).read_log()).events == (
        registered("c1"),
    )
    with pytest.raises(ConfigurationError, match="wrapped by"):
        list(shredder(keys).commit_store(raw).read_log())
    assert "Ada" not in raw_text(raw)
    shred.forget("c1")
    assert keys.get("c1") is None
    fresh = shredder(keys, wrapper=wrapper).commit_store(raw)
    assert next(fresh.read_log()).events[0]["name"] == ERASED


def test_a_wrapped_key_moved_to_another_subject_does_not_open(
    kms: Any, kms_key: str, keys: DynamoDBKeyStore
) -> None:
    wrapper = KMSKeyWrapper(kms_key, client=kms)
    shredder(keys, wrapper=wrapper).commit_store(InMemoryCommitStore()).append(
        commit("c1", 1, registered("c1"))
    )
    stolen = keys.get("c1")
    assert stolen is not None
    keys.create(
        SubjectKey(
            subject_id="c2",
            key_id=stolen.key_id,
            material=stolen.material,
            wrapping=stolen.wrapping,
        )
    )
    with pytest.raises(CiphertextUnreadable, match="another subject"):
        wrapper.unwrap(stolen.material, "c2")


def test_kms_errors_are_translated(kms: Any, keys: DynamoDBKeyStore) -> None:
    missing = KMSKeyWrapper("alias/does-not-exist", client=kms)
    raw = InMemoryCommitStore()
    with pytest.raises(ConfigurationError, match="alias/does-not-exist"):
        shredder(keys, wrapper=missing).commit_store(raw).append(commit("c1", 1, registered("c1")))
    assert list(raw.read_log()) == []
    unreachable = KMSKeyWrapper("k", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    with pytest.raises(StoreUnavailable, match="KMS could not be reached"):
        unreachable.wrap(b"k" * 32, "c1")

"""Encrypting personal data on the way in and decrypting it on the way out, in memory."""

from __future__ import annotations

import base64
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

import ddbes
from ddbes.errors import ConfigurationError, InvalidEvent, StoreUnavailable
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.model import Commit, Snapshot
from ddbes.shredding import (
    ERASED,
    AsyncEncryptingCommitStore,
    CiphertextUnreadable,
    InMemoryKeyStore,
    KeyWrapper,
    PersonalData,
    ShreddingPolicy,
    SubjectKey,
)
from tests.shredding.conftest import Customer
from tests.shredding.helpers import Clock, commit, raw_text, registered, shredder


@pytest.fixture
def raw() -> InMemoryCommitStore:
    return InMemoryCommitStore()


def test_loads_see_the_plaintext_and_storage_only_ciphertext(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    ddbes.config.update(commit_store=shred.commit_store(raw))
    created = Customer.create(customer_id="c1", name="Ada Lovelace", email="ada@example.com")
    assert created.state["name"] == "Ada Lovelace"
    created.move("London", "12 St James's Square")
    loaded = Customer.load("c1")
    assert loaded is not None
    assert loaded.state == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "plan": "pro",
        "city": "London",
        "street": "12 St James's Square",
        "events": 2,
    }
    stored = raw_text(raw)
    for plaintext in ("Ada Lovelace", "ada@example.com", "London", "St James"):
        assert plaintext not in stored


def test_the_wire_format_keeps_the_event_shape_and_type(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    store.append(
        commit("c1", 2, {"type": "Moved", "customer_id": "c1", "city": "Oslo", "version": 2})
    )
    first, second = (c.events[0] for c in raw.read_commits("Customer", "c1"))
    envelope = first.pop("ddbes:pii")
    assert first == {
        "type": "Registered",
        "customer_id": "c1",
        "name": "<encrypted>",
        "email": "<encrypted>",
        "plan": "pro",
    }
    assert set(envelope) == {"v", "s", "k", "f", "c"}
    assert (envelope["v"], envelope["s"], envelope["f"]) == (1, "c1", ["name", "email"])
    data = base64.b64decode(envelope["c"])
    assert len(data) > 12 + 16  # nonce, ciphertext, tag
    # the whole event: every field but type and version (the subject is a function here, so
    # no field is known to be the subject's id)
    assert second["ddbes:pii"]["f"] == ["city", "customer_id"]
    assert (second["type"], second["version"], second["city"]) == ("Moved", 2, "<encrypted>")


def test_each_encryption_has_its_own_nonce(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    for version in range(1, 201):
        store.append(commit("c1", version, registered("c1"), registered("c1")))
    ciphertexts = [
        event["ddbes:pii"]["c"] for c in raw.read_commits("Customer", "c1") for event in c.events
    ]
    nonces = {base64.b64decode(c)[:12] for c in ciphertexts}
    assert len(nonces) == len(ciphertexts) == 400


def test_events_without_personal_data_are_stored_as_they_are(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    plain = ({"type": "Upgraded", "plan": "max"},)
    store.append(commit("c1", 1, *plain))
    store.append(commit("o1", 1, {"type": "Registered", "name": "x"}, aggregate_type="Order"))
    assert next(raw.read_commits("Customer", "c1")).events == plain
    assert next(raw.read_commits("Order", "o1")).events == ({"type": "Registered", "name": "x"},)


def test_a_retried_commit_is_stored_once(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    once = commit("c1", 1, registered("c1"))
    first = store.append(once)
    again = store.append(once)  # re-encrypted with a fresh nonce: the store matches commit_id
    assert again == first
    assert again.events == once.events
    assert len(list(raw.read_log())) == 1


class LosesFirstAnswer(InMemoryCommitStore):
    """Stores the first append, then reports it as failed: the outcome is unknown."""

    lost = False

    def append(self, commit: Commit) -> Commit:
        stored = super().append(commit)
        if not self.lost:
            self.lost = True
            raise StoreUnavailable("the answer was lost")
        return stored


def test_an_unknown_outcome_then_a_load_shows_the_commit_stored_once() -> None:
    # The aggregate retries only conflicts (one retry boundary: the adapter retries transient
    # failures); after an unknown outcome the next load shows what was stored, decrypted.
    raw = LosesFirstAnswer()
    ddbes.config.update(commit_store=shredder().commit_store(raw))
    with pytest.raises(StoreUnavailable):
        Customer.create(customer_id="c1", name="Ada", email="ada@x")
    loaded = Customer.load("c1")
    assert loaded is not None and loaded.version == 1 and loaded.state["name"] == "Ada"
    assert [c.version for c in raw.read_log()] == [1]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"type": "Registered", "name": "Ada"}, "has no subject field 'customer_id'"),
        ({"type": "Registered", "customer_id": 42, "name": "Ada"}, "must be a non-empty string"),
        ({"type": "Registered", "customer_id": "", "name": "Ada"}, "must be a non-empty string"),
        ({"type": "Moved", "city": "Oslo"}, "has no subject"),
        ({"type": "Upgraded", "ddbes:pii": {}}, "reserved field 'ddbes:pii'"),
        (
            {"type": "Registered", "customer_id": "c1", "name": float("nan")},
            "holds what JSON cannot",
        ),
    ],
    ids=[
        "missing-subject",
        "int-subject",
        "empty-subject",
        "callable-fails",
        "reserved-field",
        "nan-in-personal-field",
    ],
)
def test_bad_events_are_refused_naming_the_commit(
    raw: InMemoryCommitStore, event: dict[str, Any], expected: str
) -> None:
    store = shredder().commit_store(raw)
    bad = commit("c1", 1, {"type": "Upgraded"}, event)
    with pytest.raises(InvalidEvent) as caught:
        store.append(bad)
    message = str(caught.value)
    assert expected in message
    assert f"event 1 ({event['type']}) of commit {bad.commit_id} of Customer:c1" in message
    assert list(raw.read_log()) == []


def test_bad_rules_are_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="one-field tuple"):
        PersonalData(subject="customer_id", fields="email")
    with pytest.raises(ValueError, match="ddbes needs it"):
        PersonalData(subject="customer_id", fields=("type",))
    with pytest.raises(ValueError, match="subject field"):
        PersonalData(subject="customer_id", fields=("customer_id",))
    with pytest.raises(TypeError, match="field name or a function"):
        PersonalData(subject=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a PersonalData"):
        ShreddingPolicy({"Customer": {"Registered": ("name",)}})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="no personal_data"):
        ShreddingPolicy.from_aggregates(InMemoryCommitStore)


def _tampered(event: dict[str, Any]) -> dict[str, Any]:
    envelope = dict(event["ddbes:pii"])
    data = bytearray(base64.b64decode(envelope["c"]))
    data[-20] ^= 1
    envelope["c"] = base64.b64encode(bytes(data)).decode()
    return {**event, "ddbes:pii": envelope}


def test_a_tampered_ciphertext_is_an_error_naming_the_commit(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    sealed, _ = shred.seal_commit(commit("c1", 1, registered("c1")))
    broken = Commit(
        commit_id=sealed.commit_id,
        aggregate_type="Customer",
        aggregate_key="c1",
        version=1,
        committed_at=sealed.committed_at,
        events=(_tampered(sealed.events[0]),),
    )
    raw.append(broken)
    store = shred.commit_store(raw)
    with pytest.raises(CiphertextUnreadable) as caught:
        list(store.read_commits("Customer", "c1"))
    assert f"event 0 (Registered) of commit {broken.commit_id} of Customer:c1 at version 1" in str(
        caught.value
    )
    with pytest.raises(CiphertextUnreadable):
        list(store.read_log())


def test_a_ciphertext_moved_to_another_version_does_not_decrypt(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    store = shred.commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    copied = next(raw.read_commits("Customer", "c1")).events
    raw.append(commit("c1", 2, *copied))
    raw.append(commit("c2", 1, *copied))
    with pytest.raises(CiphertextUnreadable, match="version 2"):
        list(store.read_commits("Customer", "c1"))
    with pytest.raises(CiphertextUnreadable, match="Customer:c2"):
        list(store.read_commits("Customer", "c2"))


def test_a_damaged_envelope_is_an_error(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    raw.append(commit("c1", 1, {"type": "Registered", "ddbes:pii": {"v": 1, "s": "c1"}}))
    with pytest.raises(CiphertextUnreadable, match=r"no subject or key id|no ciphertext"):
        list(store.read_log())


class Unreachable(InMemoryKeyStore):
    down = False

    def get(self, subject_id: str) -> SubjectKey | None:
        if self.down:
            raise StoreUnavailable("the key store cannot be reached")
        return super().get(subject_id)


def test_an_unreachable_key_store_writes_nothing_and_reads_fail_clearly(
    raw: InMemoryCommitStore,
) -> None:
    keys = Unreachable()
    writer = shredder(keys).commit_store(raw)
    writer.append(commit("c1", 1, registered("c1")))
    keys.down = True
    with pytest.raises(StoreUnavailable):
        writer.append(commit("c2", 1, registered("c2")))
    assert [c.aggregate_key for c in raw.read_log()] == ["c1"]
    reader = shredder(keys).commit_store(raw)  # another process: nothing cached
    with pytest.raises(StoreUnavailable):
        list(reader.read_log())
    keys.down = False
    assert next(reader.read_log()).events[0]["name"] == "Ada Lovelace"


def test_forget_erases_the_subject_and_nobody_else(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    store = shred.commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    store.append(commit("c2", 1, registered("c2", name="Grace Hopper")))
    store.append(commit("c1", 2, {"type": "Moved", "customer_id": "c1", "city": "Oslo"}))
    assert shred.forget("c1") == ("Customer:c1",)
    assert shred.forget("c1") == ("Customer:c1",)  # idempotent
    events = [c.events[0] for c in store.read_log()]
    assert events == [
        {"type": "Registered", "customer_id": "c1", "name": ERASED, "email": ERASED, "plan": "pro"},
        {**registered("c2", name="Grace Hopper")},
        {"type": "Moved", "customer_id": ERASED, "city": ERASED},
    ]
    # a new commit for the forgotten subject gets a new key: the old data stays erased
    store.append(commit("c1", 3, registered("c1", name="Ada again")))
    names = [c.events[0].get("name") for c in store.read_commits("Customer", "c1")]
    assert names == [ERASED, None, "Ada again"]
    fresh = shredder(shred.keys).commit_store(raw)  # another process
    assert [c.events[0].get("name") for c in fresh.read_commits("Customer", "c1")] == names


def test_a_placeholder_of_your_choice(raw: InMemoryCommitStore) -> None:
    shred = shredder(placeholder=None)
    store = shred.commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    shred.forget("c1")
    assert next(store.read_log()).events[0]["name"] is None


def test_another_process_sees_a_forget_within_the_cache_ttl(raw: InMemoryCommitStore) -> None:
    keys = InMemoryKeyStore()
    clock = Clock()
    reader = shredder(keys, cache_ttl=30, monotonic=clock)
    forgetting = shredder(keys)
    shredder(keys).commit_store(raw).append(commit("c1", 1, registered("c1")))
    store = reader.commit_store(raw)
    assert next(store.read_log()).events[0]["name"] == "Ada Lovelace"
    forgetting.forget("c1")
    clock.now += 29
    assert next(store.read_log()).events[0]["name"] == "Ada Lovelace"  # cached
    clock.now += 2
    assert next(store.read_log()).events[0]["name"] == ERASED


def test_the_key_cache_is_bounded(raw: InMemoryCommitStore) -> None:
    shred = shredder(cache_size=3)
    store = shred.commit_store(raw)
    for n in range(10):
        store.append(commit(f"c{n}", 1, registered(f"c{n}")))
    assert len(list(store.read_log())) == 10
    assert len(shred.keyring._cache) == 3


class CountingKeys(InMemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.creates = 0

    def get(self, subject_id: str) -> SubjectKey | None:
        self.gets += 1
        return super().get(subject_id)

    def create(self, key: SubjectKey) -> SubjectKey:
        self.creates += 1
        return super().create(key)


def test_forgotten_keys_cost_one_lookup_then_none(raw: InMemoryCommitStore) -> None:
    keys = CountingKeys()
    shred = shredder(keys)
    store = shred.commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    shredder(keys).forget("c1")  # another process
    reader = shredder(keys).commit_store(raw)
    before = keys.gets
    for _ in range(5):
        assert next(reader.read_log()).events[0]["name"] == ERASED
    assert keys.gets == before + 1


def test_a_subjects_first_key_is_created_once_under_concurrency(
    raw: InMemoryCommitStore,
) -> None:
    keys = CountingKeys()
    processes = [shredder(keys) for _ in range(8)]
    start = threading.Barrier(len(processes))

    def write(n: int) -> None:
        start.wait()
        processes[n].commit_store(raw).append(commit(f"k{n}", 1, registered("same-subject")))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = keys.get("same-subject")
    assert stored is not None
    key_ids = {c.events[0]["ddbes:pii"]["k"] for c in raw.read_log()}
    assert key_ids == {stored.key_id}
    reader = shredder(keys).commit_store(raw)
    assert {c.events[0]["name"] for c in reader.read_log()} == {"Ada Lovelace"}


class XorWrapper(KeyWrapper):
    """Not encryption: a stand-in that makes wrapping visible (KMS is tested on moto)."""

    def __init__(self, name: str = "xor") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def wrap(self, material: bytes, subject_id: str) -> bytes:
        return bytes(b ^ 0x5A for b in material)

    def unwrap(self, wrapped: bytes, subject_id: str) -> bytes:
        return bytes(b ^ 0x5A for b in wrapped)


def test_wrapped_keys_need_their_wrapper(raw: InMemoryCommitStore) -> None:
    keys = InMemoryKeyStore()
    shredder(keys, wrapper=XorWrapper()).commit_store(raw).append(commit("c1", 1, registered("c1")))
    stored = keys.get("c1")
    assert stored is not None and stored.wrapping == "xor"
    assert next(shredder(keys, wrapper=XorWrapper()).commit_store(raw).read_log()).events
    for wrong in (None, XorWrapper("other")):
        with pytest.raises(ConfigurationError, match="wrapped by 'xor'"):
            list(shredder(keys, wrapper=wrong).commit_store(raw).read_log())


def test_snapshots_are_encrypted_and_void_after_forget(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    snapshots = InMemorySnapshotStore()
    ddbes.config.update(
        commit_store=shred.commit_store(raw),
        snapshot_store=shred.snapshot_store(snapshots),
        snapshots=True,
        snapshots_frequency=2,
    )
    Customer.create(customer_id="c1", name="Ada Lovelace", email="ada@x").move("Oslo", "Main 1")
    Customer.create(customer_id="c2", name="Grace", email="g@x").upgrade()
    stored = snapshots.get("Customer", "c1")
    assert stored is not None and "Ada" not in repr(stored.state)
    assert set(stored.state) == {"ddbes:pii-state"}
    loaded = Customer.load("c1")
    assert loaded is not None and loaded.state["name"] == "Ada Lovelace"
    shred.forget("c1")
    assert snapshots.get("Customer", "c1") is None
    assert snapshots.get("Customer", "c2") is not None
    erased = Customer.load("c1")
    assert erased is not None and erased.state["name"] == ERASED
    assert erased.state["street"] == ERASED and erased.state["plan"] == "pro"


def test_a_stale_process_cannot_leave_a_readable_snapshot(raw: InMemoryCommitStore) -> None:
    keys = InMemoryKeyStore()
    clock = Clock()
    stale = shredder(keys, cache_ttl=60, monotonic=clock)
    snapshots = InMemorySnapshotStore()
    ddbes.config.update(
        commit_store=stale.commit_store(raw),
        snapshot_store=stale.snapshot_store(snapshots),
        snapshots=True,
        snapshots_frequency=2,
    )
    customer = Customer.create(customer_id="c1", name="Ada Lovelace", email="ada@x")
    shredder(keys).forget("c1")  # another process; `stale` still has the key cached
    customer.upgrade()  # version 2: a snapshot from the plaintext state
    stored = snapshots.get("Customer", "c1")
    assert stored is not None and "Ada" not in repr(stored.state)
    assert shredder(keys).snapshot_store(snapshots).get("Customer", "c1") is None
    assert snapshots.get("Customer", "c1") is None  # the void snapshot was deleted
    # the cache expires: this process reads the placeholder, and writes no plaintext snapshot
    clock.now += 61
    reloaded = Customer.load("c1")
    assert reloaded is not None and reloaded.state["name"] == ERASED


def test_no_snapshot_is_written_from_a_state_that_may_hold_a_forgotten_plaintext(
    raw: InMemoryCommitStore,
) -> None:
    keys = InMemoryKeyStore()
    clock = Clock()
    stale = shredder(keys, cache_ttl=60, monotonic=clock)
    stale.commit_store(raw).append(commit("c1", 1, registered("c1")))
    shredder(keys).forget("c1")
    clock.now += 59
    assert next(stale.commit_store(raw).read_log()).events[0]["name"] == "Ada Lovelace"
    clock.now += 2  # the cached key expired between the load and the snapshot write
    snapshot = Snapshot(
        aggregate_type="Customer",
        aggregate_key="c1",
        version=1,
        state={"name": "Ada Lovelace"},
        head_commit_id="x",
        head_committed_at=datetime.now(UTC),
        checksum="c",
    )
    assert stale.seal_snapshot(snapshot) is None
    clock.now += 60  # long after: the state can only hold placeholders, it is written in clear
    assert stale.seal_snapshot(snapshot) == snapshot


async def test_the_async_twin_encrypts_and_forgets_alike(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    store = AsyncEncryptingCommitStore(raw.as_async(), shred)
    once = commit("c1", 1, registered("c1"))
    stored = await store.append(once)
    assert stored.events == once.events and await store.append(once) == stored
    await store.append(commit("c2", 1, {"type": "Upgraded"}))
    assert "Ada" not in raw_text(raw)
    sync_view = shred.commit_store(raw)  # one layout: the sync store reads what async wrote
    assert next(sync_view.read_log()).events == once.events
    assert [c.events async for c in store.read_commits("Customer", "c1")] == [once.events]
    shred.forget("c1")
    heard = [c.events[0].get("name") async for c in store.read_log()]
    assert heard == [ERASED, None]
    with pytest.raises(InvalidEvent):
        await store.append(commit("c3", 1, {"type": "Registered", "name": "x"}))


def test_append_listeners_hear_the_plaintext(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    heard: list[Commit] = []
    remove = store.add_append_listener(heard.append)
    store.append(commit("c1", 1, registered("c1")))
    remove()
    store.append(commit("c2", 1, registered("c2")))
    assert [c.events[0]["name"] for c in heard] == ["Ada Lovelace"]


def test_commit_metadata_passes_through_in_clear(raw: InMemoryCommitStore) -> None:
    store = shredder().commit_store(raw)
    meta = {"correlation_id": "req-1", "user": "ops"}
    once = replace(commit("c1", 1, registered("c1")), metadata=meta)
    stored = store.append(once)
    assert stored.metadata == meta and stored.events == once.events
    assert store.append(once).metadata == meta  # a retry, decrypted from the store
    (read,) = store.read_log()
    assert read.metadata == meta and read.events == once.events
    assert next(raw.read_log()).metadata == meta


def test_an_atomic_unit_is_encrypted_stored_once_and_forgotten_alike(
    raw: InMemoryCommitStore,
) -> None:
    shred = shredder()
    store = shred.commit_store(raw)
    unit = [commit("c1", 1, registered("c1")), commit("c2", 1, {"type": "Upgraded"})]
    stored = store.append_all(unit)
    assert [c.events for c in stored] == [c.events for c in unit]
    assert store.append_all(unit) == stored  # a retry: the unit once, its plaintext back
    assert "Ada" not in raw_text(raw)
    assert [c.aggregate_key for c in raw.read_log()] == ["c1", "c2"]
    shred.forget("c1")
    assert next(store.read_log()).events[0]["name"] == ERASED


async def test_the_async_twin_encrypts_atomic_units(raw: InMemoryCommitStore) -> None:
    shred = shredder()
    store = AsyncEncryptingCommitStore(raw.as_async(), shred)
    unit = [commit("c1", 1, registered("c1")), commit("c2", 1, {"type": "Upgraded"})]
    stored = await store.append_all(unit)
    assert [c.events for c in stored] == [c.events for c in unit]
    assert await store.append_all(unit) == stored
    assert "Ada" not in raw_text(raw)

"""Crypto-shredding and archiving: archives hold what the store holds (ciphertext), so a
subject forgotten before or after its aggregate is archived reads as the placeholder."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import pytest

import ddbes
from ddbes.archiving import ArchivePolicy, Archiver, InMemoryArchiveStore
from ddbes.errors import ConfigurationError
from ddbes.memory import InMemoryCommitStore
from ddbes.shredding import ERASED
from ddbes.testing import ManualClock
from tests.shredding.conftest import Customer
from tests.shredding.helpers import shredder

LATER = ManualClock(datetime.now(UTC) + timedelta(days=400))
POLICY = ArchivePolicy(aggregate_types=("Customer",), idle_for=timedelta(days=30))


@pytest.mark.parametrize("forget_first", [True, False])
def test_a_forgotten_subject_stays_unreadable_in_the_archive(forget_first: bool) -> None:
    archive = InMemoryArchiveStore()
    raw = InMemoryCommitStore(archive=archive)
    shred = shredder()
    store = shred.commit_store(raw)
    ddbes.config.update(commit_store=store)
    Customer.create(customer_id="c1", name="Ada Lovelace", email="ada@example.com").move(
        "Oslo", "Main 1"
    )
    Customer.create(customer_id="c2", name="Grace Hopper", email="grace@example.com")
    if forget_first:
        shred.forget("c1")
    with pytest.raises(ConfigurationError, match="not a wrapper"):
        Archiver(store, clock=LATER)  # type: ignore[arg-type]
    report = Archiver(raw, clock=LATER).run(POLICY)
    assert [one.aggregate_key for one in report.archived] == ["c1", "c2"]
    for key in archive.object_keys():
        body = zlib.decompress(archive.get(key) or b"").decode()
        for plaintext in ("Ada Lovelace", "ada@example.com", "Oslo", "Grace Hopper"):
            assert plaintext not in body, (key, plaintext)
    if not forget_first:
        shred.forget("c1")
    erased = Customer.load("c1")
    assert erased.state["name"] == erased.state["email"] == erased.state["city"] == ERASED
    assert erased.state["plan"] == "pro"
    assert Customer.load("c2").state["name"] == "Grace Hopper"
    logged = [c.events[0].get("name") for c in store.read_log() if c.version == 1]
    assert logged == [ERASED, "Grace Hopper"]

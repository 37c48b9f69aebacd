"""The :class:`~ddbes.shredding.KeyStore` contract suite (re-exported by
:mod:`ddbes.testing.contracts`): ``KEY_STORE_CHECKS``, each ``check(factory)`` with a factory
that takes no arguments and returns a new, empty key store."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ddbes.shredding.ports import KeyStore, SubjectKey
from ddbes.testing._assertions import raises as _raises

__all__ = ["KEY_STORE_CHECKS"]


def _key(subject_id: str, *, wrapping: str = "") -> SubjectKey:
    return SubjectKey(
        subject_id=subject_id,
        key_id=os.urandom(12).hex(),
        material=os.urandom(32),
        wrapping=wrapping,
    )


def check_a_created_key_reads_back_exactly(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    assert store.get("s-1") is None
    key = SubjectKey(
        subject_id="s-1", key_id="k1", material=b"\x00\xff" * 16 + b"\x00", wrapping="kms:alias/x"
    )
    assert store.create(key) == key
    assert store.get("s-1") == key
    assert store.get("s-2") is None


def check_the_first_key_of_a_subject_wins(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    first = _key("s")
    assert store.create(first) == first
    second = _key("s")
    assert store.create(second) == first
    assert store.get("s") == first


def check_concurrent_creates_store_one_key(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    candidates = [_key("racer") for _ in range(8)]
    results: list[SubjectKey] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(candidates))

    def create(key: SubjectKey) -> None:
        start.wait()
        try:
            results.append(store.create(key))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(key,)) for key in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len({r.key_id for r in results}) == 1, results
    assert results[0] in candidates
    assert store.get("racer") == results[0]


def check_delete_forgets_and_a_new_key_follows(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    old = store.create(_key("s"))
    store.create(_key("other"))
    store.delete("s")
    assert store.get("s") is None
    store.delete("s")
    store.delete("never-had-one")
    assert store.get("other") is not None
    new = store.create(_key("s"))
    assert new.key_id != old.key_id
    assert store.get("s") == new


def check_subject_ids_never_collide(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    names = ["a", "a#1", "a:5", "a.b", "a/b", "A", "ä", "a ", "x#s#a", "🔑", "a" * 1024]
    keys = {name: store.create(_key(name)) for name in names}
    for name in names:
        assert store.get(name) == keys[name], name
    store.delete("a")
    assert [name for name in names if store.get(name) is None] == ["a"]


def _refuses_subject(store: KeyStore, odd: Any) -> None:
    _raises(ValueError, lambda: store.get(odd))
    _raises(ValueError, lambda: store.delete(odd))
    _raises(ValueError, lambda: store.add_aggregate(odd, "T", "k"))
    _raises(ValueError, lambda: list(store.aggregates(odd)))
    _raises(ValueError, lambda: store.create(SubjectKey(subject_id=odd, key_id="k", material=b"m")))


def check_invalid_subject_ids_are_refused(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    bad: list[object] = [42, None, "", "\ud800", "a" * 1025, "é" * 513]
    for subject in bad:
        _refuses_subject(store, subject)
    _raises(ValueError, lambda: store.create(SubjectKey(subject_id="s", key_id="", material=b"m")))
    _raises(ValueError, lambda: store.create(SubjectKey(subject_id="s", key_id="k", material=b"")))
    _raises(ValueError, lambda: store.add_aggregate("s", "", "k"))
    _raises(ValueError, lambda: store.add_aggregate("s", "T", ""))
    _raises(ValueError, lambda: store.add_aggregate("s", "T", "k" * 1025))
    _raises(ValueError, lambda: store.add_aggregate("s", "T" * 1100, "k" * 1000))
    _raises(ValueError, lambda: store.add_aggregate("s", "T", "\ud800"))
    store.add_aggregate("s", "T" * 1016, "k" * 1024)  # the longest aggregate id a commit has
    assert list(store.aggregates("s")) == [("T" * 1016, "k" * 1024)]
    assert list(store.subjects("T" * 1016, "k" * 1024)) == ["s"]
    assert store.get("s") is None


def check_the_aggregate_index_reads_both_ways(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    store.add_aggregate("s1", "Customer", "c1")
    store.add_aggregate("s1", "Order", "o#2")
    store.add_aggregate("s1", "Order", "o#1")
    store.add_aggregate("s1", "Order", "o#1")
    store.add_aggregate("s2", "Order", "o#1")
    store.add_aggregate("s1#x", "Order", "o")
    assert list(store.aggregates("s1")) == [("Customer", "c1"), ("Order", "o#1"), ("Order", "o#2")]
    assert list(store.aggregates("s2")) == [("Order", "o#1")]
    assert list(store.aggregates("s3")) == []
    assert list(store.subjects("Order", "o#1")) == ["s1", "s2"]
    assert list(store.subjects("Order", "o")) == ["s1#x"]
    assert list(store.subjects("Order#o", "1")) == []
    assert list(store.subjects("Nothing", "x")) == []


def check_the_index_survives_forgetting(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    store.create(_key("s"))
    store.add_aggregate("s", "Customer", "c1")
    store.delete("s")
    assert list(store.aggregates("s")) == [("Customer", "c1")]
    assert list(store.subjects("Customer", "c1")) == ["s"]


def check_a_long_index_reads_whole(factory: Callable[[], KeyStore]) -> None:
    store = factory()
    keys = [f"{i:04d}-" + "k" * 900 for i in range(20)]
    for key in keys:
        store.add_aggregate("s", "T", key)
        store.add_aggregate(f"subject-{key[:4]}-" + "s" * 900, "Wide", "w")
    assert list(store.aggregates("s")) == [("T", key) for key in keys]
    assert len(list(store.subjects("Wide", "w"))) == 20


KEY_STORE_CHECKS: dict[str, Callable[[Callable[[], KeyStore]], None]] = {
    name.removeprefix("check_"): check
    for name, check in list(globals().items())
    if name.startswith("check_")
}
"""Every check of the key store port."""

"""The shredder: encrypts personal data on the way in, decrypts it on the way out, forgets.

It is the one object that holds a process's keys (a :class:`~ddbes.shredding.KeyStore` and a
bounded cache of unwrapped keys) and the policy; the encrypting stores it makes share them, so
that :meth:`Shredder.forget` takes effect in all of them at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ddbes._validation import check_commit
from ddbes.errors import InvalidEvent, SnapshotUnreadable
from ddbes.model import Commit, Event, Snapshot
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.shredding import _cipher
from ddbes.shredding._commits import with_events
from ddbes.shredding._keyring import Keyring
from ddbes.shredding.commit_store import EncryptingCommitStore
from ddbes.shredding.errors import CiphertextUnreadable
from ddbes.shredding.policy import ERASED, ShreddingPolicy
from ddbes.shredding.ports import KeyStore, KeyWrapper, check_subject_id
from ddbes.shredding.snapshot_store import EncryptingSnapshotStore, EncryptingTipSnapshotStore
from ddbes.snapshot_tip import TipSnapshotStore

__all__ = ["Shredder"]

logger = logging.getLogger("ddbes.shredding")


def _describe(commit: Commit) -> str:
    return f"commit {commit.commit_id} of {commit.aggregate_id} at version {commit.version}"


class Shredder:
    """Crypto-shredding of personal data in events: see ``docs/erasure.md``.

    ::

        shredder = Shredder(keys=DynamoDBKeyStore("ddbes-keys"),
                            policy=ShreddingPolicy.from_aggregates(Customer))
        commits = shredder.commit_store(DynamoDBCommitStore("ddbes"))
        snapshots = shredder.snapshot_store(DynamoDBSnapshotStore(...))
        ddbes.config.update(commit_store=commits, snapshot_store=snapshots)
        ...
        shredder.forget("customer-42")

    Args:
        keys: where the subjects' data keys live.
        policy: which fields of which events are personal data, and whose.
        wrapper: wraps data keys before they are stored (envelope encryption with KMS:
            :class:`ddbes_dynamodb.KMSKeyWrapper`); ``None`` stores them as they are.
        placeholder: what a forgotten subject's personal fields read as (default
            ``"<erased>"``).
        cache_size: how many unwrapped keys this process keeps (least recently used go).
        cache_ttl: how many seconds a cached key is used before the key store is asked again:
            how long another process's :meth:`forget` may take to reach this one.
    """

    def __init__(
        self,
        *,
        keys: KeyStore,
        policy: ShreddingPolicy,
        wrapper: KeyWrapper | None = None,
        placeholder: object = ERASED,
        cache_size: int = 10_000,
        cache_ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(policy, ShreddingPolicy):
            raise TypeError(f"policy must be a ShreddingPolicy, not {type(policy).__name__}")
        self.keys = keys
        self.policy = policy
        self.placeholder = placeholder
        self.keyring = Keyring(
            keys, wrapper=wrapper, cache_size=cache_size, cache_ttl=cache_ttl, monotonic=monotonic
        )
        self._indexed: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._index_lock = threading.Lock()
        self._snapshot_stores: list[SnapshotStore] = []

    def __repr__(self) -> str:
        return f"Shredder(keys={self.keys!r})"

    # ------------------------------------------------------------------ the stores

    def commit_store(self, inner: CommitStore) -> CommitStore:
        """``inner`` seen through this shredder: an
        :class:`~ddbes.shredding.EncryptingCommitStore`."""
        return EncryptingCommitStore(inner, self)

    def snapshot_store(self, inner: SnapshotStore) -> SnapshotStore:
        """``inner`` seen through this shredder: an
        :class:`~ddbes.shredding.EncryptingSnapshotStore` (an ``EncryptingTipSnapshotStore``
        over a tip store, which keeps its one-read loads); :meth:`forget` deletes the
        forgotten subject's snapshots from it."""
        if isinstance(inner, TipSnapshotStore):
            return EncryptingTipSnapshotStore(inner, self)
        return EncryptingSnapshotStore(inner, self)

    def _serve_snapshots(self, inner: SnapshotStore) -> None:
        if all(store is not inner for store in self._snapshot_stores):
            self._snapshot_stores.append(inner)

    # ------------------------------------------------------------------ forgetting

    def forget(self, subject_id: str) -> tuple[str, ...]:
        """Erase a data subject: delete its data key, then the snapshots of every aggregate
        that holds its data (in the snapshot stores this shredder made).

        From then on its personal fields read as the placeholder everywhere this process
        reads them, and in other processes within ``cache_ttl``. Idempotent: run it again
        after an error.

        Returns:
            The ids (``"Type:key"``) of the aggregates that held the subject's data.

        Raises:
            ValueError: ``subject_id`` is not a valid subject id.
            StoreUnavailable, ConfigurationError: from the key store or a snapshot store;
                what was done stays done, so retry.
        """
        self.keyring.forget(subject_id)
        touched = list(self.keys.aggregates(subject_id))
        for aggregate_type, aggregate_key in touched:
            for store in self._snapshot_stores:
                store.delete(aggregate_type, aggregate_key)
        logger.info("forgot subject %r (%d aggregates)", subject_id, len(touched))
        return tuple(f"{t}:{k}" for t, k in touched)

    # ------------------------------------------------------------------ commits

    def seal_commit(self, commit: Commit) -> tuple[Commit, tuple[str, ...]]:
        """``commit`` with its personal data encrypted, and the subjects it names; the commit
        itself when it holds none.

        Raises:
            InvalidEvent: an event lacks its subject, or its subject id is not a valid one;
                or it already holds a ``"ddbes:pii"`` field.
            ValueError: the commit is malformed (as :meth:`CommitStore.append` says).
            StoreUnavailable, ConfigurationError: the key store failed; nothing was written.
        """
        check_commit(commit)
        if not self.policy.covers(commit.aggregate_type):
            self._refuse_envelopes(commit)
            return commit, ()
        aggregate = (commit.aggregate_type, commit.aggregate_key, commit.version)
        sealed: list[Event] = []
        subjects: list[str] = []
        for index, event in enumerate(commit.events):
            if _cipher.ENVELOPE in event:
                raise self._invalid(commit, index, f"holds the reserved field {_cipher.ENVELOPE!r}")
            rule = self.policy.rule(commit.aggregate_type, event["type"])
            fields = rule.personal_fields(event) if rule is not None else ()
            if rule is None or not fields:
                sealed.append(event)
                continue
            try:
                subject = rule.subject_of(event)
            except KeyError as exc:
                raise self._invalid(commit, index, f"has no subject field {exc}") from None
            except Exception as exc:
                raise self._invalid(commit, index, f"has no subject: {exc!r}") from exc
            try:
                subject_id = check_subject_id(subject)
            except ValueError as exc:
                raise self._invalid(commit, index, f"has an invalid subject: {exc}") from None
            key_id, key = self.keyring.for_writing(subject_id)
            try:
                sealed.append(
                    _cipher.seal_event(
                        event,
                        fields,
                        subject_id=subject_id,
                        key_id=key_id,
                        key=key,
                        aggregate=aggregate,
                        index=index,
                    )
                )
            except (TypeError, ValueError) as exc:
                raise self._invalid(commit, index, f"holds what JSON cannot: {exc}") from None
            if subject_id not in subjects:
                subjects.append(subject_id)
        if not subjects:
            return commit, ()
        return with_events(commit, tuple(sealed)), tuple(subjects)

    def _refuse_envelopes(self, commit: Commit) -> None:
        for index, event in enumerate(commit.events):
            if _cipher.ENVELOPE in event:
                raise self._invalid(commit, index, f"holds the reserved field {_cipher.ENVELOPE!r}")

    @staticmethod
    def _invalid(commit: Commit, index: int, what: str) -> InvalidEvent:
        event_type = commit.events[index].get("type")
        return InvalidEvent(
            f"event {index} ({event_type}) of {_describe(commit)} {what}; nothing was written"
        )

    def index(self, subjects: Iterable[str], aggregate_type: str, aggregate_key: str) -> None:
        """Record in the key store that the aggregate holds the subjects' data (once per
        process for each pair, as far as the bounded memory of it goes)."""
        for subject_id in subjects:
            entry = (subject_id, aggregate_type, aggregate_key)
            with self._index_lock:
                if entry in self._indexed:
                    self._indexed.move_to_end(entry)
                    continue
            self.keys.add_aggregate(subject_id, aggregate_type, aggregate_key)
            with self._index_lock:
                self._indexed[entry] = None
                while len(self._indexed) > max(self.keyring.cache_size, 1_000):
                    self._indexed.popitem(last=False)

    def open_commit(self, commit: Commit, *, cached_only: bool = False) -> Commit | None:
        """``commit`` with its personal data decrypted, or the placeholder for forgotten
        subjects; the commit itself when it holds none. With ``cached_only``, ``None`` when
        a key is not in the cache (no I/O).

        Raises:
            CiphertextUnreadable: an envelope is damaged or its ciphertext does not decrypt,
                naming the commit and event.
            StoreUnavailable, ConfigurationError: the key store failed.
        """
        events = commit.events
        if not any(_cipher.ENVELOPE in event for event in events):
            return commit
        aggregate = (commit.aggregate_type, commit.aggregate_key, commit.version)
        opened: list[Event] = []
        for index, event in enumerate(events):
            if _cipher.ENVELOPE not in event:
                opened.append(event)
                continue
            try:
                envelope = _cipher.parse_envelope(event[_cipher.ENVELOPE])
                key = self._key_for(envelope.subject_id, envelope.key_id, cached_only)
                if key is _MISSING:
                    return None
                opened.append(
                    _cipher.open_event(
                        event,
                        envelope,
                        key if isinstance(key, bytes) else None,
                        aggregate=aggregate,
                        index=index,
                        placeholder=self.placeholder,
                    )
                )
            except _cipher.Unreadable as exc:
                raise CiphertextUnreadable(
                    f"event {index} ({event.get('type')}) of {_describe(commit)} cannot be "
                    f"decrypted: {exc}",
                    where=f"{commit.aggregate_id} version {commit.version} event {index}",
                    position=commit.position,
                ) from None
        return with_events(commit, tuple(opened))

    def _key_for(self, subject_id: str, key_id: str, cached_only: bool) -> object:
        if not cached_only:
            return self.keyring.for_reading(subject_id, key_id)
        if self.keyring.known_forgotten(subject_id, key_id):
            return None
        cached = self.keyring.cached_key(subject_id, key_id)
        return cached if cached is not None else _MISSING

    # ------------------------------------------------------------------ snapshots

    def seal_snapshot(self, snapshot: Snapshot) -> Snapshot | None:
        """``snapshot`` with its state encrypted under the keys of every subject whose data
        its aggregate holds; itself when there is none; ``None`` when it must not be stored
        (a subject of the aggregate was forgotten while this process may have built the
        state from its plaintext).

        Raises:
            ValueError: the state is not JSON-compatible.
            StoreUnavailable, ConfigurationError: the key store failed.
        """
        if not self.policy.covers(snapshot.aggregate_type):
            return snapshot
        keys: list[tuple[str, str, bytes]] = []
        for subject_id in self.keys.subjects(snapshot.aggregate_type, snapshot.aggregate_key):
            current = self.keyring.current(subject_id)
            if current is None:
                if self.keyring.read_recently(subject_id):
                    return None
                continue
            keys.append((subject_id, current[0], current[1]))
        if not keys:
            return snapshot
        state = _cipher.seal_state(
            snapshot.state,
            keys,
            aggregate=(snapshot.aggregate_type, snapshot.aggregate_key, snapshot.version),
        )
        return _with_state(snapshot, state)

    def open_snapshot(self, snapshot: Snapshot) -> Snapshot | None:
        """``snapshot`` with its state decrypted; ``None`` when a subject it is encrypted for
        was forgotten (the snapshot is void).

        Raises:
            SnapshotUnreadable: the encrypted state is damaged (a load then replays).
            StoreUnavailable, ConfigurationError: the key store failed.
        """
        where = (snapshot.aggregate_type, snapshot.aggregate_key, snapshot.version)
        try:
            envelope = _cipher.parse_state_envelope(snapshot.state)
            if envelope is None:
                return snapshot
            keys: list[bytes] = []
            for subject_id, key_id in envelope.subjects:
                key = self.keyring.for_reading(subject_id, key_id)
                if key is None:
                    return None
                keys.append(key)
            state = _cipher.open_state(envelope, keys, aggregate=where)
        except _cipher.Unreadable as exc:
            raise SnapshotUnreadable(
                f"the snapshot of {snapshot.aggregate_id} at version {snapshot.version} "
                f"cannot be decrypted: {exc}"
            ) from None
        return _with_state(snapshot, state)


_MISSING: Any = object()


def _with_state(snapshot: Snapshot, state: Any) -> Snapshot:
    return Snapshot(
        aggregate_type=snapshot.aggregate_type,
        aggregate_key=snapshot.aggregate_key,
        version=snapshot.version,
        state=state,
        head_commit_id=snapshot.head_commit_id,
        head_committed_at=snapshot.head_committed_at,
        checksum=snapshot.checksum,
    )

"""The ports of crypto-shredding: where subjects' data keys live, and how they are wrapped.

A :class:`KeyStore` holds one data key per data subject and an index of the aggregates whose
events hold each subject's personal data. Deleting a subject's key (:meth:`KeyStore.delete`)
is what erases the subject: every ciphertext made with it becomes unreadable. A
:class:`KeyWrapper` (optional) encrypts data keys before they are stored, so that the key store
alone cannot decrypt anything: :class:`ddbes_dynamodb.KMSKeyWrapper` wraps them with an AWS KMS
key (envelope encryption).

The contract suite of :class:`KeyStore` is :data:`ddbes.testing.contracts.KEY_STORE_CHECKS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from ddbes._validation import MAX_KEY_BYTES, MAX_TYPE_AND_KEY_BYTES

__all__ = [
    "KeyStore",
    "KeyWrapper",
    "SubjectKey",
    "check_aggregate",
    "check_key",
    "check_subject_id",
]

MAX_SUBJECT_ID_BYTES = 1024
"""The longest subject id, in UTF-8 bytes (DynamoDB's limit for a key attribute, with room)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubjectKey:
    """A data subject's data key, as a key store holds it.

    ``key_id`` names this key (random, never reused): ciphertexts record it, so a ciphertext
    made with a forgotten key is recognised even after the subject gets a new one.
    ``material`` is the key itself (32 bytes) when ``wrapping`` is ``""``, else the key as
    wrapped by the :class:`KeyWrapper` whose :attr:`~KeyWrapper.name` is ``wrapping``.
    """

    subject_id: str
    key_id: str
    material: bytes
    wrapping: str = ""


def check_subject_id(subject_id: object) -> str:
    """``subject_id`` if it is a valid subject id: a non-empty string of valid Unicode, at most
    1024 UTF-8 bytes.

    Raises:
        ValueError: it is not.
    """
    if not isinstance(subject_id, str) or not subject_id:
        raise ValueError(f"a subject id must be a non-empty string, got {subject_id!r}")
    try:
        size = len(subject_id.encode())
    except UnicodeEncodeError as exc:
        raise ValueError(f"subject id {subject_id!r} is not valid Unicode: {exc}") from None
    if size > MAX_SUBJECT_ID_BYTES:
        raise ValueError(
            f"subject id {subject_id[:40]!r}... has {size} UTF-8 bytes; "
            f"at most {MAX_SUBJECT_ID_BYTES} are allowed"
        )
    return subject_id


def check_key(key: SubjectKey) -> None:
    """Refuse a key that no key store may hold: every key store checks this before writing.

    Raises:
        ValueError: an invalid subject id, an empty key id or key, or a non-string wrapping.
    """
    check_subject_id(key.subject_id)
    if not isinstance(key.key_id, str) or not key.key_id:
        raise ValueError(f"a key id must be a non-empty string, got {key.key_id!r}")
    if not isinstance(key.material, bytes) or not key.material:
        raise ValueError("key material must be non-empty bytes")
    if not isinstance(key.wrapping, str):
        raise ValueError(f"a key's wrapping must be a string, got {key.wrapping!r}")


def check_aggregate(aggregate_type: str, aggregate_key: str) -> None:
    """Refuse an aggregate id that no commit can have (the commit stores' limits): every key
    store checks this in :meth:`KeyStore.add_aggregate`.

    Raises:
        ValueError: an empty or invalid type or key, or one over the limits.
    """
    sizes = []
    for label, value in (("aggregate_type", aggregate_type), ("aggregate_key", aggregate_key)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
        try:
            sizes.append(len(value.encode()))
        except UnicodeEncodeError:
            raise ValueError(f"{label} {value[:40]!r} is not valid Unicode") from None
    if sizes[1] > MAX_KEY_BYTES or sum(sizes) > MAX_TYPE_AND_KEY_BYTES:
        raise ValueError(
            f"aggregate {aggregate_type[:40]!r}:{aggregate_key[:40]!r} is over the limits of an "
            f"aggregate id ({MAX_KEY_BYTES} bytes of key, {MAX_TYPE_AND_KEY_BYTES} of type and "
            "key): no commit can have it"
        )


class KeyStore(ABC):
    """Data subjects' data keys, and which aggregates hold each subject's personal data.

    Guarantees every implementation gives:

    * **One key per subject at a time, created once.** :meth:`create` stores a key only when the
      subject has none (a conditional write): when several writers create a subject's first key
      at once, exactly one key is stored, and every writer gets that one back.
    * **Deleting is forgetting.** After :meth:`delete` returns, :meth:`get` returns ``None``
      for the subject in every process (reads are strongly consistent); a later :meth:`create`
      stores a *new* key, with a new ``key_id``.
    * **The index survives forgetting.** :meth:`add_aggregate` records that an aggregate holds
      a subject's data; :meth:`aggregates` and :meth:`subjects` read that both ways, with or
      without a key, so that a forgotten subject's snapshots can still be found and invalidated.

    Every method validates ``subject_id`` with :func:`check_subject_id` and raises
    ``ValueError`` for an invalid one before any I/O.
    """

    @abstractmethod
    def get(self, subject_id: str) -> SubjectKey | None:
        """The subject's current key, or ``None`` when it has none (never had, or forgotten).

        Raises:
            ValueError: an invalid ``subject_id``.
            StoreUnavailable: the backend failed or cannot be reached.
            ConfigurationError: the backing table does not exist, or access is refused.
        """

    @abstractmethod
    def create(self, key: SubjectKey) -> SubjectKey:
        """Store ``key`` as its subject's key, unless the subject has one already.

        Returns:
            The subject's key: ``key`` when it was stored, else the key stored before it
            (another writer won the race); never two different keys for one subject.

        Raises:
            ValueError: an invalid ``subject_id``, an empty ``key_id`` or ``material``.
            StoreUnavailable, ConfigurationError: as for :meth:`get`; the key may or may not
                have been stored, so call :meth:`get` or :meth:`create` again.
        """

    @abstractmethod
    def delete(self, subject_id: str) -> None:
        """Delete the subject's key (forget the subject); no error when it has none.

        The index (:meth:`aggregates`) is kept.

        Raises:
            ValueError: an invalid ``subject_id``.
            StoreUnavailable, ConfigurationError: as for :meth:`get`; retry: it is idempotent.
        """

    @abstractmethod
    def add_aggregate(self, subject_id: str, aggregate_type: str, aggregate_key: str) -> None:
        """Record that aggregate ``(aggregate_type, aggregate_key)`` holds data of the subject.
        Recording it again is a no-op.

        Raises:
            ValueError: an invalid ``subject_id``, or an empty type or key.
            StoreUnavailable, ConfigurationError: as for :meth:`get`.
        """

    @abstractmethod
    def aggregates(self, subject_id: str) -> Iterator[tuple[str, str]]:
        """Every ``(aggregate_type, aggregate_key)`` recorded for the subject, each once, sorted.

        Raises:
            ValueError: an invalid ``subject_id``.
            StoreUnavailable, ConfigurationError: as for :meth:`get`.
        """

    @abstractmethod
    def subjects(self, aggregate_type: str, aggregate_key: str) -> Iterator[str]:
        """Every subject recorded for the aggregate, each once, sorted.

        Raises:
            StoreUnavailable, ConfigurationError: as for :meth:`get`.
        """


class KeyWrapper(ABC):
    """Encrypts data keys before a :class:`KeyStore` stores them (envelope encryption)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """What :attr:`SubjectKey.wrapping` records for keys this wrapper wrapped (for example
        ``"kms:<key id>"``); it must not change for the life of the keys."""

    @abstractmethod
    def wrap(self, material: bytes, subject_id: str) -> bytes:
        """``material`` encrypted, bound to ``subject_id``.

        Raises:
            StoreUnavailable: the wrapping service failed or cannot be reached.
            ConfigurationError: the wrapping key does not exist or may not be used.
        """

    @abstractmethod
    def unwrap(self, wrapped: bytes, subject_id: str) -> bytes:
        """The inverse of :meth:`wrap`, for the same ``subject_id``.

        Raises:
            CiphertextUnreadable: ``wrapped`` is damaged or was wrapped for another subject.
            StoreUnavailable, ConfigurationError: as for :meth:`wrap`.
        """

"""Erasure by crypto-shredding: personal data in events, encrypted with a key per data subject,
made unreadable for good by deleting that key. See ``docs/erasure.md``.

::

    from ddbes.shredding import InMemoryKeyStore, PersonalData, Shredder, ShreddingPolicy

    class Customer(Aggregate):
        personal_data = {"CustomerRegistered": PersonalData(subject="customer_id",
                                                            fields=("name", "email"))}

    shredder = Shredder(keys=InMemoryKeyStore(), policy=ShreddingPolicy.from_aggregates(Customer))
    ddbes.config.update(commit_store=shredder.commit_store(InMemoryCommitStore()))
    ...
    shredder.forget("c-42")      # its name and e-mail now read "<erased>", everywhere

Needs the ``cryptography`` package: ``pip install "ddbes-core[shredding]"`` (imported on first
use: everything here imports without it).
"""

from ddbes.shredding.async_commit_store import AsyncEncryptingCommitStore
from ddbes.shredding.commit_store import EncryptingCommitStore
from ddbes.shredding.errors import CiphertextUnreadable
from ddbes.shredding.memory import InMemoryKeyStore
from ddbes.shredding.policy import ERASED, WHOLE_EVENT, PersonalData, ShreddingPolicy
from ddbes.shredding.ports import KeyStore, KeyWrapper, SubjectKey
from ddbes.shredding.shredder import Shredder
from ddbes.shredding.snapshot_store import EncryptingSnapshotStore, EncryptingTipSnapshotStore

__all__ = [
    "ERASED",
    "WHOLE_EVENT",
    "AsyncEncryptingCommitStore",
    "CiphertextUnreadable",
    "EncryptingCommitStore",
    "EncryptingSnapshotStore",
    "EncryptingTipSnapshotStore",
    "InMemoryKeyStore",
    "KeyStore",
    "KeyWrapper",
    "PersonalData",
    "Shredder",
    "ShreddingPolicy",
    "SubjectKey",
]

"""The error crypto-shredding adds to :mod:`ddbes.errors`."""

from __future__ import annotations

from ddbes.errors import CorruptItem, StoreError

__all__ = ["CiphertextUnreadable"]


class CiphertextUnreadable(CorruptItem):
    """Encrypted personal data cannot be decrypted although its key exists: the ciphertext or
    its envelope was altered, moved to another aggregate, version or event, or written by
    something that is not ddbes. A forgotten subject's data is never this error: it reads as
    the placeholder.

    A :class:`~ddbes.errors.CorruptItem`: ``position`` is the commit's log position when it is
    known, so a stream server skips exactly that log entry (and logs it) instead of stalling.
    """

    def __init__(self, message: str, *, where: str = "", position: int | None = None) -> None:
        self.store = "encrypted personal data"
        self.key = where
        self.problem = message
        self.position = position
        StoreError.__init__(self, message)

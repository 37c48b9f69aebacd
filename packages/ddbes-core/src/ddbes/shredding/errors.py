"""The error crypto-shredding adds to :mod:`ddbes.errors`."""

from __future__ import annotations

from ddbes.errors import DdbesError

__all__ = ["CiphertextUnreadable"]


class CiphertextUnreadable(DdbesError):
    """Encrypted personal data cannot be decrypted although its key exists: the ciphertext or
    its envelope was altered, moved to another aggregate, version or event, or written by
    something that is not ddbes. A forgotten subject's data is never this error: it reads as
    the placeholder."""

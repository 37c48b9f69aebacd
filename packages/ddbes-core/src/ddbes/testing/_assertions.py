"""What the contract checks share."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["raises"]


def raises(error: type[BaseException], action: Callable[[], object]) -> BaseException:
    """The exception ``action()`` raised, which must be an ``error``; else ``AssertionError``."""
    try:
        action()
    except error as exc:
        return exc
    raise AssertionError(f"expected {error.__name__}")

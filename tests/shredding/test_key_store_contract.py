"""The key store contract, on every key store adapter."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ddbes.shredding import KeyStore
from ddbes.testing.contracts import KEY_STORE_CHECKS


@pytest.mark.parametrize("check", KEY_STORE_CHECKS.values(), ids=KEY_STORE_CHECKS.keys())
def test_key_store_contract(
    check: Callable[[Callable[[], KeyStore]], None], key_store_factory: Callable[[], KeyStore]
) -> None:
    check(key_store_factory)

"""Argument types the commands share: checked by argparse, so a bad value exits with code 2."""

from __future__ import annotations

import argparse

__all__ = ["port_number", "positive_int"]


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def port_number(text: str) -> int:
    """A TCP port: 0 (any free one) to 65535."""
    port = _integer(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0 (any free port) to 65535")
    return port


def positive_int(text: str) -> int:
    """A whole number of 1 or more."""
    number = _integer(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not allowed: use 1 or more")
    return number

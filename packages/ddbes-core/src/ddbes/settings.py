"""Process-wide configuration: the lowest of the three levels (config, class, ``using()``)."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ddbes.clock import SystemClock
from ddbes.errors import ConfigurationError

__all__ = ["DEFAULT_COMMIT_TIMEOUT", "OPTION_NAMES", "Settings", "config", "validate_options"]

OPTION_NAMES = frozenset(
    {
        "commit_store",
        "snapshot_store",
        "checkpoint_store",
        "snapshots",
        "snapshots_frequency",
        "clock",
        "logger",
        "commit_timeout",
    }
)
"""Every option name ddbes knows; any other raises ``TypeError``."""


DEFAULT_COMMIT_TIMEOUT = 20.0
"""Seconds a commit may take, its retries included: the adapters' default operation deadline."""


def _defaults() -> dict[str, Any]:
    return {
        "commit_store": None,
        "snapshot_store": None,
        "checkpoint_store": None,
        "snapshots": False,
        "snapshots_frequency": 100,
        "clock": SystemClock(),
        "logger": logging.getLogger("ddbes"),
        "commit_timeout": DEFAULT_COMMIT_TIMEOUT,
    }


def validate_options(options: Mapping[str, Any], where: str) -> None:
    """Check option names and the values that have a fixed shape.

    Raises:
        TypeError: an unknown option name.
        ValueError: ``snapshots_frequency`` is not a positive int, or ``commit_timeout`` not
            a positive number.
    """
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"{where} got unknown option(s) {', '.join(unknown)}; "
            f"known options: {', '.join(sorted(OPTION_NAMES))}"
        )
    frequency = options.get("snapshots_frequency")
    if "snapshots_frequency" in options and (
        not isinstance(frequency, int) or isinstance(frequency, bool) or frequency < 1
    ):
        raise ValueError(f"snapshots_frequency must be a positive int, got {frequency!r}")
    timeout = options.get("commit_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ValueError(f"commit_timeout must be a positive number of seconds, got {timeout!r}")
    if "snapshots" in options and not isinstance(options["snapshots"], bool):
        raise ValueError(f"snapshots must be True or False, got {options['snapshots']!r}")


class Settings:
    """ddbes's process-wide defaults: ``ddbes.config``.

    >>> import ddbes
    >>> from ddbes.memory import InMemoryCommitStore
    >>> ddbes.config.update(commit_store=InMemoryCommitStore())
    >>> ddbes.config.reset()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = _defaults()
        self._chosen: set[str] = set()  # options given to update() since the last reset()
        self._generation = 0

    @property
    def generation(self) -> int:
        """A number that changes whenever the configuration changes (for caches)."""
        return self._generation

    def update(self, **options: Any) -> None:
        """Set process-wide defaults.

        A ``snapshot_store`` given while ``snapshots`` was never set (it is off by default) warns
        (``UserWarning``): no aggregate would write snapshots unless its class or ``using()``
        turns them on. Pass ``snapshots=True`` to snapshot every aggregate, or
        ``snapshots=False`` to say that classes opt in.

        Raises:
            TypeError: an unknown option name (nothing is changed).
            ValueError: a malformed value (nothing is changed).
        """
        validate_options(options, "ddbes.config.update()")
        with self._lock:
            snapshots_chosen = "snapshots" in self._chosen or "snapshots" in options
            self._values.update(options)
            self._chosen.update(options)
            self._generation += 1
        if options.get("snapshot_store") is not None and not snapshots_chosen:
            warnings.warn(
                "ddbes.config.update(snapshot_store=...) without snapshots=True: snapshots "
                "is off (its default), so no aggregate writes snapshots unless its class or "
                "Cls.using() sets snapshots=True. Pass snapshots=True to snapshot every "
                "aggregate, or snapshots=False to let classes opt in",
                UserWarning,
                stacklevel=2,
            )

    def reset(self) -> None:
        """Restore every option to its built-in default."""
        with self._lock:
            self._values = _defaults()
            self._chosen = set()
            self._generation += 1

    def get(self, name: str) -> Any:
        """The current value of option ``name``.

        Raises:
            TypeError: an unknown option name.
        """
        if name not in OPTION_NAMES:
            raise TypeError(
                f"unknown option {name!r}; known options: {', '.join(sorted(OPTION_NAMES))}"
            )
        return self._values[name]

    def as_dict(self) -> dict[str, Any]:
        """A copy of every option's current value."""
        with self._lock:
            return dict(self._values)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.get(name)
        except TypeError as exc:
            raise AttributeError(str(exc)) from None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.as_dict().items()))
        return f"ddbes.config({shown})"


config = Settings()
"""The process-wide :class:`Settings`."""


def require_commit_store(value: Any, who: str) -> Any:
    """``value`` if it is set, else a ConfigurationError that says how to set one."""
    if value is None:
        raise ConfigurationError(
            f"{who} has no commit store: call ddbes.config.update(commit_store=...) at startup, "
            "set commit_store on the class, or use Cls.using(commit_store=...) "
            "(ddbes.memory.InMemoryCommitStore() for tests)"
        )
    return value

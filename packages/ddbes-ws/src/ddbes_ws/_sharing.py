"""Compile-and-share: connections that send identical filters share one compiled filter.

A server compiles each distinct filter once (:class:`FilterPool`), and the shared filter
remembers its answers for the last commits it was asked about (:class:`SharedFilter`), so twenty
clients with the same expensive filter cost one evaluation per commit, not twenty.
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from typing import Any

from ddbes.errors import InvalidFilter
from ddbes.filters import EventFilter, FilterLimits, compile_filters
from ddbes.model import Commit

__all__ = ["FilterPool", "SharedFilter"]

_REMEMBERED = 1024
"""Commits whose answers a shared filter keeps: about one buffer's worth of lag between twins."""


class SharedFilter:
    """A compiled filter, shared by every connection that sent the same filter sets."""

    __slots__ = ("__weakref__", "_answers", "compiled")

    def __init__(self, compiled: EventFilter) -> None:
        self.compiled = compiled
        self._answers: OrderedDict[tuple[int, int], tuple[str, list[int] | InvalidFilter]] = (
            OrderedDict()
        )

    @property
    def filter_sets(self) -> list[dict[str, Any]]:
        return self.compiled.filter_sets

    def remembered(self, p: int, commit: Commit) -> list[int] | InvalidFilter | None:
        """The answer already computed for ``commit`` (of log partition ``p``), if any."""
        answer = self._answers.get((p, commit.position or 0))
        if answer is None or answer[0] != commit.commit_id:
            return None
        return answer[1]

    def remember(self, p: int, commit: Commit, answer: list[int] | InvalidFilter) -> None:
        """Keep ``answer`` for the connections sharing this filter that come to ``commit`` later."""
        self._answers[(p, commit.position or 0)] = (commit.commit_id, answer)
        if len(self._answers) > _REMEMBERED:
            self._answers.popitem(last=False)


class FilterPool:
    """Compiles filters, handing out the same :class:`SharedFilter` for identical filter sets
    while some connection still uses it."""

    def __init__(self, limits: FilterLimits | None) -> None:
        self._limits = limits
        self._shared: weakref.WeakValueDictionary[str, SharedFilter] = weakref.WeakValueDictionary()

    def compile(self, filter_sets: object) -> SharedFilter:
        """The shared compiled filter for ``filter_sets`` (a JSON-decoded value).

        Raises:
            InvalidFilter: as :func:`ddbes.filters.compile_filters`.
        """
        try:
            key = json.dumps(filter_sets, sort_keys=True, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):  # not plain JSON: compile it alone (and let it fail)
            return SharedFilter(compile_filters(filter_sets, limits=self._limits))
        shared = self._shared.get(key)
        if shared is None:
            shared = SharedFilter(compile_filters(filter_sets, limits=self._limits))
            self._shared[key] = shared
        return shared

    def __len__(self) -> int:
        return len(self._shared)

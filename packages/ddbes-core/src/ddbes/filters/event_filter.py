"""Stream filters: which events a websocket client (or any consumer) wants to see.

The filter language is the JavaScript library's, so its examples work verbatim::

    [
        {"aggregateType": "Cart", "type": ["ItemAdded", "ItemRemoved"]},
        {"aggregateType": {"regexp": "^Customer"}},
    ]

A filter is a list of *filter sets*; an event matches when **any** set matches, and a set matches
when **all** of its keys match (``[{}]`` matches everything, ``[]`` nothing). The keys
``aggregateType``, ``aggregateKey``, ``type``, ``commitId`` and ``version`` refer to the commit and
event envelope; any other key refers to a field of the event. A value is

* a string: the field equals it;
* a list of strings, numbers and booleans: the field is one of them (``{"version": [1, 2]}``);
* ``{"regexp": pattern}``: the field is a string in which the pattern is found (like JavaScript's
  ``string.match(new RegExp(pattern))``: unanchored, no flags).

Anything else (``null``, a number, an object without ``regexp``) is an :class:`InvalidFilter`
with a message naming the set and key, where the JavaScript library silently matched nothing or
crashed.

Patterns come from untrusted clients, and Python's :mod:`re` backtracks (``(a+)+$`` takes
exponential time), so patterns run on a small engine of our own: the regular subset of
JavaScript syntax (literals, ``.``, classes, ``\\d \\w \\s`` and their negations, groups, ``|``,
``* + ? {m,n}`` greedy or lazy, ``^ $ \\b \\B``) compiled to an automaton that reads each
character once (a lazily built DFA, as RE2 does). Backreferences and lookarounds, which no such
automaton can run, are refused. The pattern length, the automaton's size and the number of
characters searched per value are bounded by :class:`FilterLimits`.

Compile once per subscription with :func:`compile_filters`, then call
:meth:`EventFilter.matches` or :meth:`EventFilter.matching_events` per commit.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ddbes.errors import InvalidFilter
from ddbes.filters._regexp import Regexp
from ddbes.model import Commit, Event

__all__ = ["DEFAULT_LIMITS", "ENVELOPE_KEYS", "EventFilter", "FilterLimits", "compile_filters"]

ENVELOPE_KEYS = frozenset({"aggregateType", "aggregateKey", "type", "commitId", "version"})
"""Filter keys that refer to the commit and event envelope rather than to an event field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterLimits:
    """Bounds on what a filter may ask for: each keeps one client from costing others.

    Attributes:
        max_sets: filter sets in one filter.
        max_keys: keys in one filter set.
        max_values: values in one list.
        max_key_length: characters in one key.
        max_pattern_length: characters in one ``regexp`` pattern.
        max_search_length: characters of a value a pattern searches; a longer value is searched
            in its first ``max_search_length`` characters only.
        max_program_size: instructions of one compiled pattern (``x{1000}`` is large).
        max_search_work: automaton construction steps one search may take (about 10 ms);
            a pattern that needs more on some value raises :class:`InvalidFilter` there.
        max_patterns: ``regexp`` values in one filter (each keeps a bounded automaton cache).
    """

    max_sets: int = 100
    max_keys: int = 32
    max_values: int = 1000
    max_key_length: int = 256
    max_pattern_length: int = 256
    max_search_length: int = 4096
    max_program_size: int = 1000
    max_search_work: int = 50_000
    max_patterns: int = 16


DEFAULT_LIMITS = FilterLimits()
"""The limits :func:`compile_filters` applies when given none."""


def compile_filters(filter_sets: object, *, limits: FilterLimits | None = None) -> EventFilter:
    """Validate ``filter_sets`` (a JSON-decoded list of dicts) and compile them.

    Raises:
        InvalidFilter: the filter is malformed or over a limit; the message says where and why.
    """
    return EventFilter(filter_sets, limits=limits)


_Getter = Callable[[Commit, Event], object]
_Test = Callable[[object], bool]
_MISSING = object()


def _envelope_getter(key: str) -> _Getter:
    if key == "aggregateType":
        return lambda commit, event: commit.aggregate_type
    if key == "aggregateKey":
        return lambda commit, event: commit.aggregate_key
    if key == "commitId":
        return lambda commit, event: commit.commit_id
    if key == "version":
        return lambda commit, event: commit.version
    return lambda commit, event: event.get(key, _MISSING)


class EventFilter:
    """A compiled, validated filter: build it with :func:`compile_filters`.

    Attributes:
        filter_sets: a deep copy of the filter as given (JSON-compatible).
    """

    __slots__ = ("_sets", "filter_sets")

    def __init__(self, filter_sets: object, *, limits: FilterLimits | None = None) -> None:
        limits = limits or DEFAULT_LIMITS
        if not isinstance(filter_sets, (list, tuple)):
            raise InvalidFilter(
                f"a filter must be a list of filter sets (objects), not {_kind(filter_sets)}"
            )
        if len(filter_sets) > limits.max_sets:
            raise InvalidFilter(
                f"a filter has {len(filter_sets)} filter sets, over the limit of {limits.max_sets}"
            )
        sets: list[tuple[tuple[_Getter, _Test], ...]] = []
        patterns = sum(
            1
            for filter_set in filter_sets
            if isinstance(filter_set, Mapping)
            for value in filter_set.values()
            if isinstance(value, Mapping)
        )
        if patterns > limits.max_patterns:
            raise InvalidFilter(
                f"a filter has {patterns} regexp values, over the limit of {limits.max_patterns}"
            )
        for index, filter_set in enumerate(filter_sets):
            if not isinstance(filter_set, Mapping):
                raise InvalidFilter(
                    f"filter set {index} must be an object, not {_kind(filter_set)}"
                )
            if len(filter_set) > limits.max_keys:
                raise InvalidFilter(
                    f"filter set {index} has {len(filter_set)} keys, over the limit of "
                    f"{limits.max_keys}"
                )
            tests: list[tuple[_Getter, _Test]] = []
            for key, value in filter_set.items():
                where = f"filter set {index}, key {str(key)[:64]!r}"
                if not isinstance(key, str):
                    raise InvalidFilter(f"{where}: keys must be strings")
                if len(key) > limits.max_key_length:
                    raise InvalidFilter(
                        f"{where}: the key is over {limits.max_key_length} characters"
                    )
                tests.append((_envelope_getter(key), _value_test(value, where, limits)))
            sets.append(tuple(tests))
        self._sets = tuple(sets)
        self.filter_sets: list[dict[str, Any]] = [dict(s) for s in copy.deepcopy(list(filter_sets))]

    @property
    def matches_everything(self) -> bool:
        """True when some filter set is empty (``{}``)."""
        return any(not tests for tests in self._sets)

    def matches(self, commit: Commit, event: Event) -> bool:
        """Whether ``event`` (one of ``commit``'s events) matches the filter.

        Raises:
            InvalidFilter: a pattern needed more than ``max_search_work`` on this event's value.
        """
        for tests in self._sets:
            for getter, test in tests:
                if not test(getter(commit, event)):
                    break
            else:
                return True
        return False

    def matching_events(self, commit: Commit) -> list[int]:
        """The indexes of ``commit``'s events that match, in order."""
        return [index for index, event in enumerate(commit.events) if self.matches(commit, event)]

    def __repr__(self) -> str:
        return f"EventFilter({self.filter_sets!r})"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


def _value_test(value: object, where: str, limits: FilterLimits) -> _Test:
    if isinstance(value, str):
        return lambda field: type(field) is str and field == value
    if isinstance(value, (list, tuple)):
        return _member_test(value, where, limits)
    if isinstance(value, Mapping):
        if set(value) != {"regexp"}:
            raise InvalidFilter(
                f'{where}: an object value must be {{"regexp": pattern}} and nothing else, '
                f"got keys {sorted(map(str, value))[:8]}"
            )
        pattern = value["regexp"]
        if not isinstance(pattern, str) or not pattern:
            raise InvalidFilter(f"{where}: regexp must be a non-empty string, not {_kind(pattern)}")
        search = Regexp(
            pattern,
            max_length=limits.max_pattern_length,
            max_program_size=limits.max_program_size,
            max_search_length=limits.max_search_length,
            max_search_work=limits.max_search_work,
            where=where,
        ).search
        return lambda field: type(field) is str and search(field)
    hint = f" (use [{value}] to match the number {value})" if type(value) in (int, float) else ""
    raise InvalidFilter(
        f'{where}: a value must be a string, a list, or {{"regexp": pattern}}, '
        f"not {_kind(value)}{hint}"
    )


def _member_test(values: Sequence[object], where: str, limits: FilterLimits) -> _Test:
    if len(values) > limits.max_values:
        raise InvalidFilter(f"{where}: the list has {len(values)} values, over {limits.max_values}")
    strings: set[str] = set()
    numbers: set[float] = set()
    booleans: set[bool] = set()
    for item in values:
        if type(item) is str:
            strings.add(item)
        elif type(item) is bool:
            booleans.add(item)
        elif type(item) is int or (type(item) is float and math.isfinite(item)):
            numbers.add(item)  # ints are never infinite (10**400 is too big for math.isfinite)
        else:
            raise InvalidFilter(
                f"{where}: list values must be strings, finite numbers or booleans, "
                f"not {_kind(item)}"
            )

    def test(field: object) -> bool:
        kind = type(field)
        if kind is str:
            return field in strings
        if kind is bool:
            return field in booleans
        if kind is int or kind is float:
            return field in numbers
        return False

    return test

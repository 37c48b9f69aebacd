"""The filters wing: which events a stream consumer wants to see (see
:mod:`ddbes.filters.event_filter` for the filter language)."""

from ddbes.filters.event_filter import (
    DEFAULT_LIMITS,
    ENVELOPE_KEYS,
    EventFilter,
    FilterLimits,
    compile_filters,
)

__all__ = ["DEFAULT_LIMITS", "ENVELOPE_KEYS", "EventFilter", "FilterLimits", "compile_filters"]

"""Testing aids that ship with ddbes: a manual clock and the adapters' contract suites.

``ddbes.testing.contracts`` holds one contract suite per port; run them against your own
adapter to prove it keeps the port's promises (see its docstring).
"""

from ddbes.testing.clock import ManualClock

__all__ = ["ManualClock"]

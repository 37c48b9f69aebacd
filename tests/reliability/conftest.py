"""The reliability suite prints every scenario's counts at the end of the run."""

from __future__ import annotations

from typing import Any

from tests.reliability.counts import REPORTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORTS:
        return
    terminalreporter.section("reliability: counts per scenario")
    for counts in REPORTS.values():
        terminalreporter.write_line(counts.line())

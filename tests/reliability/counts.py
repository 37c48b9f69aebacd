"""What each reliability scenario saw, reconciled and reported.

Every scenario fills a :class:`Counts` and calls :func:`report`; the counts are checked
(nothing lost, nothing duplicated) and printed in pytest's terminal summary, and written to
``tests/reliability/last-run.json`` (ignored by git) so a run leaves a record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPORTS: dict[str, Counts] = {}
RECORD = Path(__file__).with_name("last-run.json")


@dataclass
class Counts:
    """Counts of one scenario. ``delivered`` maps a hop (``"projector"``, ``"ws client 3"``) to
    the commits it received; ``failures`` maps an exception name to how often writers saw it."""

    scenario: str
    attempted: int = 0
    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: str = ""

    def line(self) -> str:
        hops = ", ".join(f"{hop} {n}" for hop, n in self.delivered.items())
        failed = ", ".join(f"{name} {n}" for name, n in sorted(self.failures.items()))
        return (
            f"{self.scenario}: attempted {self.attempted}, acknowledged {self.acknowledged}, "
            f"stored {self.stored}, lost {self.lost}, duplicated {self.duplicated}"
            + (f", delivered: {hops}" if hops else "")
            + (f"; failures surfaced: {failed}" if failed else "")
            + f" ({self.seconds:.1f} s)"
            + (f" - {self.notes}" if self.notes else "")
        )


def report(counts: Counts) -> None:
    """Record ``counts`` for the summary, then assert nothing was lost or duplicated."""
    REPORTS[counts.scenario] = counts
    print(counts.line())
    existing = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    existing[counts.scenario] = asdict(counts)
    RECORD.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    assert counts.lost == 0, counts.line()
    assert counts.duplicated == 0, counts.line()

"""``ddbes projector status|reset|parked|retry|skip`` and ``ddbes replay --from-start``."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.cli.conftest import Ddbes

PROJECTIONS = """
from ddbes import Projector, RetryPolicy

handlers = {{"{kind}": lambda commit: None}}

def picky(commit):
    if commit.aggregate_key == "bad":
        raise ValueError("cannot index " + commit.aggregate_id)

poisoned = Projector(
    {{"{kind}": picky}}, name="poisoned-{kind}", on_failure="park",
    retry=RetryPolicy(max_attempts=2, initial_delay=0.001),
)
"""


def test_replay_says_it_continued_from_a_checkpoint_and_from_start_rebuilds_and_saves(
    ddbes: Ddbes, tmp_path: Path
) -> None:
    kind = f"Ops{uuid.uuid4().hex[:8]}"
    (tmp_path / "projections.py").write_text(PROJECTIONS.format(kind=kind))
    for number in range(2):
        ddbes("append", kind, f"k{number}", '{"type": "Happened"}')
    replay = ("replay", "projections:handlers", "--name", kind, "--no-progress")
    assert ddbes(*replay, cwd=tmp_path).returncode == 0
    ddbes("append", kind, "k9", '{"type": "Happened"}')

    again = ddbes(*replay, cwd=tmp_path)  # the "6 of 27", now said out loud
    assert again.returncode == 0, again.stderr
    assert "handled 1 commit(s)" in again.stdout
    assert "continued from its saved checkpoint" in again.stdout and "--from-start" in again.stdout

    status = ddbes("projector", "status", kind, "--json")
    assert status.returncode == 0, status.stderr
    head = status.json()["heads"]["0"]
    assert status.json()["positions"]["0"] == head and status.json()["caught_up"] is True

    refused = ddbes("projector", "reset", kind)
    assert refused.returncode == 2 and "without --yes" in refused.stderr
    reset = ddbes("projector", "reset", kind, "--yes", "--json")
    assert reset.json()["reset"] is True and reset.json()["positions_before"] == {"0": head}
    behind = ddbes("projector", "status", kind).stdout
    assert f"at 0/{head}" in behind and f"behind by {head} commit(s)" in behind

    fresh = ddbes(*replay, "--from-start", "--json", cwd=tmp_path)
    assert fresh.json()["handled"] == head and fresh.json()["from_start"] is True
    assert fresh.json()["positions"] == {"0": head} and fresh.json()["caught_up"] is True


def test_parked_commits_are_listed_retried_and_skipped_from_the_command_line(
    ddbes: Ddbes, tmp_path: Path
) -> None:
    kind = f"Poison{uuid.uuid4().hex[:8]}"
    name = f"poisoned-{kind}"
    (tmp_path / "projections.py").write_text(PROJECTIONS.format(kind=kind))
    for key in ("good", "bad", "bad", "good"):
        ddbes("append", kind, key, '{"type": "Happened"}')
    run = ddbes("replay", "projections:poisoned", "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "1 aggregate(s) parked" in run.stdout

    parked = ddbes("projector", "parked", name, "--json").json()
    assert [(p["aggregate_id"], p["version"], p["held"]) for p in parked] == [(f"{kind}:bad", 1, 1)]
    assert "cannot index" in parked[0]["error"]

    still = ddbes("projector", "retry", "projections:poisoned", "--json", cwd=tmp_path)
    assert still.stdout, still.stderr
    assert still.returncode == 1 and len(still.json()["still_parked"]) == 1
    fixed = ddbes(
        "projector", "skip", "projections:handlers", "--name", name,
        "--aggregate", f"{kind}:bad", cwd=tmp_path,
    )  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr
    assert "handled and unparked" in fixed.stdout
    assert ddbes("projector", "parked", name, "--json").json() == []

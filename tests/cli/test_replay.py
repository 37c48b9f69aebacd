"""``ddbes replay MODULE:PROJECTOR`` with its progress bar."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.cli.conftest import Ddbes, assert_one_line_error

PROJECTIONS = """
from ddbes import Projector, RetryPolicy

seen = []
handlers = {{"{kind}": lambda commit: seen.append(commit.position)}}

def fail(commit):
    raise RuntimeError("the index is down")

failing = Projector(
    {{"{kind}": fail}}, name="failing-{kind}",
    retry=RetryPolicy(max_attempts=2, initial_delay=0.01),
)
"""


def test_replay_runs_a_projector_to_the_head_with_a_progress_bar(
    ddbes: Ddbes, tmp_path: Path
) -> None:
    kind = f"Replay{uuid.uuid4().hex[:8]}"
    for number in range(3):
        ddbes("append", kind, f"k{number}", '{"type": "Happened"}')
    (tmp_path / "projections.py").write_text(PROJECTIONS.format(kind=kind))

    first = ddbes(
        "replay", "projections:handlers", "--name", kind, "--batch-size", "1", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"projector {kind!r} handled ")
    assert "caught up: yes" in first.stdout
    bar = first.stderr.splitlines()
    assert bar and bar[-1].startswith("replay projections:handlers [#####")
    assert bar[-1].endswith("commits 100%")

    again = ddbes("replay", "projections:handlers", "--name", kind, "--json", cwd=tmp_path)
    assert again.json()["handled"] == 0
    assert again.json()["caught_up"] is True

    fresh = ddbes(
        "replay",
        "projections:handlers",
        "--name",
        kind,
        "--from-start",
        "--json",
        "--no-progress",
        cwd=tmp_path,
    )
    assert fresh.stderr == ""
    assert fresh.json()["handled"] >= 3


def test_a_failing_projector_exits_1_with_one_line(ddbes: Ddbes, tmp_path: Path) -> None:
    kind = f"Failing{uuid.uuid4().hex[:8]}"
    ddbes("append", kind, "k", '{"type": "Happened"}')
    (tmp_path / "projections.py").write_text(PROJECTIONS.format(kind=kind))
    result = ddbes("replay", "projections:failing", "--no-progress", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.errors if line.startswith("ddbes replay: error:")]
    assert len(errors) == 1 and f"{kind}:k" in errors[0], result.stderr


def test_replay_of_something_that_is_no_projector_is_a_usage_error(
    ddbes: Ddbes, tmp_path: Path
) -> None:
    (tmp_path / "projections.py").write_text(PROJECTIONS.format(kind="X"))
    not_one = ddbes("replay", "projections:seen", cwd=tmp_path)
    assert_one_line_error(not_one, 2, "projections:seen is a list, not a Projector")
    missing = ddbes("replay", "nowhere:handlers", cwd=tmp_path)
    assert_one_line_error(missing, 2, "cannot import module 'nowhere'")
    malformed = ddbes("replay", "projections", cwd=tmp_path)
    assert_one_line_error(malformed, 2, "must be given as MODULE:NAME")

"""``ddbes append`` and ``ddbes inspect``: history and state, now and in the past."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests.cli.conftest import Ddbes, assert_one_line_error

AGGREGATE = """
from ddbes import Aggregate

class Account(Aggregate):
    aggregate_type = "{kind}"
    key_schema = ("id",)

    @staticmethod
    def reducer(state, event, commit):
        balance = (state or {{}}).get("balance", 0)
        return {{"balance": balance + event.get("amount", 0)}}
"""


def test_inspect_shows_history_and_state_now_at_a_version_and_at_a_time(
    ddbes: Ddbes, tmp_path: Path
) -> None:
    kind = f"Account{uuid.uuid4().hex[:8]}"
    assert ddbes("append", kind, "k.1", '{"type": "Deposited", "amount": 10}').returncode == 0
    time.sleep(0.05)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    second = ddbes(
        "append",
        kind,
        "k.1",
        '[{"type": "Deposited", "amount": 5}, {"type": "Noted", "note": "x"}]',
        "--json",
    )
    assert second.returncode == 0, second.stderr
    assert second.json()["version"] == 2

    now = ddbes("inspect", kind, "k.1")
    assert now.returncode == 0, now.stderr
    assert now.lines[0].startswith(f"{kind}:k.1  version 2  last commit ")
    assert '        Deposited {"amount": 10}' in now.lines
    assert '        Noted {"note": "x"}' in now.lines
    assert "state (merged event fields):" in now.lines

    at_version = ddbes("inspect", kind, "k.1", "--version", "1", "--json").json()
    assert at_version["version"] == 1
    assert at_version["state"] == {"amount": 10}
    assert len(at_version["commits"]) == 1

    at_time = ddbes("inspect", kind, "k.1", "--time", between, "--json").json()
    assert at_time["version"] == 1

    (tmp_path / "accounts.py").write_text(AGGREGATE.format(kind=kind))
    reduced = ddbes(
        "inspect", kind, "k.1", "--aggregate", "accounts:Account", "--json", cwd=tmp_path
    )
    assert reduced.returncode == 0, reduced.stderr
    assert reduced.json()["state"] == {"balance": 15}
    assert reduced.json()["state_source"] == "accounts.Account.reducer"


def test_append_at_an_expected_version_conflicts_with_exit_code_6(ddbes: Ddbes) -> None:
    kind = f"Conflict{uuid.uuid4().hex[:8]}"
    first = ddbes("append", kind, "k", '{"type": "A"}', "--expected-version", "0")
    assert first.returncode == 0
    stale = ddbes("append", kind, "k", '{"type": "B"}', "--expected-version", "0")
    assert_one_line_error(stale, 6, f"version 1 of {kind}:k is already taken")
    assert ddbes("inspect", kind, "k", "--json").json()["version"] == 1


def test_inspect_of_a_missing_aggregate_exits_4(ddbes: Ddbes) -> None:
    result = ddbes("inspect", "Nobody", uuid.uuid4().hex)
    assert_one_line_error(result, 4, "has no commits")
    before = ddbes("inspect", "Nobody", "k", "--time", "2000-01-01T00:00:00Z")
    assert_one_line_error(before, 4, "has no commits at or before 2000-01-01T00:00:00Z")

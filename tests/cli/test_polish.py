"""The command as a newcomer meets it: fast help in plain text, quiet pipes, checked numbers,
honest answers, and advice in the command's own terms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.cli.conftest import DDBES, Ddbes, assert_one_line_error, stop

_HEAVY = ("ddbes", "ddbes.container", "dependency_injector", "boto3", "botocore", "moto")


def test_top_level_help_imports_neither_ddbes_nor_any_adapter(embedded: Ddbes) -> None:
    code = (
        "import sys\n"
        "from ddbes_cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=embedded.environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("demo",),
        ("local",),
        ("table", "create"),
        ("autoscaling", "setup"),
        ("serve",),
        ("tail",),
        ("append",),
        ("inspect",),
        ("replay",),
    ],
)
def test_help_texts_are_plain_text_without_rest_markup(
    embedded: Ddbes, command: tuple[str, ...]
) -> None:
    result = embedded(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "``" not in result.stdout
    assert not re.search(r":[a-z]+:`", result.stdout), result.stdout


def test_help_keeps_the_paragraphs_of_a_description(embedded: Ddbes) -> None:
    result = embedded("replay", "--help")
    assert "\n\nPROJECTOR is a ddbes.Projector, or a mapping" in result.stdout


def test_every_command_is_listed_with_the_help_its_module_registers() -> None:
    import argparse

    import ddbes_cli

    parser = ddbes_cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = {choice.dest: choice.help for choice in commands._choices_actions}
    assert registered == ddbes_cli._COMMANDS


def test_a_reader_that_goes_away_ends_the_command_quietly(embedded: Ddbes) -> None:
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already exited
    try:
        done = subprocess.run(
            [str(DDBES), "demo", "--backend", "memory"],
            env=embedded.environ,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("serve", "--port", "70000"), "argument --port: 70000 is not a port"),
        (("serve", "--port", "-1"), "argument --port: -1 is not a port"),
        (("local", "--port", "65536"), "argument --port: 65536 is not a port"),
        (("table", "create", "--log-partitions", "0"), "argument --log-partitions: 0 is not"),
        (("table", "create", "--read-capacity", "0", "--write-capacity", "5"), "--read-capacity"),
        (("inspect", "T", "k", "--limit", "0"), "argument --limit: 0 is not allowed"),
        (("autoscaling", "setup", "--read-min", "0"), "argument --read-min: 0 is not allowed"),
        (("autoscaling", "setup", "--write-max", "3"), "--write-max (3) is below --write-min (5)"),
        (("autoscaling", "setup", "--target", "95"), "--target must be from 20 to 90"),
    ],
)
def test_out_of_range_numbers_exit_2(embedded: Ddbes, args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(embedded(*args), 2, fragment)


def test_inspect_past_the_head_version_exits_4(ddbes: Ddbes) -> None:
    kind = f"Short{uuid.uuid4().hex[:8]}"
    assert ddbes("append", kind, "k", '{"type": "A"}').returncode == 0
    result = ddbes("inspect", kind, "k", "--version", "99")
    assert_one_line_error(result, 4, f"{kind}:k has no version 99", "its head is version 1")
    assert result.stdout == ""


def test_inspect_limit_shows_the_newest_commits_and_the_whole_state(ddbes: Ddbes) -> None:
    kind = f"Long{uuid.uuid4().hex[:8]}"
    for number in range(3):
        event = f'{{"type": "Set", "n{number}": {number}}}'
        assert ddbes("append", kind, "k", event).returncode == 0
    text = ddbes("inspect", kind, "k", "--limit", "1")
    assert text.returncode == 0, text.stderr
    assert "(2 older commit(s) not shown: --limit 1)" in text.stdout
    assert [line.split()[0] for line in text.lines if line.startswith("  v")] == ["v3"]
    data = ddbes("inspect", kind, "k", "--limit", "2", "--json").json()
    assert [commit["version"] for commit in data["commits"]] == [2, 3]
    assert (data["commits_shown"], data["commits_total"]) == (2, 3)
    assert data["state"] == {"n0": 0, "n1": 1, "n2": 2}


PROJECTIONS = """
handlers = {"Nothing": lambda commit: None}
"""


def test_replay_of_an_empty_log_says_so(embedded: Ddbes, tmp_path: Path) -> None:
    (tmp_path / "projections.py").write_text(PROJECTIONS)
    result = embedded("replay", "projections:handlers", "--backend", "memory", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the log is empty, nothing to replay" in result.stdout
    assert "0/0" not in result.stderr
    assert "no commits to process" in result.stderr


def test_replay_reports_positions_without_a_python_dict(ddbes: Ddbes, tmp_path: Path) -> None:
    (tmp_path / "projections.py").write_text(PROJECTIONS)
    ddbes("append", f"Replayed{uuid.uuid4().hex[:8]}", "k", '{"type": "A"}')
    result = ddbes("replay", "projections:handlers", "--from-start", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"handled \d+ commit\(s\), at position (\d+) of \1; caught up: yes", result.stdout
    )
    assert "{" not in result.stdout


def test_table_delete_of_a_missing_table_says_nothing_was_deleted(ddbes: Ddbes) -> None:
    table = f"missing-{uuid.uuid4().hex[:8]}"
    result = ddbes("table", "delete", "--table", table, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"table {table!r} does not exist" in result.stdout
    assert "nothing deleted" in result.stdout
    as_json = ddbes("table", "delete", "--table", table, "--yes", "--json").json()
    assert as_json == {"table_name": table, "deleted": False, "existed": False}


def test_an_append_conflict_gives_command_line_advice(ddbes: Ddbes) -> None:
    kind = f"Advice{uuid.uuid4().hex[:8]}"
    ddbes("append", kind, "k", '{"type": "A"}', "--expected-version", "0")
    stale = ddbes("append", kind, "k", '{"type": "B"}', "--expected-version", "0")
    assert_one_line_error(stale, 6, f"ddbes inspect {kind} k", "--expected-version")
    assert "retry=True" not in stale.stderr


def test_autoscaling_an_on_demand_table_gives_command_line_advice(ddbes: Ddbes) -> None:
    result = ddbes("autoscaling", "setup")
    assert_one_line_error(result, 3, "on-demand", "ddbes table create --read-capacity N")
    assert "read_capacity" not in result.stderr


def test_tail_after_with_the_wrong_number_of_partitions_exits_2(ddbes: Ddbes) -> None:
    import json

    server = ddbes.start("serve", "--port", "0", "--json")
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        result = ddbes("tail", url, "--after", "0,0,0", "--count", "1", timeout=60)
    finally:
        stop(server)
    assert_one_line_error(result, 2, "'after' has 3 positions but the log has 1 partitions")

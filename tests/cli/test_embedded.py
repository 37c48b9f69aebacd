"""Every subcommand against the embedded default: no endpoint, no AWS configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import EMBEDDED_NOTICE, Ddbes, assert_one_line_error, stop

PROJECTIONS = """
seen = []
handlers = {"*": lambda commit: seen.append(commit.position)}
"""


def test_demo_tells_the_readme_story_end_to_end_on_the_embedded_emulator(embedded: Ddbes) -> None:
    result = embedded("demo", timeout=240)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert result.stderr.count(EMBEDDED_NOTICE) == 1
    assert result.errors == [], result.stderr
    for expected in (
        "created DynamoDB table 'ddbes-demo'",
        "autoscaling: 4 targets",  # the table and its sequencer index
        "created S3 bucket 'ddbes-demo-snapshots'",
        "settings.hydrate()       -> version 2, debug_mode=False",
        "ApplicationSettings.load(version=1).state['debug_mode'] -> True",
        ".state['debug_mode'] -> True",
        "gudleik.hydrate() -> version 3, name 'Gudleik'",
        "(expected 20: no update lost)",
        "same state as replaying all 23 commits: yes",
        "index: 3 users: Ada, Gudleik, Linus",
        "NameChanged name='Ada Lovelace'",
        "NameChanged name='Linus T.'",
        "the watching projector updated its index: Ada Lovelace, Gudleik, Linus T.",
        "table 'ddbes-demo' deleted",
        "Done in",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    received = [line for line in result.lines if "client received" in line]
    assert len(received) == 2


def test_local_prints_the_endpoint_and_export_lines_and_stops_on_sigterm(
    embedded: Ddbes,
) -> None:
    process = embedded.start("local")
    assert process.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        line = process.stdout.readline()
        assert line, "ddbes local ended early"
        lines.append(line.rstrip("\n"))
    code, _, err = stop(process)
    assert code == 0, err
    assert "ddbes local: stopped" in err
    found = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
    assert found, lines[0]
    url = found.group()
    assert f"export DDBES_ENDPOINT_URL={url}" in lines
    assert f"export AWS_ENDPOINT_URL={url}" in lines
    assert "export AWS_ACCESS_KEY_ID=local" in lines
    assert "export DDBES_BACKEND=dynamodb" in lines  # create_container() agrees with ddbes


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("table", "describe"), 0, "status       ACTIVE"),
        (("autoscaling", "describe"), 0, "table 'ddbes' has no autoscaling"),
        (
            ("append", "Note", "n1", '{"type": "Written", "text": "hi"}', "--embedded"),
            0,
            "version 1, position 1",
        ),
        (("inspect", "Note", "n1"), 4, ""),
        (("replay", "projections:handlers", "--json"), 0, '"caught_up": true'),
    ],
)
def test_commands_run_on_a_fresh_embedded_emulator_with_its_table_created(
    embedded: Ddbes, tmp_path: Path, args: tuple[str, ...], code: int, expected: str
) -> None:
    (tmp_path / "projections.py").write_text(PROJECTIONS)
    result = embedded(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(EMBEDDED_NOTICE)
    assert expected in result.stdout


def test_serve_on_the_embedded_emulator_accepts_a_tail(embedded: Ddbes) -> None:
    server = embedded.start("serve", "--port", "0", "--json")
    try:
        assert server.stdout is not None
        started = json.loads(server.stdout.readline())
        tail = embedded("tail", started["url"], "--count", "0", timeout=60)
        assert tail.returncode == 0, tail.stderr
        assert f"ddbes tail: subscribed to {started['url']}" in tail.stderr
    finally:
        code, _, err = stop(server)
    assert code == 0, err
    assert err.startswith(EMBEDDED_NOTICE)
    assert "ddbes serve: stopped" in err


def test_demo_runs_the_same_story_on_the_in_memory_stores(embedded: Ddbes) -> None:
    result = embedded("demo", "--backend", "memory")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "(expected 20: no update lost)" in result.stdout
    assert "client received: " in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("append", "Note", "n1", '{"type": "Written"}'),
        ("table", "create"),
        ("table", "delete", "--yes"),
        ("autoscaling", "setup"),
        ("autoscaling", "remove"),
    ],
)
def test_writes_to_the_throwaway_embedded_default_are_refused_without_embedded(
    embedded: Ddbes, args: tuple[str, ...]
) -> None:
    result = embedded(*args)
    assert_one_line_error(
        result, 3, "writes data", "loses everything when the command exits", "--embedded"
    )
    assert EMBEDDED_NOTICE not in result.stderr  # refused before the emulator starts

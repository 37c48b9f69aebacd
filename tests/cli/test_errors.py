"""Bad input ends a command with one clear line on stderr, a meaningful exit code, and no
traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Ddbes, Result, assert_one_line_error
from tests.services import free_port
from tests.silent import silent_endpoint


def _run_hiding(module: str, args: list[str], environ: dict[str, str]) -> Result:
    """``ddbes ARGS`` in a Python where ``module`` cannot be imported, as if not installed."""
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "from ddbes_cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(args, done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (("inspect", "T", "k", "--backend", "mongo"), {}, "unknown backend 'mongo'"),
        (("table", "describe"), {"DDBES_BACKEND": "cassandra"}, "unknown backend 'cassandra'"),
        (("inspect", "T", "k"), {"DDBES_SNAPSHOTS": "on"}, "unknown snapshots 'on'"),
        (("inspect", "T", "k"), {"DDBES_SNAPSHOTS": "s3"}, "set snapshots_bucket"),
        (("inspect", "T", "k"), {"DDBES_LOG_PARTITIONS": "many"}, "log_partitions from DDBES_*"),
        (("table", "describe", "--backend", "memory"), {}, "needs the dynamodb backend"),
    ],
)
def test_bad_configuration_exits_3(
    embedded: Ddbes, args: tuple[str, ...], env: dict[str, str], fragment: str
) -> None:
    assert_one_line_error(embedded(*args, env=env), 3, fragment)


def test_a_bad_configuration_file_exits_3(embedded: Ddbes, tmp_path: Path) -> None:
    config = tmp_path / "ddbes.toml"
    config.write_text('backend = "dynamodb"\ntable = "x"\n')
    result = embedded("table", "describe", "--config", str(config))
    assert_one_line_error(result, 3, "unknown configuration key(s) 'table'", "known keys:")


@pytest.mark.parametrize(
    ("module", "args", "fragment"),
    [
        ("ddbes_dynamodb", ["inspect", "T", "k"], "pip install ddbes-dynamodb"),
        ("ddbes_ws", ["tail", "ws://127.0.0.1:9"], "pip install ddbes-ws"),
        ("ddbes_s3", ["demo"], "pip install ddbes-s3"),
        ("moto", ["inspect", "T", "k"], 'pip install "ddbes-cli[local]"'),
        ("dependency_injector", ["table", "describe"], "pip install ddbes-cli"),
    ],
)
def test_a_missing_adapter_names_its_pip_install(
    embedded: Ddbes, module: str, args: list[str], fragment: str
) -> None:
    result = _run_hiding(module, args, embedded.environ)
    assert_one_line_error(result, 3, fragment)


def test_an_unreachable_endpoint_exits_5(embedded: Ddbes) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = embedded("inspect", "T", "k", "--endpoint-url", url)
    assert_one_line_error(result, 5, "DynamoDB could not be reached", url)


@pytest.mark.parametrize(("options", "deadline"), [((), 10.0), (("--timeout", "2"), 2.0)])
def test_an_endpoint_that_never_answers_exits_5_by_the_deadline(
    embedded: Ddbes, options: tuple[str, ...], deadline: float
) -> None:
    started = time.monotonic()
    refused = embedded("inspect", "T", "k", "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    start_up = time.monotonic() - started  # this machine's start-up and exit of a command
    assert refused.returncode == 5
    with silent_endpoint() as url:
        started = time.monotonic()
        result = embedded("inspect", "T", "k", "--endpoint-url", url, *options)
        elapsed = time.monotonic() - started
    assert_one_line_error(result, 5, "DynamoDB could not be reached", url, "gave up after")
    waited = float(re.search(r"gave up after \d+ attempts? in ([\d.]+) s", result.stderr)[1])  # type: ignore[index]
    assert deadline * 0.5 <= waited <= deadline * 1.1
    assert elapsed - start_up < 2 * deadline


def test_a_bad_timeout_exits_2(embedded: Ddbes) -> None:
    result = embedded("inspect", "T", "k", "--timeout", "0", "--endpoint-url", "http://x:1")
    assert result.returncode == 2
    assert "positive number of seconds" in result.stderr


def test_an_unreachable_stream_server_exits_5(embedded: Ddbes) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    result = embedded("tail", url, "--reconnect-attempts", "0")
    assert_one_line_error(result, 5, f"cannot connect to {url}")


def test_a_missing_table_exits_3(ddbes: Ddbes) -> None:
    result = ddbes("inspect", "T", "k", "--table", "no-such-table")
    assert_one_line_error(result, 3, "table 'no-such-table' does not exist", "ddbes table create")
    appended = ddbes("append", "T", "k", '{"type": "A"}', "--table", "no-such-table")
    assert_one_line_error(appended, 3, "table 'no-such-table' does not exist")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--filter", "{nope"], "--filter '{nope' is not valid JSON"),
        (["--filter", "[1, 2]"], "must be a JSON object (a filter set) or a list of them"),
        (["--filter", '{"type": 5}'], "filter set 0, key 'type'"),
        (["--filter", '{"type": {"regexp": "(a"}}'], "filter set 0, key 'type'"),
        (["--after", "x"], "--after 'x' must be a position"),
        (["--after", "-1"], "positions are 0 or more"),
        (["--count", "-2"], "--count must be 0 or more"),
        (["--count", "many"], "argument --count: invalid int value"),
        (["--colour", "blue"], "unrecognized arguments: --colour blue"),
    ],
)
def test_bad_tail_filter_options_exit_2(embedded: Ddbes, options: list[str], fragment: str) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    assert_one_line_error(embedded("tail", url, *options), 2, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("append", "T", "k", "{oops"), "EVENT_JSON is not valid JSON"),
        (("append", "T", "k", '{"name": "no type"}'), "needs a non-empty string 'type'"),
        (("append", "T", "k", "[]"), "needs at least one event"),
        (("inspect", "T", "k", "--time", "yesterday"), "'yesterday' is not an ISO-8601 time"),
        (("inspect", "T", "k", "--time", "2026-01-01T00:00:00"), "has no time zone"),
        (("inspect", "T", "k", "--version", "0"), "--version must be 1 or more"),
        (("inspect", "T", "k", "--version", "1", "--time", "2026-01-01T00:00:00Z"), "not allowed"),
        (("inspect", "T", "k", "--aggregate", "nomodule:Cls"), "cannot import module 'nomodule'"),
        (("demo", "--snapshots-frequency", "0"), "--snapshots-frequency must be 1 or more"),
        (("serve", "--poll-delay", "0"), "--poll-delay must be above 0"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2(embedded: Ddbes, args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(embedded(*args), 2, fragment)

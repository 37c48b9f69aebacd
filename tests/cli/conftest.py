"""Running ``ddbes`` as a subprocess, with an environment free of AWS and ddbes settings, and
one ``ddbes local`` emulator shared by the tests that need an endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DDBES = Path(sys.executable).with_name("ddbes")
EMBEDDED_NOTICE = "ddbes: no AWS endpoint configured: using the embedded AWS emulator"


@dataclass
class Result:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def errors(self) -> list[str]:
        """stderr lines, without the embedded emulator's notice."""
        return [line for line in self.stderr.splitlines() if not line.startswith(EMBEDDED_NOTICE)]

    def json(self) -> Any:
        return json.loads(self.stdout)


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without AWS_* and DDBES_* variables, and a HOME with no
    ~/.aws: what a fresh machine looks like to the embedded default."""
    environ = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "DDBES_"))
    }
    environ["HOME"] = str(home)
    environ["PYTHONUNBUFFERED"] = "1"
    environ.pop("CI", None)
    return environ


@dataclass
class Ddbes:
    """Runs the console script with a given environment."""

    environ: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [str(DDBES), *args]

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> Result:
        completed = subprocess.run(
            self.command(*args),
            env={**self.environ, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        return Result(args, completed.returncode, completed.stdout, completed.stderr)

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.environ,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def stop(process: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    """SIGTERM a long-running command; its exit code and remaining output."""
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def embedded(home: Path) -> Ddbes:
    """``ddbes`` with no endpoint and no AWS configuration: the embedded default."""
    return Ddbes(clean_environment(home))


@dataclass
class Local:
    endpoint_url: str
    environment: dict[str, str]
    process: subprocess.Popen[str]


@pytest.fixture(scope="session")
def local(embedded: Ddbes) -> Iterator[Local]:
    """One ``ddbes local --setup`` shared by the tests: table ``ddbes`` and its bucket exist."""
    process = embedded.start("local", "--setup", "--json")
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        _, _, err = stop(process)
        pytest.fail(f"ddbes local did not start: {err}")
    started = json.loads(line)
    yield Local(started["endpoint_url"], started["environment"], process)
    code, _, err = stop(process)
    assert code == 0, err


@pytest.fixture(scope="session")
def ddbes(embedded: Ddbes, local: Local) -> Ddbes:
    """``ddbes`` pointed at the shared ``ddbes local`` by the variables it printed."""
    return Ddbes({**embedded.environ, **local.environment})


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code``, one line on stderr holding every fragment, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.errors[0], result.errors[0]

"""A writer process for ``test_writer_kills.py``, SIGKILLed at random moments by the test.

It commits one event ``{"type": "Recorded", "op": op}`` after another to ``Tally`` aggregates
(some of its own, some shared with the other writers, so that version conflicts happen and are
retried) through :class:`~ddbes_dynamodb.DynamoDBCommitStore`, and keeps a journal: one JSON
line per record, written with one ``write`` and ``fsync``ed before it goes on.

- ``{"kind": "attempt", "op", "key", "way"}`` before an operation starts, so the test knows of
  every operation, including those whose outcome the kill made unknown;
- ``{"kind": "ack", "op", "commit_id", "aggregate_type", "key", "version", "retried"}`` once
  the store returned, and only then (``retried``: a version conflict was retried);
- ``{"kind": "error", "op", "error"}`` when a :mod:`ddbes.errors` exception surfaced.

A kill can cut the last line short: the test ignores a line without its newline. The test
forks these processes from a ``multiprocessing`` fork server that has imported this module
(a fresh interpreter takes about a second of CPU to import boto3 and build a client; a fork
of the fork server takes milliseconds),
and also runs them alone for debugging: ``python -m tests.reliability.kill_writer JOURNAL
ENDPOINT TABLE WRITER INCARNATION``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

import boto3

from ddbes import Aggregate, RetryPolicy, aggregate_command
from ddbes.errors import DdbesError
from ddbes.model import Commit, Event
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import CLIENT_CONFIG

AGGREGATE_TYPE = "Tally"
SHARED_KEYS = 3
OWN_KEYS = 4
SHARE = 0.35
"""The share of operations on the shared aggregates (the others go to the writer's own)."""
CONFLICT_RETRY = RetryPolicy(max_attempts=40, initial_delay=0.002, backoff=2.0, max_delay=0.05)
MAX_LIFETIME = 180.0
"""A writer the test forgot to kill exits by itself after this long."""

SESSION = boto3.session.Session()
# Building a client loads botocore's service model: 0.3-0.4 s of CPU in a fresh session, 20 ms
# in one that built a client before. The fork server imports this module, so every writer it
# forks starts with a warm session.
SESSION.client("dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")


class Tally(Aggregate):
    """Counts the operations recorded on it."""

    key_schema = ("tally_id",)
    aggregate_type = AGGREGATE_TYPE

    @staticmethod
    def reducer(state: Any, event: Event, commit: Commit) -> Any:
        count = 0 if state is None else state["count"]
        return {"count": count + 1, "last_op": event["op"]}

    @aggregate_command(retry=CONFLICT_RETRY)
    def record(self, op: str, tries: list[int]) -> None:
        """Commit one ``Recorded`` event; a conflict re-hydrates and runs this again."""
        tries[0] += 1
        self.commit({"type": "Recorded", "op": op})


class Journal:
    """Appends JSON lines to a file, each one ``fsync``ed before ``write`` returns."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, **record: Any) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        os.fsync(self._fd)


def key_for(writer: int, rng: random.Random) -> str:
    if rng.random() < SHARE:
        return f"shared-{rng.randrange(SHARED_KEYS)}"
    return f"w{writer}-{rng.randrange(OWN_KEYS)}"


def run(
    journal_path: str,
    *,
    endpoint_url: str,
    table: str,
    writer: int,
    incarnation: int,
    parent_pid: int,
) -> None:
    """Commit until killed (or until the test process is gone), journalling every step."""
    journal = Journal(journal_path)
    client = SESSION.client(
        "dynamodb", endpoint_url=endpoint_url, region_name="us-east-1", config=CLIENT_CONFIG
    )
    store = DynamoDBCommitStore(table, client=client)
    tallies = Tally.using(commit_store=store)
    cached: dict[str, Tally] = {}  # stale after the other writers' commits: retries re-hydrate
    rng = random.Random(f"{writer}-{incarnation}-{os.getpid()}")
    give_up = time.monotonic() + MAX_LIFETIME
    n = 0
    while time.monotonic() < give_up and _alive(parent_pid):
        n += 1
        op = f"{writer}.{incarnation}.{n}"
        key = key_for(writer, rng)
        # Half the operations go through a command with retry, half through commit(retry=).
        way = "command" if rng.random() < 0.5 else "commit"
        journal.write(kind="attempt", op=op, key=key, way=way)
        try:
            instance = cached.get(key)
            if instance is None:
                instance = cached[key] = tallies(key)  # version 0: conflicts, then hydrates
            before = instance.version
            tries = [0]
            if way == "command":
                instance.record(op, tries)
                retried = tries[0] > 1
            else:
                instance.commit({"type": "Recorded", "op": op}, retry=CONFLICT_RETRY)
                retried = instance.version > before + 1  # it re-hydrated over others' commits
        except DdbesError as exc:
            cached.pop(key, None)
            journal.write(kind="error", op=op, error=type(exc).__name__)
            continue
        journal.write(
            kind="ack",
            op=op,
            commit_id=instance.head_commit_id,
            aggregate_type=AGGREGATE_TYPE,
            key=key,
            version=instance.version,
            retried=retried,
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    journal_arg, endpoint_arg, table_arg, writer_arg, incarnation_arg = sys.argv[1:6]
    run(
        journal_arg,
        endpoint_url=endpoint_arg,
        table=table_arg,
        writer=int(writer_arg),
        incarnation=int(incarnation_arg),
        parent_pid=os.getppid(),
    )

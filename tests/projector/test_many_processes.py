"""Acceptance: two projector processes of one name over DynamoDB Local handle every commit, never
one commit at the same time, and the survivor finishes when the lease holder is killed."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from ddbes_dynamodb import DynamoDBCheckpointStore
from tests.dynamodb.tables import DynamoDBTables
from tests.projector import lease_worker
from tests.projector.helpers import commit
from tests.services import DynamoDBLocal

ROOT = Path(__file__).resolve().parents[2]
COMMITS = 600  # 40 aggregates x 15 versions, by 2 writers


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    tables = DynamoDBTables(dynamodb_local.endpoint_url)
    yield tables
    tables.delete_all()


def lines(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def handled(path: Path) -> int:
    return sum(1 for fields in lines(path) if fields[0] == "end")


def wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def intervals(path: Path, killed_at: float | None) -> dict[tuple[int, int], tuple[float, float]]:
    """(partition, position) -> (start, end) of each handling; a handling cut short by the kill
    ends at the kill."""
    started: dict[tuple[int, int], float] = {}
    spans: dict[tuple[int, int], tuple[float, float]] = {}
    for fields in lines(path):
        if fields[0] not in ("start", "end") or len(fields) != 4:
            continue  # "ready", "done", or a line the kill cut short
        where = (int(fields[1]), int(fields[2]))
        if fields[0] == "start":
            started[where] = float(fields[3])
        else:
            spans[where] = (started.pop(where), float(fields[3]))
    for where, start in started.items():
        assert killed_at is not None, "a surviving process left a handling unfinished"
        spans[where] = (start, killed_at)
    return spans


@pytest.mark.dynamodb
def test_two_projector_processes_share_a_name_without_overlap_and_survive_a_kill(
    tables: DynamoDBTables, tmp_path: Path
) -> None:
    store = tables.commit_store(log_partitions=2)

    def write(worker: int) -> None:
        for version in range(1, COMMITS // 40 + 1):
            for key in range(20):
                store.append(commit("Cart", f"w{worker}-{key}", version))

    writers = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    store.flush_log(timeout=60)
    heads = {p: store.head_position(p) for p in range(2)}
    assert sum(heads.values()) == COMMITS and all(heads.values())

    def start(owner: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.projector.lease_worker", tables.endpoint_url,
             store.table_name, owner, str(tmp_path / f"{owner}.log")],
            cwd=ROOT,
        )  # fmt: skip

    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = start("a")
    try:
        wait_for(lambda: handled(log_a) >= 100, "a to start handling")
        b = start("b")
        try:
            wait_for(lambda: any(f[0] == "ready" for f in lines(log_b)), "b to start")
            time.sleep(0.5)  # b is now trying to take the leases a holds
            wait_for(lambda: handled(log_a) >= 200, "a to handle 200 commits")
            assert a.poll() is None and handled(log_a) < COMMITS, "a finished too soon"
            a.send_signal(signal.SIGKILL)
            killed_at = time.time()
            assert a.wait(timeout=10) == -signal.SIGKILL
            assert b.wait(timeout=60) == 0  # the survivor takes over and finishes
        finally:
            b.kill()
    finally:
        a.kill()

    spans_a, spans_b = intervals(log_a, killed_at), intervals(log_b, None)
    every = {(p, position) for p, head in heads.items() for position in range(1, head + 1)}
    assert set(spans_a) | set(spans_b) == every  # every commit handled
    assert spans_b, "b never took over"
    by_partition: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for owner, spans in (("a", spans_a), ("b", spans_b)):
        for (part, _), (begin, end) in spans.items():
            by_partition[part].append((begin, end, owner))
    for part, handlings in by_partition.items():
        handlings.sort()
        for (_, end, owner), (begin, _, next_owner) in itertools.pairwise(handlings):
            assert owner == next_owner or end <= begin, f"a and b overlapped on partition {part}"
    assert min(begin for begin, _ in spans_b.values()) > killed_at  # b waited for a's lease
    twice = set(spans_a) & set(spans_b)
    assert len(twice) <= lease_worker.BATCH_SIZE  # only the batch a was handling when killed
    checkpoints = DynamoDBCheckpointStore(store.table_name, client=tables.client)
    assert {p: checkpoints.get("shared", p) for p in range(2)} == heads

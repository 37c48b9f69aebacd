"""Consumer groups: how much faster 4 member processes handle a log than one, with a 10 ms
handler (a remote write), and whether each aggregate's commits stay in order.

For 1 and then 4 members (``tests/projector/group_worker.py``, ``slots=16``) on a fresh default
table (log pages) on DynamoDB Local: 2,000 commits over 200 aggregates are stored (their commit
items only), the members start on an empty log and share the slots (checked through the lease
store); then the log of those commits is written at once (20 pages and the head item, as the
sequencer writes them), and the clock runs until every commit is handled. Each member logs
what it handled; the bench checks that every commit was handled, and that within each
aggregate the versions were handled in order.
Target: 4 members ≥ 3.5x the rate of one.

    scripts/private-net uv run python bench/projector_group.py [--rounds 1] [--commits 2000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import dynamodb_endpoint, machine, write_section
from ddbes.model import Commit

ROOT = Path(__file__).resolve().parent.parent
SLOTS = 16
HANDLER_MS = 10
AGGREGATES = 200
BATCH_SIZE = 200
PAGE = 100  # commits per log page, as the sequencer writes them at most


def log_commits(count: int) -> list[Commit]:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Commit(
            commit_id=f"c{n}",
            aggregate_type="Order",
            aggregate_key=f"o{n % AGGREGATES:03d}",
            version=n // AGGREGATES + 1,
            committed_at=t0 + timedelta(milliseconds=n),
            events=({"type": "Changed", "n": n},),
        )
        for n in range(count)
    ]


def _put_all(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])


def _items(commits: list[Commit]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    from ddbes._validation import encoded_events
    from ddbes_dynamodb._items import commit_items

    return [commit_items(commit, 0, *encoded_events(commit)) for commit in commits]


def write_commits(client: Any, table: str, commits: list[Commit]) -> None:
    """The commit items, as the sequencer leaves them (each with its position): before the
    clock starts, since consumers read only the log."""
    items = []
    for position, (commit_item, _) in enumerate(_items(commits), start=1):
        commit_item["n"] = {"N": str(position)}
        items.append(commit_item)
    _put_all(client, table, items)


def write_log(client: Any, table: str, commits: list[Commit]) -> None:
    """The log of ``commits`` as the sequencer writes it on a default table: pages of 100
    commits and the head item, 21 items in two requests, so that the log appears at once."""
    from ddbes_dynamodb._items import LOG_ENTRY_FIELDS, head_key, log_page

    entries = [
        {name: log_item[name] for name in LOG_ENTRY_FIELDS if name in log_item}
        for _, log_item in _items(commits)
    ]
    pages = [
        log_page(0, first + 1, entries[first : first + PAGE])
        for first in range(0, len(entries), PAGE)
    ]
    head = {**head_key(0), "n": {"N": str(len(entries))}}
    _put_all(client, table, [*pages, head])


def handled_lines(paths: list[Path]) -> list[list[str]]:
    found = []
    for path in paths:
        if path.exists():
            found += [
                line.split() for line in path.read_text().splitlines() if line.startswith("h ")
            ]
    return found


def one_run(endpoint: str, members: int, count: int, workdir: Path) -> tuple[float, bool]:
    from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBLeaseStore

    table = f"bench-group-{uuid.uuid4().hex[:8]}"
    store = DynamoDBCommitStore(table, endpoint_url=endpoint)
    store.create_table(log_partitions=1)  # the default: log pages, sequenced in the background
    commits = log_commits(count)
    write_commits(store.client, table, commits)
    leases = DynamoDBLeaseStore(table, endpoint_url=endpoint)
    logs = [workdir / f"{table}-m{i}.log" for i in range(members)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.projector.group_worker",
                endpoint,
                table,
                f"m{i}",
                str(logs[i]),
                str(SLOTS),
                str(HANDLER_MS),
                "-",
                str(BATCH_SIZE),
            ],
            cwd=ROOT,
        )
        for i in range(members)
    ]
    try:
        share = SLOTS // members
        deadline = time.monotonic() + 60
        while True:
            owners: dict[str, int] = defaultdict(int)
            for unit in range(SLOTS):
                lease = leases.holder(f"group#g{SLOTS}", unit)
                if lease is not None:
                    owners[lease.owner] += 1
            if len(owners) == members and all(n == share for n in owners.values()):
                break
            assert time.monotonic() < deadline, f"the group did not balance: {dict(owners)}"
            time.sleep(0.2)
        started = time.monotonic()
        write_log(store.client, table, commits)
        while len(handled_lines(logs)) < count:
            assert time.monotonic() - started < 600, "the group did not finish"
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        store.delete_table(wait=False)
    ordered = True
    for path in logs:  # each member: each aggregate's versions in order
        last: dict[str, int] = {}
        for fields in handled_lines([path]):
            aggregate, version = fields[1], int(fields[2])
            ordered &= version > last.get(aggregate, 0)
            last[aggregate] = version
    seen = {(f[1], int(f[2])) for f in handled_lines(logs)}
    complete = len(seen) == count
    return count / elapsed, ordered and complete


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--dynamodb-endpoint", help="an already running DynamoDB Local")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    workdir = Path("/tmp") / f"ddbes-bench-group-{uuid.uuid4().hex[:6]}"
    workdir.mkdir()
    endpoint, local = dynamodb_endpoint(args.dynamodb_endpoint)
    rates: dict[int, list[float]] = {1: [], 4: []}
    checks: list[bool] = []
    try:
        for _ in range(args.rounds):
            for members in (1, 4):
                rate, ok = one_run(endpoint, members, args.commits, workdir)
                rates[members].append(rate)
                checks.append(ok)
    finally:
        if local is not None:
            local.kill()
    one, four = statistics.median(rates[1]), statistics.median(rates[4])
    body = "\n".join(
        [
            f"A consumer group (`slots={SLOTS}`) of member processes on DynamoDB Local, "
            f"{args.commits:,} commits over {AGGREGATES} aggregates (one log partition), a "
            f"handler that waits {HANDLER_MS} ms, batches of {BATCH_SIZE}. Target: 4 members "
            "≥ 3.5x one.",
            "",
            "```shell",
            f"scripts/private-net uv run python bench/projector_group.py --rounds {args.rounds} "
            f"--commits {args.commits}",
            "```",
            f"Machine: {machine()}. Median of {args.rounds} round(s).",
            "",
            "| members | commits/s | vs one |",
            "|---|---|---|",
            f"| 1 | {one:,.0f} | 1.00x |",
            f"| 4 | {four:,.0f} | **{four / one:.2f}x** |",
            "",
            f"Every commit handled, each aggregate's versions in order in every member: "
            f"{'yes' if all(checks) else 'NO'}.",
        ]
    )
    print(body)
    if args.write:
        write_section("Projector consumer groups", body)


if __name__ == "__main__":
    main()

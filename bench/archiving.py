"""What archiving costs and saves, on DynamoDB Local with the archive on S3 (moto in a process
of its own):

* archive throughput: aggregates (and commits) per second of one ``Archiver.run``;
* the bytes of events that leave DynamoDB (two copies: commit item and log entry) against the
  size of the archive objects;
* a load (``read_commits`` of the whole history) of an archived aggregate against a hot one,
  first read (the object fetched) and repeated (the store's object cache).

    scripts/private-net uv run python bench/archiving.py [--aggregates 200] [--commits 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _moto_process
from bench._harness import dynamodb_endpoint, machine
from ddbes.archiving import ArchivePolicy, Archiver
from ddbes.model import Commit
from ddbes.testing import ManualClock
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_s3 import S3ArchiveStore, S3SnapshotStore

os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _event(n: int) -> dict[str, object]:
    return {"type": "LineAdded", "n": n, "sku": f"sku-{n % 50}", "qty": n % 7, "note": "ok " * 40}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--aggregates", type=int, default=200)
    parser.add_argument("--commits", type=int, default=10)
    args = parser.parse_args()
    endpoint, local = dynamodb_endpoint()
    s3_endpoint, stop_moto = _moto_process.start()
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        S3SnapshotStore(bucket, endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket()
        archive = S3ArchiveStore(bucket, endpoint_url=s3_endpoint, region_name="us-east-1")
        store = DynamoDBCommitStore(
            f"bench-{uuid.uuid4().hex[:8]}",
            endpoint_url=endpoint,
            region_name="us-east-1",
            archive=archive,
        )
        store.create_table()
        for key in range(args.aggregates + 1):
            for version in range(1, args.commits + 1):
                store.append(
                    Commit(
                        commit_id=uuid.uuid4().hex,
                        aggregate_type="Order" if key else "Hot",
                        aggregate_key=f"o-{key}",
                        version=version,
                        committed_at=T0 + timedelta(seconds=version),
                        events=(_event(version),),
                    )
                )
        store.flush_log(timeout=120)
        policy = ArchivePolicy(aggregate_types=("Order",), idle_for=timedelta(days=30))
        archiver = Archiver(store, clock=ManualClock(T0 + timedelta(days=100)))
        started = time.perf_counter()
        report = archiver.run(policy)
        elapsed = time.perf_counter() - started
        commits = len(report.archived) * args.commits

        def load(aggregate_type: str, key: str) -> float:
            began = time.perf_counter()
            assert len(list(store.read_commits(aggregate_type, key))) == args.commits
            return (time.perf_counter() - began) * 1000

        hot = statistics.median(load("Hot", "o-0") for _ in range(30))
        fresh = DynamoDBCommitStore(
            store.table_name, endpoint_url=endpoint, region_name="us-east-1", archive=archive
        )
        first = statistics.median(load_with(fresh, k, args.commits) for k in range(1, 31))
        repeated = statistics.median(load("Order", "o-1") for _ in range(30))
        print(f"machine: {machine()}")
        print(
            f"archived {len(report.archived)} aggregates of {args.commits} commits in "
            f"{elapsed:.2f} s: {len(report.archived) / elapsed:.0f} aggregates/s, "
            f"{commits / elapsed:.0f} commits/s"
        )
        print(
            f"DynamoDB bytes of events freed: {2 * report.hot_bytes}; archive objects: "
            f"{report.archive_bytes} bytes ({2 * report.hot_bytes / report.archive_bytes:.1f}x)"
        )
        print(
            f"load of {args.commits} commits: hot {hot:.2f} ms; archived, object fetched "
            f"{first:.2f} ms ({first / hot:.1f}x); archived, object cached {repeated:.2f} ms"
        )
        store.close()
        store.delete_table(wait=False)
    finally:
        stop_moto()
        if local is not None:
            local.kill()


def load_with(store: DynamoDBCommitStore, key: int, commits: int) -> float:
    began = time.perf_counter()
    assert len(list(store.read_commits("Order", f"o-{key}"))) == commits
    return (time.perf_counter() - began) * 1000


if __name__ == "__main__":
    main()

"""A projector process sharing work through DynamoDB leases, for the many-process test:
``python -m tests.projector.lease_worker ENDPOINT TABLE OWNER LOG_FILE``.

Every handling is logged as two lines, ``start`` and ``end``, with the wall-clock time, so the
test can check that no commit was handled by two processes at once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ddbes.model import Commit
from ddbes.projection.projector import Projector
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore, DynamoDBLeaseStore

LEASE_TTL = 3.0
BATCH_SIZE = 25
HANDLER_SECONDS = 0.01


def main(endpoint: str, table: str, owner: str, log_path: Path) -> None:
    log = log_path.open("a", buffering=1)

    def handle(commit: Commit) -> None:
        where = f"{commit.log_partition} {commit.position}"
        log.write(f"start {where} {time.time():.6f}\n")
        time.sleep(HANDLER_SECONDS)
        log.write(f"end {where} {time.time():.6f}\n")

    projector = Projector(
        {"*": handle},
        name="shared",
        commit_store=DynamoDBCommitStore(table, endpoint_url=endpoint),
        checkpoint_store=DynamoDBCheckpointStore(table, endpoint_url=endpoint),
        lease_store=DynamoDBLeaseStore(table, endpoint_url=endpoint),
        owner=owner,
        lease_ttl=LEASE_TTL,
        batch_size=BATCH_SIZE,
        poll_interval=0.05,
    )
    log.write(f"ready {time.time():.6f}\n")
    projector.run()
    log.write(f"done {time.time():.6f}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))

"""A member of a projector consumer group over DynamoDB Local, for the group bench and the
reliability scenario: ``python -m tests.projector.group_worker ENDPOINT TABLE OWNER LOG_FILE
SLOTS HANDLER_MS [POISON_KEY [BATCH_SIZE]]`` (``-`` for no poison; batches of 50 by default).

It watches the log (``start(watch=True)``) until SIGTERM. Every commit it handles is logged as
``h <aggregate id> <version> <position> <time>``, after the handler's work (``HANDLER_MS`` of
sleep, a remote write); a commit of the aggregate keyed ``POISON_KEY`` fails, and is parked.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ddbes.model import Commit
from ddbes.projection.projector import Projector
from ddbes.retry import RetryPolicy
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore, DynamoDBLeaseStore

NAME = "group"
LEASE_TTL = 3.0
POLL = 0.1


def main(argv: list[str]) -> None:
    endpoint, table, owner, log_path, slots, handler_ms = argv[:6]
    poison = argv[6] if len(argv) > 6 and argv[6] != "-" else None
    batch_size = int(argv[7]) if len(argv) > 7 else 50
    if os.environ.get("DDBES_GROUP_LOG"):  # the group's decisions, to stderr (diagnostics)
        logging.basicConfig(level=logging.INFO, format=f"%(created).3f {argv[2]} %(message)s")
    log = Path(log_path).open("a", buffering=1)  # noqa: SIM115 (open until the process ends)
    pause = int(handler_ms) / 1000

    def handle(commit: Commit) -> None:
        if commit.aggregate_key == poison:
            raise ValueError(f"poison: {commit.aggregate_id} version {commit.version}")
        time.sleep(pause)
        log.write(f"h {commit.aggregate_id} {commit.version} {commit.position} {time.time():.6f}\n")

    projector = Projector(
        {"*": handle},
        name=NAME,
        commit_store=DynamoDBCommitStore(table, endpoint_url=endpoint),
        checkpoint_store=DynamoDBCheckpointStore(table, endpoint_url=endpoint),
        lease_store=DynamoDBLeaseStore(table, endpoint_url=endpoint),
        owner=owner,
        lease_ttl=LEASE_TTL,
        poll_interval=POLL,
        batch_size=batch_size,
        slots=int(slots),
        on_failure="park",
        retry=RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.02),
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    projector.start(watch=True)
    log.write(f"ready {time.time():.6f}\n")
    while not done.wait(0.2):
        if not projector.running:
            break
    error = projector.stop()
    log.write(f"stopped {error!r} {time.time():.6f} cpu {time.process_time():.2f}\n")


if __name__ == "__main__":
    main(sys.argv[1:])

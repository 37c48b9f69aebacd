"""A projector process for the crash tests: ``python -m tests.projector.crash_worker DB RUN``.

It rebuilds the same deterministic in-memory log every time (so every process reads the same
commits), then catches a SQLite read model up with a SQLite checkpoint store.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ddbes.memory import InMemoryCommitStore
from ddbes.projection.projector import Projector
from tests.projector.helpers import fill
from tests.projector.sqlite_model import CartReadModel, SQLiteCheckpointStore

COMMITS = 20_000
LOG_PARTITIONS = 2
BATCH_SIZE = 500


def build_log() -> InMemoryCommitStore:
    store = InMemoryCommitStore(log_partitions=LOG_PARTITIONS)
    fill(store, COMMITS, keys=200, events=3)
    return store


def main(path: Path, run: str) -> None:
    model = CartReadModel(path, run)
    projector = Projector(
        {"Cart": model.handle},
        name="carts",
        commit_store=build_log(),
        checkpoint_store=SQLiteCheckpointStore(path),
        batch_size=BATCH_SIZE,
    )
    projector.run()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])

"""Migrates a JavaScript table and SIGKILLs itself after a given number of chunks: a crash
with no cleanup of any kind.

``python -m tests.migrate_js.crash_worker ENDPOINT SOURCE TARGET CHUNK_COMMITS KILL_AFTER``
"""

from __future__ import annotations

import os
import signal
import sys

from ddbes_dynamodb import migrate_js
from ddbes_dynamodb.js_migration import MigrationProgress


def main() -> None:
    endpoint, source, target, chunk, kill_after = sys.argv[1:]
    chunks = 0

    def on_progress(progress: MigrationProgress) -> None:
        nonlocal chunks
        if progress.phase == "writing" and progress.done:
            chunks += 1
            if chunks == int(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)

    migrate_js(
        source,
        target,
        endpoint_url=endpoint,
        region_name="us-east-1",
        chunk_commits=int(chunk),
        log_partitions=2,
        on_progress=on_progress,
    )


if __name__ == "__main__":
    main()

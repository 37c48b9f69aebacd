"""Run every benchmark once, in turn; each rewrites its own section of BENCHMARKS.md. Then
regenerate the README's "Why ddbes" table from the headlines they wrote (bench/why.py).

make bench        (or: uv run python -m bench.run_all)
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "bench.alternatives",
    "bench.async_api",
    "bench.typed_otel",
    "bench.dynamodb_alternatives",
    "bench.dynamodb",
    "bench.scale",
    "bench.snapshots",
    "bench.shredding",
    "bench.units",
    "bench.projector",
    "bench.stream",
]


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if subprocess.run([sys.executable, "-m", "bench.why"], check=False).returncode != 0:
        failed.append("bench.why")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

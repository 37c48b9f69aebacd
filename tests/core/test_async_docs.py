"""Every Python example of docs/async.md runs as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import ddbes

DOC = Path(__file__).resolve().parents[2] / "docs" / "async.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_every_async_doc_example_runs_as_written() -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert blocks, "docs/async.md lost its examples"
    namespace: dict[str, object] = {"__name__": "async_docs"}
    ddbes.config.reset()
    try:
        for index, block in enumerate(blocks):
            exec(compile(block, f"docs/async.md[python block {index}]", "exec"), namespace)
    finally:
        ddbes.config.reset()

"""The runnable examples of docs/erasure.md run as written (``py`` blocks need AWS and are
not run)."""

from __future__ import annotations

import re
from pathlib import Path

import ddbes

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "erasure.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_erasure_examples_run_as_written() -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert blocks, "docs/erasure.md lost its example"
    namespace: dict[str, object] = {"__name__": "erasure_doc"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/erasure.md[python block {index}]", "exec"), namespace)
    ddbes.config.reset()

"""Every Python example of the README runs as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import ddbes

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_every_readme_example_runs_as_written() -> None:
    blocks = BLOCK.findall(README.read_text())
    assert len(blocks) >= 8, "the README lost its examples"
    namespace: dict[str, object] = {"__name__": "readme"}
    ddbes.config.reset()
    try:
        for index, block in enumerate(blocks):
            try:
                exec(compile(block, f"README.md[python block {index}]", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"README python block {index} failed:\n{block}") from exc
    finally:
        ddbes.config.reset()

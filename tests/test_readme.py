"""Every Python example of the README runs as written, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import ddbes

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_every_readme_example_runs_as_written() -> None:
    blocks = BLOCK.findall(README.read_text())
    assert len(blocks) >= 8, "the README lost its examples"
    module = types.ModuleType("readme")  # a real module: dataclasses look theirs up
    namespace: dict[str, object] = module.__dict__
    sys.modules["readme"] = module
    ddbes.config.reset()
    try:
        for index, block in enumerate(blocks):
            try:
                exec(compile(block, f"README.md[python block {index}]", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"README python block {index} failed:\n{block}") from exc
    finally:
        ddbes.config.reset()
        sys.modules.pop("readme", None)

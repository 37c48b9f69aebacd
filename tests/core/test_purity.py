"""The core imports the standard library only (DESIGN.md §1)."""

from __future__ import annotations

import json
import subprocess
import sys

CORE_MODULES = [
    "ddbes",
    "ddbes.aggregate",
    "ddbes.codec",
    "ddbes.errors",
    "ddbes.keys",
    "ddbes.memory",
    "ddbes.model",
    "ddbes.ports",
    "ddbes.retry",
    "ddbes.settings",
    "ddbes.upcasting",
    "ddbes.clock",
    "ddbes.testing",
    "ddbes.testing.contracts",
]
OPTIONAL_CORE_MODULES = ["ddbes.projector", "ddbes.filters", "ddbes.leases"]

PROBE = """
import importlib, importlib.util, json, sys
required, optional = json.loads(sys.argv[1])
loaded = []
for name in required + [n for n in optional if importlib.util.find_spec(n) is not None]:
    importlib.import_module(name)
    loaded.append(name)
stdlib = sys.stdlib_module_names
foreign = sorted({m.split(".")[0] for m in sys.modules} - set(stdlib) - {"ddbes", "__main__"})
print(json.dumps({"foreign": foreign, "loaded": loaded}))
"""


def test_the_core_imports_nothing_outside_the_standard_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([CORE_MODULES, OPTIONAL_CORE_MODULES])],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert set(CORE_MODULES) <= set(report["loaded"])
    assert report["foreign"] == [], f"the core imported non-stdlib modules: {report['foreign']}"

"""The core imports the standard library only (DESIGN.md §1)."""

from __future__ import annotations

import json
import subprocess
import sys

CORE_MODULES = ["ddbes", "ddbes.testing", "ddbes.testing.contracts"]
"""Listed by name, so that a module that disappears is noticed; every other module of the
package is found by walking it (the probe below)."""
EDGE_MODULES = {"ddbes.container"}
"""The composition root: the one module allowed to import dependency-injector (DESIGN.md §1)."""

PROBE = """
import importlib, json, pkgutil, sys
required, edge = json.loads(sys.argv[1])
import ddbes
walked = [m.name for m in pkgutil.walk_packages(ddbes.__path__, "ddbes.")]
loaded = []
for name in required + sorted(set(walked) - set(required) - set(edge)):
    importlib.import_module(name)
    loaded.append(name)
stdlib = sys.stdlib_module_names
foreign = sorted({m.split(".")[0] for m in sys.modules} - set(stdlib) - {"ddbes", "__main__"})
print(json.dumps({"foreign": foreign, "loaded": loaded}))
"""


def test_the_core_imports_nothing_outside_the_standard_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([CORE_MODULES, sorted(EDGE_MODULES)])],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert set(CORE_MODULES) <= set(report["loaded"])
    assert {
        "ddbes.aggregates.aggregate",
        "ddbes.aggregates.async_aggregate",
        "ddbes.projector",
        "ddbes.filters",
    } <= set(report["loaded"])
    assert report["foreign"] == [], f"the core imported non-stdlib modules: {report['foreign']}"

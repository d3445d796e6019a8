"""The simulator package stands on its own: it imports nothing from Django (the fleet
runs on machines and in processes without the CSMS's settings), and its modules
import each other without a cycle (each has one job and depends downwards)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import stations.simulator

PACKAGE = stations.simulator.__name__
PACKAGE_DIR = Path(stations.simulator.__file__).parent
ROOT = PACKAGE_DIR.parents[1]
MODULES = sorted(path.stem for path in PACKAGE_DIR.glob("*.py"))

IMPORT_EVERYTHING = """
import importlib, json, sys
import stations.simulator as package
for name in sys.argv[1:]:
    importlib.import_module(f"stations.simulator.{name}")
for name in package.__all__:  # the face loads its names on first use
    getattr(package, name)
print(json.dumps({
    "simulator": sorted(m for m in sys.modules if m.startswith("stations.simulator.")),
    "django": sorted(m for m in sys.modules if m.split(".")[0].startswith("django")),
}))
"""


def test_it_imports_nothing_from_django():
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    imported = json.loads(run.stdout)

    assert {f"{PACKAGE}.{name}" for name in MODULES if name != "__init__"} <= set(imported["simulator"])
    assert imported["django"] == []


def internal_imports(module: str) -> set[str]:
    """The modules of the package that `module` imports, anywhere in it (TYPE_CHECKING blocks too)."""
    names = set()
    for node in ast.walk(ast.parse((PACKAGE_DIR / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):  # the names imported may be modules: from package import x
            base = f"{PACKAGE}.{node.module or ''}" if node.level == 1 else node.module or ""
            names |= {f"{base.rstrip('.')}.{alias.name}" for alias in node.names}
    return {resolve(name) for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")}


def resolve(dotted: str) -> str:
    """stations.simulator.x[.name] -> x; a name the package's face gives -> __init__."""
    first = dotted[len(PACKAGE) :].lstrip(".").split(".")[0]
    return first if first in MODULES else "__init__"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path a -> ... -> a in the import graph, or None."""
    finished, path = set(), []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in finished:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        finished.add(module)
        return None

    return next((cycle for module in MODULES if (cycle := visit(module))), None)


def test_it_has_no_import_cycle_inside_the_package():
    graph = {module: internal_imports(module) - {module} for module in MODULES}

    assert graph["charger"] >= {"charge_point", "sessions", "reactions"}  # the parser sees the imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))

"""The house keeps its floors (docs/architecture.md, "The floors: what may import what").

Read from the syntax tree of every module of ``src/drillkit`` — imports at the top of a module and
inside functions alike (``TYPE_CHECKING`` blocks too: a type is a dependency):

- **no arrow up**: a module imports only its own room or rooms on the floors below (`FLOORS`, bottom
  first); a room is a top-level module or a subpackage;
- **no circle**: no two files import each other, directly or round a loop, also within one room;
- **imports at the top**: an import written inside a function is allowed only for a heavy optional
  dependency that a command may never need, with a ``# deferred:`` comment on its line saying so.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PKG = SRC / "drillkit"

# bottom first; a room may import only rooms listed before it (and itself)
FLOORS = [
    "errors", "labels", "yamlsrc", "timeline", "outcome",      # ground
    "progress", "traffic", "clients",
    "lab",
    "stack",
    "faults",
    "load", "verdicts", "report",
    "drill",
    "scenario",
    "explore",
    "selection", "adhoc", "capacity", "pytest_plugin", "catalogue", "run_events", "cli",   # doors
    "deprecated",
]
# modules that may be imported inside a function (with a `# deferred:` comment): heavy, optional
DEFERRABLE = {"docker", "allure", "matplotlib", "rich", "psycopg", "redis", "testinfra", "uvloop", "PIL",
              "toxiproxy", "requests", "hypothesis"}


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


@functools.lru_cache(maxsize=1)
def imports() -> list[tuple[str, str, int, bool]]:
    """(importer, imported module, line, inside a function) for every import of a drillkit module."""
    mods = modules()
    out = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                names: list[str] = []
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                    names = [f"{child.module}.{a.name}" for a in child.names]
                for n in names:
                    if n.startswith("drillkit."):
                        target = _resolve(n, mods)
                        if target and target != mod:
                            out.append((mod, target, child.lineno, inner))
                visit(child, inner)
        visit(tree, False)
    return out


def test_every_room_has_a_floor():
    rooms = {room(m) for m in modules()} - {"__init__"}
    assert rooms <= set(FLOORS), f"rooms without a floor in FLOORS (and docs/architecture.md): {sorted(rooms - set(FLOORS))}"


def test_no_import_runs_up_a_floor():
    order = {r: i for i, r in enumerate(FLOORS)}
    up = []
    for importer, imported, line, _ in imports():
        a, b = room(importer), room(imported)
        if b == "__init__" or a == b:
            continue
        if order.get(b, -1) > order.get(a, len(FLOORS)):
            up.append(f"{modules()[importer].relative_to(ROOT)}:{line}: {a} imports {imported} (floor {b} is above)")
    assert not up, "imports that run up a floor:\n" + "\n".join(up)


def test_no_circle_between_files():
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, _, _ in imports():
        if not imported.endswith("__init__"):
            graph[importer].add(imported)
    # a package's face (__init__) only hands names on: importing it means importing what it names
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                circles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    faces = {m for m in modules() if modules()[m].name == "__init__.py"}
    real = [c for c in circles if not (set(c) & faces)]
    assert not real, "import circles:\n" + "\n".join(" -> ".join(c) for c in real)


def test_imports_inside_functions_are_only_deferred_heavy_ones():
    bad = []
    for mod, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                top = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) or ""
                comment = " ".join(lines[node.lineno - 1:node.end_lineno])
                if top.split(".")[0] in DEFERRABLE and "# deferred:" in comment:
                    continue
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {comment.strip()}")
    bad = sorted(set(bad))
    assert not bad, ("imports inside functions (move them to the top; only a heavy optional dependency may be "
                     "deferred, with `# deferred: why` on its line):\n" + "\n".join(bad))

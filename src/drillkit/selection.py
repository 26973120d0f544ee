"""Which environments the selected drills use — so `drill run` builds those images and no others.

Read without running anything: a YAML scenario names its ``environment:`` (validated as when it is
collected); a Python drill names it in ``@pytest.mark.drill("<environment>", ...)`` (or
``environment=...``, also in a module's ``pytestmark``), and a drill whose marker names none — or a
test that only asks for the ``drill``/``drill_env`` fixture — uses the default environment
(``--drill-env`` / ``DRILLKIT_ENVIRONMENT``; none if not set).
"""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["environments_used"]

_DRILL_FIXTURES = {"drill", "drill_env"}


def environments_used(paths: list[str], default: str | None = None) -> list[str]:
    """Environment references (names or Compose paths) the drills under ``paths`` use, each once
    (by the Compose file it resolves to), in the order first seen."""
    out: list[str] = []
    seen: set[str] = set()
    for ref in _refs(paths, default):
        key = _key(ref)
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out


def _key(ref: str) -> str:
    from drillkit.errors import ConfigError
    from drillkit.lab.compose import find_environment
    try:
        return str(find_environment(ref).resolve())
    except (ConfigError, OSError):
        return ref


def _files(paths: list[str]):
    for raw in paths:
        p = Path(raw.split("::", 1)[0])
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and not any(x.startswith(".") for x in f.parts):
                    yield f
        elif p.is_file():
            yield p


def _refs(paths: list[str], default: str | None):
    from drillkit.scenario.model import looks_like_scenario
    for f in _files(paths):
        if f.suffix in (".yaml", ".yml") and looks_like_scenario(f):
            ref = _scenario_environment(f)
            if ref:
                yield ref
        elif f.suffix == ".py" and (f.name.startswith("test_") or f.name.endswith("_test.py")):
            yield from (ref for ref in _python_environments(f, default) if ref)   # none: pytest says so


def _scenario_environment(f: Path) -> str | None:
    from drillkit.errors import DrillkitError
    from drillkit.scenario.model import load_scenario
    try:
        return load_scenario(f).environment
    except DrillkitError:   # pytest reports the file's one-line error when it collects it
        return None


def _is_drill_marker(node: ast.AST) -> bool:
    """``pytest.mark.drill(...)`` or ``mark.drill(...)``."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "drill" \
        and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark"


def _marker_environment(call: ast.Call, default: str | None) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for kw in call.keywords:
        if kw.arg == "environment" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return default


def _python_environments(f: Path, default: str | None):
    try:
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return
    module_marker: str | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            for call in ast.walk(node.value):
                if _is_drill_marker(call):
                    module_marker = _marker_environment(call, default)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith("test"):
            continue
        marked = [d for d in node.decorator_list if _is_drill_marker(d)]
        if marked:
            yield _marker_environment(marked[0], default)   # the closest marker wins, as in pytest
        elif module_marker is not None:
            yield module_marker
        elif _DRILL_FIXTURES & {a.arg for a in node.args.args}:
            yield default

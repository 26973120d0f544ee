"""The drills a command is given: each path named on the command line checked first
(`check_paths`), and which environments the selected drills use — so `drill run` builds those
images and no others.

Read without running anything: a YAML scenario names its ``environment:`` (validated as when it is
collected); a Python drill names it in ``@pytest.mark.drill("<environment>", ...)`` (or
``environment=...``, also in a module's ``pytestmark``), and a drill whose marker names none — or a
test that only asks for the ``drill``/``drill_env`` fixture — uses the default environment
(``--drill-env`` / ``DRILLKIT_ENVIRONMENT``; none if not set).
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

from drillkit.errors import ConfigError, DrillkitError
from drillkit.lab.compose import find_environment
from drillkit.scenario.model import load_scenario, looks_like_scenario
from drillkit.yamlsrc import read_text_file

__all__ = ["environments_used", "check_paths"]

_NOT_A_DRILL_FIX = "name a drill (test_*.py), a scenario (*.yaml with `scenario:`) or a folder of them"


def check_paths(paths: list[str], *, scenarios: bool = False) -> list[ConfigError]:
    """Each path named on the command line (`drill run PATH`, `drill list PATH`), checked before
    anything is collected or started: one error each — no such file or folder, a FIFO or device
    (never opened), an empty, binary, too large or non-UTF-8 file, a YAML file that is no scenario, a
    file that is no drill at all. With ``scenarios`` every scenario named or found in a named folder
    is validated too (`drill run`: a bad one is refused before the engine is asked anything);
    without, the collection says what is wrong inside them."""
    errors: list[ConfigError] = []
    if scenarios:
        for f in _files([raw for raw in paths if Path(raw.split("::", 1)[0]).is_dir()]):
            if f.suffix in (".yaml", ".yml") and looks_like_scenario(f):
                try:
                    load_scenario(f)
                except ConfigError as exc:
                    errors.append(exc)
    for raw in paths:
        p = Path(raw.split("::", 1)[0])
        try:
            mode = os.stat(p).st_mode
        except FileNotFoundError:
            errors.append(ConfigError("no such file or folder", file=str(p),
                                      fix="check the path (drills are test_*.py files and *.yaml scenarios)"))
            continue
        except OSError as exc:
            errors.append(ConfigError(f"cannot read it: {exc.strerror or exc}", file=str(p),
                                      fix="check the path and its permissions"))
            continue
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            errors.append(ConfigError("not a regular file (a FIFO, socket or device), not a drill", file=str(p),
                                      fix=_NOT_A_DRILL_FIX))
            continue
        if p.suffix in (".yaml", ".yml"):
            what = "a scenario"
        elif p.suffix == ".py":
            what = "a Python drill"
        else:
            errors.append(ConfigError(f"not a drill ({p.suffix or 'no'} file)", file=str(p), fix=_NOT_A_DRILL_FIX))
            continue
        try:
            read_text_file(p, what=what)
        except ConfigError as exc:
            errors.append(exc)
            continue
        if what == "a scenario" and not looks_like_scenario(p):
            errors.append(ConfigError("not a scenario: no `scenario:` key at the top", file=str(p), line=1,
                                      fix="start a scenario with `scenario: <one sentence>` (a Compose file is "
                                          "checked with `drill validate` and used with -e)"))
        elif what == "a scenario" and scenarios:
            try:
                load_scenario(p)
            except ConfigError as exc:
                errors.append(exc)
    return errors

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
    for f in _files(paths):
        if f.suffix in (".yaml", ".yml") and looks_like_scenario(f):
            ref = _scenario_environment(f)
            if ref:
                yield ref
        elif f.suffix == ".py" and (f.name.startswith("test_") or f.name.endswith("_test.py")):
            yield from (ref for ref in _python_environments(f, default) if ref)   # none: pytest says so


def _scenario_environment(f: Path) -> str | None:
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

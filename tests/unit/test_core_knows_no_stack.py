"""drillkit's core knows no stack (docs/plugins.md, DESIGN.md "Stacks plug in; the core knows none").

Two checks over every module of ``src/drillkit``:

- **imports** (read from the syntax tree, including ``importlib.import_module("...")`` and
  ``__import__("...")`` with a literal name): nothing from ``environments``/``examples``, no
  ``drillkit.stacks``, and none of the stack plug-in modules that Compose files name
  (``x-drillkit.plugin``);
- **names**: no stack name (the ``x-drillkit.stack`` and folder of every shipped environment and
  example) in identifiers, string literals, docstrings or comments. A docstring or comment that cites
  SCENARIOS.md may use one as an example. "registry" is also the common noun of the fault and verdict
  tables (and of package/image registries): those few generic uses are listed below, each with why.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "drillkit"

# "registry" as a common noun, not the stack: the fault registry, the verdict registry (modules
# drillkit.faults.kinds / drillkit.verdicts.table and what they hold), package and image registries
GENERIC = re.compile(
    r"(fault|faults|verdict|verdicts|npm|container|image|a|its)[ ./`]+registry\b"
    r"|\bregistry[ `]+(key|column|entry|entries)\b"
    r"|registry-1\.docker\.io"
    # the double-booking verdict's own words: a booking of a slot, as in any booking system
    r"|\b(active|double|a) booking\b|\bbooking( id|\(s\))",
    re.I)


def _compose_files() -> list[Path]:
    return sorted(ROOT.glob("environments/*/compose.yaml")) + sorted(ROOT.glob("examples/**/compose.yaml"))


def _x_drillkit(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    return data.get("x-drillkit") or {}


@functools.lru_cache(maxsize=1)
def stack_names() -> frozenset[str]:
    names: set[str] = set()
    for f in _compose_files():
        names.add(f.parent.name)
        names.add(str(_x_drillkit(f).get("stack") or f.parent.name))
    return frozenset(names)


@functools.lru_cache(maxsize=1)
def plugin_modules() -> frozenset[str]:
    """Module names of the stack plug-ins Compose files name (``./drill_plugin.py:plugin`` ->
    ``drill_plugin``; ``pkg.mod:plugin`` -> ``pkg.mod``)."""
    out: set[str] = set()
    for f in _compose_files():
        ref = _x_drillkit(f).get("plugin")
        if isinstance(ref, str) and ":" in ref:
            mod = ref.rsplit(":", 1)[0]
            out.add(Path(mod).stem if mod.endswith(".py") or "/" in mod else mod)
    return frozenset(out)


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}".lstrip(".")) for a in node.names]
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                out.append((node.lineno, node.args[0].value))
    return out


def test_there_are_stacks_and_plugins_to_look_for():
    assert {"registry", "booking", "identity"} <= stack_names()
    assert plugin_modules(), "no Compose file names a stack plug-in: the import check would prove nothing"


CORE_TABLES = ("drillkit.faults.kinds", "drillkit.verdicts.table")   # "registry": the core's own tables


def forbidden_import(name: str) -> bool:
    parts = name.lstrip(".").split(".")
    if parts[0] in ("environments", "examples") or name.startswith("drillkit.stacks"):
        return True
    if any(p in plugin_modules() for p in parts) or name in plugin_modules():
        return True
    if name.startswith(CORE_TABLES) or name in ("drillkit.faults", "drillkit.verdicts"):
        return False
    return any(p in stack_names() for p in parts)


def test_the_core_imports_no_stack():
    bad = [f"{f.relative_to(ROOT)}:{line}: imports {name}"
           for f in core_modules()
           for line, name in imported_names(ast.parse(f.read_text(), filename=str(f)))
           if forbidden_import(name)]
    assert not bad, "\n".join(bad)


def _docstring_lines(tree: ast.AST) -> set[int]:
    """First lines of the module's, classes' and functions' docstrings (tokenize sees them as strings)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                out.add(first.lineno)
    return out


def stack_mentions(text: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, word) of every stack name in identifiers, strings, docstrings and comments of ``text``.
    The identifier ``registry`` is allowed where the module binds it to one of the core's tables
    (``from drillkit.faults import registry``)."""
    tree = ast.parse(text)
    docstrings = _docstring_lines(tree)
    table_alias = re.search(r"from drillkit\.(faults|verdicts) import (\w+ as \w+, |\w+, )*registry\b", text)
    word = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, names))) + r")(?![\w-])", re.I)
    found = []
    prev: list[str] = ["", ""]
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        s = tok.string
        if tok.type == tokenize.NAME:
            in_table_path = prev[-1] == "." and prev[-2] in ("faults", "verdicts")   # drillkit.faults.kinds
            if s in names and not (s == "registry" and (table_alias or in_table_path)):
                found.append((tok.start[0], s))
        elif tok.type in (tokenize.STRING, tokenize.COMMENT):
            prose = tok.type == tokenize.COMMENT or tok.start[0] in docstrings
            if prose and "SCENARIOS.md" in s:
                continue          # an example that cites the incidents the drills trace back to
            if table_alias:       # f"{registry.FAULTS}": the alias used inside an f-string
                s = re.sub(r"\bregistry\.(?=[A-Za-z_])", "", s)
            found += [(tok.start[0], m.group(0)) for m in word.finditer(GENERIC.sub("", s))]
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            prev = [prev[-1], s]
    return found


def test_the_core_names_no_stack():
    names = stack_names()
    bad = [f"{f.relative_to(ROOT)}:{line}: {what!r}"
           for f in core_modules() for line, what in stack_mentions(f.read_text(), names)]
    assert not bad, "the core names a stack:\n" + "\n".join(bad)


def test_the_name_check_catches_a_stack_name():
    """The check itself, proven both ways: it finds a stack named in code, a string and a comment, and
    lets the generic noun, the core's table module and a SCENARIOS.md example pass."""
    text = ('"""Shapes of load, e.g. the overload of SCENARIOS.md (booking, incident 3)."""\n'
            'from drillkit.faults import registry\n'
            'DEFAULT = "booking"      # the identity stack\n'
            'booking = registry.FAULTS  # the fault registry\n')
    assert stack_mentions(text, stack_names()) == [(3, "booking"), (3, "identity"), (4, "booking")]
    assert stack_mentions("registry = 1\n", stack_names()) == [(1, "registry")]

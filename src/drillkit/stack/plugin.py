"""Stack plug-ins: what a stack adds to drillkit in code, next to what its Compose file declares as data.

drillkit's core knows no stack. A stack offers optional capabilities (Jepsen's ``db.clj`` model):

- **user kinds** — synthetic users (``users: {clerks: 20}``): ``name ->`` a
  `drillkit.clients.CodeKind` (or a factory ``f(i) -> Client``)
- **clients** — client classes for any protocol (``open / invoke / close``): ``kind -> class``
- **ground-truth readers** — what the stack holds after recovery: ``name -> reader(env)`` returning a
  `drillkit.stack.truth.GroundTruth`, a list of ids, or ``{"ids": [...], "<column>": [...]}``
- **runbook steps** — step kinds a runbook may use: ``kind -> fn(env, timeline, **attrs)``

Most of it is data in the Compose file's ``x-drillkit`` (readers, runbooks, roles, user kinds); a
plug-in is for the rest. A plug-in is a `StackPlugin` found in one of two ways:

1. ``x-drillkit: {plugin: ./drill_plugin.py:plugin}`` — ``module:attr`` where the module is a file
   path relative to the Compose file, or an importable module (``mystack.drills:plugin``);
2. an installed distribution's entry point in the group ``drillkit.stacks`` whose name is the stack
   (``x-drillkit.stack``)::

       [project.entry-points."drillkit.stacks"]
       permits = "permits_drills:plugin"

The attribute may be a `StackPlugin`, or a function without arguments that returns one.
`plugin_for(spec)` merges, later winning over earlier for the same name: built-ins < the entry
point's plug-in < ``x-drillkit.plugin`` < the Compose file's data. A plug-in step kind may not reuse
a built-in kind (``exec``, ``wait_until``, ...). A bad reference is a one-line `ConfigError` naming the
Compose file, the line and the fix — before anything starts. See docs/plugins.md.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from drillkit.errors import ConfigError
from drillkit.stack.reference import load_reference
from drillkit.stack.runbook import BUILTIN_STEPS

__all__ = ["StackPlugin", "plugin_for", "load_plugin", "entry_point_plugin", "code_steps", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "drillkit.stacks"


@dataclass
class StackPlugin:
    """What a stack adds in code. Every mapping is optional; names are what YAML uses."""

    name: str = ""
    users: dict[str, Callable] = field(default_factory=dict)         # user kind -> factory
    clients: dict[str, type] = field(default_factory=dict)           # client kind -> Client class
    ground_truth: dict[str, Callable] = field(default_factory=dict)  # name -> reader(env)
    steps: dict[str, Callable] = field(default_factory=dict)         # step kind -> fn(env, timeline, **attrs)

    def merged(self, other: "StackPlugin | None") -> "StackPlugin":
        """A new plug-in: this one's entries, then ``other``'s (which win for the same name)."""
        if other is None:
            return StackPlugin(self.name, dict(self.users), dict(self.clients), dict(self.ground_truth),
                               dict(self.steps))
        return StackPlugin(other.name or self.name, {**self.users, **other.users},
                           {**self.clients, **other.clients}, {**self.ground_truth, **other.ground_truth},
                           {**self.steps, **other.steps})


def _as_plugin(obj: Any, where: str, *, file: str | None, line: int | None, field: str) -> StackPlugin:
    if isinstance(obj, type(sys)) and hasattr(obj, "plugin"):
        obj = obj.plugin
    if not isinstance(obj, StackPlugin) and callable(obj) and not isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise ConfigError(f"plug-in factory {where} failed: {type(exc).__name__}: {exc}", file=file, line=line,
                              field=field, fix="a factory takes no arguments and returns a StackPlugin") from None
    if not isinstance(obj, StackPlugin):
        raise ConfigError(f"{where} is a {type(obj).__name__}, not a StackPlugin", file=file, line=line,
                          field=field, fix="plugin = drillkit.stack.plugin.StackPlugin(name=..., steps={...}, ...)")
    for section in ("users", "clients", "ground_truth", "steps"):
        entries = getattr(obj, section)
        if not isinstance(entries, dict):
            raise ConfigError(f"{where}: {section} must be a dict", file=file, line=line, field=field,
                              fix=f"{section}={{'name': callable}}")
        for key, fn in entries.items():
            if not isinstance(key, str) or not callable(fn):
                raise ConfigError(f"{where}: {section}[{key!r}] is not callable", file=file, line=line, field=field,
                                  fix=f"map each name of {section} to a function or class")
    clash = sorted(set(obj.steps) & set(BUILTIN_STEPS))
    if clash:
        raise ConfigError(f"{where}: step kind {clash[0]!r} is built in", file=file, line=line, field=field,
                          fix=f"give the plug-in's step another name (built in: {', '.join(BUILTIN_STEPS)})")
    return obj


def load_plugin(ref: Any, base_dir: Path | None, *, file: str | None = None, line: int | None = None,
                field: str = "x-drillkit.plugin") -> StackPlugin:
    """Load and check the plug-in named by ``x-drillkit.plugin``."""
    obj = load_reference(ref, base_dir, file=file, line=line, field=field, what="plug-in")
    return _as_plugin(obj, str(ref), file=file, line=line, field=field)


@functools.lru_cache(maxsize=64)
def entry_point_plugin(stack: str) -> StackPlugin | None:
    """The plug-in registered for ``stack`` in the entry-point group ``drillkit.stacks``, if any."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == stack]
    if not found:
        return None
    ep = found[0]
    where = f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP})"
    try:
        obj = ep.load()
    except Exception as exc:
        raise ConfigError(f"{where} failed to load: {type(exc).__name__}: {exc}", field=ENTRY_POINT_GROUP,
                          fix="fix or uninstall the distribution that registers it") from None
    return _as_plugin(obj, where, file=None, line=None, field=ENTRY_POINT_GROUP)


# -- the merged view ------------------------------------------------------------------------------
def _builtins(spec: Any) -> StackPlugin:
    """What drillkit itself offers every stack: nothing stack-specific (the core knows no stack); the
    built-in step kinds and reader kinds are part of the data language, not of this merge."""
    return StackPlugin(name="drillkit")


def _from_data(spec: Any) -> StackPlugin:
    """The Compose file's ground-truth readers as plug-in entries (user kinds and clients declared as
    data are looked up before any plug-in: `drillkit.clients.kinds.lookup`)."""
    return StackPlugin(name=getattr(spec, "stack", ""), ground_truth=dict(getattr(spec, "ground_truth", {}) or {}))


def plugin_for(spec: Any) -> StackPlugin:
    """Everything a stack offers, merged: built-ins < entry point < x-drillkit.plugin < x-drillkit data."""
    merged = _builtins(spec)
    merged = merged.merged(entry_point_plugin(getattr(spec, "stack", "")))
    merged = merged.merged(getattr(spec, "plugin", None))
    merged = merged.merged(_from_data(spec))
    merged.name = getattr(spec, "stack", "") or merged.name
    return merged


def code_steps(spec: Any) -> dict[str, Callable]:
    """Runbook step kinds the stack's plug-ins add (entry point, then x-drillkit.plugin)."""
    steps: dict[str, Callable] = {}
    ep = entry_point_plugin(getattr(spec, "stack", ""))
    if ep is not None:
        steps.update(ep.steps)
    if getattr(spec, "plugin", None) is not None:
        steps.update(spec.plugin.steps)
    return steps

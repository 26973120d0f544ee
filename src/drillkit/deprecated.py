"""Old module paths, kept working with a `DeprecationWarning` naming the new one.

drillkit 0.2 gave the stack contract a floor of its own (`drillkit.stack`) and gave modules names
that say what they are. Code written for 0.1 — a stack plug-in's ``from drillkit.plugins import
StackPlugin``, a script's ``from drillkit.scenario.model import load_scenario`` — still imports;
each old path is the new module under its old name. Installed by ``drillkit/__init__.py``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED", "install"]

# old module path -> new one (0.1 -> 0.2)
MOVED = {
    "drillkit.plugins": "drillkit.stack.plugin",
    "drillkit.roles": "drillkit.stack.roles",
    "drillkit.truth": "drillkit.stack.truth",
    "drillkit.runbook": "drillkit.stack.runbook",
    "drillkit.effective_config": "drillkit.stack.config",
    "drillkit.clients.scenario": "drillkit.scenario.traffic",
    "drillkit.faults.registry": "drillkit.faults.kinds",
    "drillkit.verdicts.registry": "drillkit.verdicts.table",
    "drillkit.scenario.plugin": "drillkit.scenario.collect",
    "drillkit.load.capacity": "drillkit.capacity",
    "drillkit.lab.docker_client": "drillkit.lab.engine",
    "drillkit.lab.docker_backend": "drillkit.lab.backends.docker.backend",
    "drillkit.lab.swarm": "drillkit.lab.backends.swarm",
    "drillkit.lab.swarm.backend": "drillkit.lab.backends.swarm.backend",
    "drillkit.lab.swarm.cluster": "drillkit.lab.backends.swarm.cluster",
    "drillkit.lab.swarm.plan": "drillkit.lab.backends.swarm.plan",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and hands out the new module under it."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname == "drillkit.lab.swarm")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} is now {new}; the old name goes in drillkit 0.3", DeprecationWarning,
                      stacklevel=6)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The new module is complete already."""


def install() -> None:
    """Put the alias finder on the import path (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())   # before the path finder: an old name never loads a module twice

"""Fault kinds by name: the same classes serve Python drills and YAML scenarios.

A fault class registers itself with ``@register("kill")``; its ``__init__`` keyword parameters
(after ``target``) are its attributes in a scenario, validated against the signature. ``max_nodes``
and ``heal`` (``start``, ``none`` or a runbook step as a callable, see faults/base.py) belong to every
kind and are not listed among its attributes.

The families are found by themselves: every module of this package is imported once (a new family
is a new module, no list to edit), so every kind is known before the first lookup.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

from drillkit.errors import ConfigError
from drillkit.faults.base import HEAL_MODES, Fault

__all__ = ["register", "FAULTS", "create", "parameters", "load_all"]

FAULTS: dict[str, type] = {}


def register(kind: str):
    def deco(cls):
        if kind in FAULTS and FAULTS[kind] is not cls:
            raise RuntimeError(f"fault kind {kind!r} registered twice")
        cls.kind = kind
        FAULTS[kind] = cls
        return cls
    return deco


_FAMILIES_LOADED = False
_NOT_FAMILIES = {"__init__", "base", "kinds"}


def load_all() -> dict[str, type]:
    """Import every fault family of this package (once); returns the kinds by name."""
    global _FAMILIES_LOADED
    if not _FAMILIES_LOADED:
        for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if mod.name not in _NOT_FAMILIES:
                importlib.import_module(f"drillkit.faults.{mod.name}")
        _FAMILIES_LOADED = True
    return FAULTS


def parameters(kind: str) -> dict[str, inspect.Parameter]:
    """Keyword parameters a kind takes besides ``target``, ``max_nodes`` and ``heal``."""
    cls = load_all()[kind]
    sig = inspect.signature(cls.__init__)
    return {n: p for n, p in sig.parameters.items()
            if n not in ("self", "target", "max_nodes", "heal") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def create(kind: str, target: Any = None, *, where: str = "fault", file: str | None = None,
           line: int | None = None, **params: Any) -> Fault:
    load_all()
    if kind not in FAULTS:
        raise ConfigError(f"unknown fault kind {kind!r}", file=file, line=line, field=f"{where}.kind",
                          fix=f"use one of {', '.join(sorted(FAULTS))}")
    allowed = parameters(kind)
    max_nodes = params.pop("max_nodes", None)
    heal = params.pop("heal", "start")
    if not (isinstance(heal, str) and heal in HEAL_MODES or callable(heal) and not isinstance(heal, (str, type))):
        raise ConfigError(f"heal must be {' or '.join(HEAL_MODES)} or a runbook step, got {heal!r}", file=file,
                          line=line, field=f"{where}.heal",
                          fix="heal: start (undo the fault), heal: none (leave it as it is) or a runbook step")
    for name in params:
        if name not in allowed:
            raise ConfigError(f"fault {kind!r} has no attribute {name!r}", file=file, line=line,
                              field=f"{where}.{name}",
                              fix=f"{kind} takes {', '.join(allowed) or 'no attributes'}")
    missing = [n for n, p in allowed.items() if p.default is p.empty and n not in params]
    if missing:
        raise ConfigError(f"fault {kind!r} needs {missing[0]!r}", file=file, line=line,
                          field=f"{where}.{missing[0]}", fix=f"add {missing[0]}: ...")
    fault = FAULTS[kind](target, max_nodes=max_nodes, heal=heal, **params)
    fault.attrs = dict(params)
    return fault

"""User kinds and client kinds by name: the one place a name of ``x-drillkit.users`` /
``x-drillkit.clients`` (or of the stack's plug-in) becomes a kind, and a pool of it.

Looked up in this order: the environment's data (its Compose file), then the stack's plug-in
(``x-drillkit.plugin`` or its entry point: :class:`~drillkit.clients.CodeKind`, factories
``f(i) -> Client``, Client classes).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from drillkit.clients.contract import Client
from drillkit.clients.declare import ClientSpec
from drillkit.clients.journey import UserKind
from drillkit.clients.kinds import CodeKind, pool_of
from drillkit.clients.pool import ClientPool
from drillkit.errors import ConfigError
from drillkit.stack.model import stack_of
from drillkit.stack.plugin import plugin_for
from drillkit.stack.roles import RoleLocator

__all__ = ["lookup", "kind_names", "pool_for"]


def lookup(spec: Any, name: str, section: str) -> UserKind | ClientSpec | Callable[[int], Client] | None:
    """The kind called ``name`` in ``section`` (``users`` or ``clients``) of an environment, or None.

    Looked up in this order:
    1. the environment's data: ``x-drillkit.users`` / ``x-drillkit.clients`` of its Compose file;
    2. the stack's plug-in (``x-drillkit.plugin`` or its entry point): code-defined kinds
       (:class:`CodeKind`, factories ``f(i) -> Client``, Client classes).
    """
    if spec is None:
        return None
    declared = getattr(stack_of(spec), section)
    if name in declared:
        return declared[name]
    found = getattr(plugin_for(spec), section).get(name)
    if isinstance(found, CodeKind) and not found.name:
        found = dataclasses.replace(found, name=name)
    return found


def kind_names(spec: Any, section: str) -> list[str]:
    """Every kind of ``section`` an environment offers: its data, then its plug-in's code."""
    if spec is None:
        return []
    names = list(getattr(stack_of(spec), section))
    names += [n for n in getattr(plugin_for(spec), section) if n not in names]
    return names


def pool_for(kind: Any, count: int | None, *, timeline: Any, env: Any = None, section: str = "users",
             **opts: Any) -> ClientPool:
    """A (not yet started) pool of ``count`` clients of ``kind``; a name is looked up in ``env``'s
    stack, anything else is a kind object (:func:`drillkit.clients.kinds.pool_of`). Its clients find
    the stack's roles through a `RoleLocator` (a Redis client with ``role: primary``)."""
    label = opts.pop("name", "") or ""
    name = label
    if isinstance(kind, str):
        spec = getattr(env, "spec", None)
        found = lookup(spec, kind, section)
        if found is None:
            have = kind_names(spec, section)
            raise ConfigError(f"no {section[:-1]} kind {kind!r} in this environment", field=section,
                              fix=f"declare it under x-drillkit.{section} (have: {', '.join(have) or 'none'})")
        name, kind = kind, found
    if getattr(getattr(env, "spec", None), "roles", None):
        opts.setdefault("roles", RoleLocator(env))     # clients that follow a role ask the stack where it is
    return pool_of(kind, count, timeline=timeline, env=env, section=section, name=name, label=label, **opts)

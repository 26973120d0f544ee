"""From a kind (a name, a data definition, or a Client class / factory) to a running pool.

:func:`lookup` is the one place where user kinds and client kinds are found by name.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from drillkit.clients.contract import Client
from drillkit.clients.declare import ClientSpec
from drillkit.clients.journey import HttpJourney, UserKind
from drillkit.clients.pool import ClientPool
from drillkit.errors import ConfigError

__all__ = ["lookup", "pool_for", "factory_for", "KIND_OPTIONS"]

KIND_OPTIONS = ("timeout", "first")   # options that change a kind declared as data (the rest: the pool's)


def lookup(spec: Any, name: str, section: str) -> UserKind | ClientSpec | Callable[[int], Client] | None:
    """The kind called ``name`` in ``section`` (``users`` or ``clients``) of an environment, or None.

    Looked up in this order:
    1. the environment's data: ``x-drillkit.users`` / ``x-drillkit.clients`` of its Compose file;
    2. the stack's plug-in: code-defined kinds (factories / Client classes).
    """
    declared = getattr(spec, section, None) or {}
    if name in declared:
        return declared[name]
    # -- PLUG-IN LOOKUP (the one place) --------------------------------------------------------------
    # TODO(doors, after merge): code-defined kinds of a stack plug-in. With drillkit.plugins landed:
    #     from drillkit.plugins import plugin_for
    #     found = getattr(plugin_for(spec), section).get(name)
    #     if found is not None:
    #         return found
    return None


def factory_for(kind: Any, *, name: str = "") -> tuple[Callable[[int], Client], dict[str, Any]]:
    """``make_client(i)`` for a kind, and the kind's own pool defaults (think, seed, count)."""
    if isinstance(kind, UserKind):
        return (lambda i: HttpJourney(kind, kind.client_name(i), i)), \
            {"think": kind.think, "seed": kind.seed, "count": kind.count, "name": kind.name}
    if isinstance(kind, ClientSpec):
        return kind.make, {"think": kind.think, "seed": kind.seed, "count": kind.count, "name": kind.name}
    if inspect.isclass(kind) and issubclass(kind, Client):
        label = name or kind.__name__.lower()
        return (lambda i: kind()), {"name": label}
    if callable(kind):
        return kind, {"name": name or getattr(kind, "__name__", "clients")}
    raise ConfigError(f"{kind!r} is not a user or client kind", field="kind",
                      fix="pass a kind's name, a UserKind/ClientSpec, a Client subclass or a factory(i) -> Client")


def pool_for(kind: Any, count: int | None, *, timeline: Any, env: Any = None, section: str = "users",
             **opts: Any) -> ClientPool:
    """A (not yet started) pool of ``count`` clients of ``kind``; a name is looked up in ``env``."""
    if isinstance(kind, str):
        found = lookup(getattr(env, "spec", None), kind, section)
        if found is None:
            have = sorted((getattr(getattr(env, "spec", None), section, None) or {}))
            raise ConfigError(f"no {section[:-1]} kind {kind!r} in this environment", field=section,
                              fix=f"declare it under x-drillkit.{section} (have: {', '.join(have) or 'none'})")
        name = kind
        kind = found
    else:
        name = opts.pop("name", "")
    if "name" in opts:
        name = opts.pop("name") or name
    kind_opts = {k: opts.pop(k) for k in KIND_OPTIONS if opts.get(k) is not None}
    if kind_opts:
        if not hasattr(kind, "with_options"):
            raise ConfigError(f"{', '.join(kind_opts)} apply to kinds declared as data only", field=section,
                              fix="pass them to your Client class yourself")
        kind = kind.with_options(**kind_opts)
    make, defaults = factory_for(kind, name=name)
    count = count if count is not None else defaults.get("count")
    if count is None:
        raise ConfigError(f"how many {defaults['name']}?", field=f"{section}.count", fix="give a count")
    pool_opts = {"think": defaults.get("think", 0.2), "seed": defaults.get("seed", 0), "name": defaults["name"]}
    pool_opts.update({k: v for k, v in opts.items() if v is not None})
    base_url = pool_opts.pop("base_url", None)
    return ClientPool(make, count, timeline=timeline, env=env, base_url=base_url, **pool_opts)

"""What an arrival does: a user kind or client of the environment, by name, or one given as code.

Names are looked up as everywhere else (:func:`drillkit.stack.kinds.lookup`): the environment's
``x-drillkit.users``, then ``x-drillkit.clients`` (and code-defined kinds of the stack's plug-in).
"""

from __future__ import annotations

from typing import Any

from drillkit.clients.kinds import factory_for
from drillkit.errors import ConfigError
from drillkit.load.generator import Action
from drillkit.stack.kinds import kind_names as stack_kind_names
from drillkit.stack.kinds import lookup

__all__ = ["resolve_actions", "known_kinds", "kind_names"]


def kind_names(spec: Any) -> list[str]:
    """Names a load may use in this environment."""
    out = stack_kind_names(spec, "users")
    out += [n for n in stack_kind_names(spec, "clients") if n not in out]
    return out


def known_kinds(spec: Any, extra: dict[str, Any] | None = None):
    """``known(name)`` for :func:`drillkit.load.spec.parse_load`."""
    def known(name: str) -> bool:
        return bool(extra and name in extra) or lookup(spec, name, "users") is not None \
            or lookup(spec, name, "clients") is not None
    return known


def _find(spec: Any, name: str, extra: dict[str, Any] | None) -> Any:
    if extra and name in extra:
        return extra[name]
    for section in ("users", "clients"):
        found = lookup(spec, name, section)
        if found is not None:
            return found
    raise ConfigError(f"no user kind or client {name!r} in environment {getattr(spec, 'name', '?')!r}",
                      field="load.actions",
                      fix=f"declare it under x-drillkit.users or x-drillkit.clients (have: "
                          f"{', '.join(kind_names(spec)) or 'none'})")


def resolve_actions(actions: Any, spec: Any = None, *, extra: dict[str, Any] | None = None,
                    timeout: float | None = None) -> list[Action]:
    """``"citizens"`` | ``["a", "b"]`` | ``{"a": 3, "b": 1}`` | ``[(kind, weight)]`` | a kind object ->
    actions. Kinds declared as data get the load's ``timeout`` as their request timeout."""
    if isinstance(actions, (str,)) or not isinstance(actions, (list, tuple, dict)):
        items = [(actions, 1.0)]
    elif isinstance(actions, dict):
        items = list(actions.items())
    else:
        items = [a if isinstance(a, tuple) else (a, 1.0) for a in actions]
    out = []
    for kind, weight in items:
        name = kind if isinstance(kind, str) else getattr(kind, "name", "") or getattr(kind, "__name__", "action")
        found = _find(spec, kind, extra) if isinstance(kind, str) else kind
        if timeout is not None and hasattr(found, "with_options"):
            found = found.with_options(timeout=timeout)
        make, _ = factory_for(found, name=name)
        out.append(Action(str(name), make, float(weight)))
    return out

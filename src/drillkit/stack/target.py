"""Which nodes: a `Target` names a service, a replica, a zone, a seeded random member, or a role
(resolved when it is used, so after a failover it has moved with the role). Fault targets, runbook
steps and ground-truth readers all name nodes this way. `Targets` names several at once — a list
(``target: [app-1, app-2, app-3]``) or a group of ``x-drillkit.groups`` — for one fault over all of
them (a rolling upgrade of app nodes that are three services).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drillkit.errors import ConfigError, FaultError
from drillkit.stack.roles import RoleError, RoleSpec, resolve_role
from drillkit.yamlsrc import line_of

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment
    from drillkit.lab.node import Node

__all__ = ["Target", "Targets", "as_target", "parse_node_ref", "describe_ref", "NODE_REF_KEYS"]


@dataclass(frozen=True)
class Target:
    """Which nodes a fault hits: by service, replica, zone, a seeded random member, or a role
    (``role="primary"``: the node holding it when the fault is injected, see `drillkit.stack.roles`)."""

    service: str | None = None
    replica: int | None = None
    zone: str | None = None
    random_member: bool = False
    seed: int = 0
    role: str | None = None

    def resolve(self, env: Environment) -> list[Node]:
        if self.role is not None:
            try:
                return [resolve_role(env, self.role, self.service)]
            except RoleError as exc:
                raise FaultError(exc.message, fix=exc.fix) from None
        nodes = [n for n in env.all_nodes() if n.service == self.service]
        group = (getattr(env.spec, "groups", None) or {}).get(self.service) if not nodes else None
        if group:          # a group of x-drillkit.groups: the nodes of its services
            return Targets(tuple(Target(s, zone=self.zone) for s in group), self.service).resolve(env)
        if not nodes:
            raise FaultError(f"target service {self.service!r} is not in {env.name}",
                             fix=f"use one of {', '.join(sorted(env.spec.services))}")
        if self.zone is not None:
            nodes = [n for n in nodes if n.zone == self.zone]
        if self.replica is not None:
            nodes = [n for n in nodes if n.replica == self.replica]
        if not nodes:
            raise FaultError(f"target {self} matches no node", fix="check replica/zone against the environment")
        if self.random_member:
            nodes = [random.Random(self.seed).choice(nodes)]
        return nodes

    def __str__(self) -> str:
        if self.role is not None:
            return f"role {self.role}" + (f" of {self.service}" if self.service else "")
        parts = [self.service or ""]
        if self.replica is not None:
            parts.append(f"replica {self.replica}")
        if self.zone is not None:
            parts.append(f"zone {self.zone}")
        if self.random_member:
            parts.append(f"random(seed={self.seed})")
        return " ".join(parts)



@dataclass(frozen=True)
class Targets:
    """Several targets as one: the nodes of each part, in order, each node once. ``name``: the group
    of ``x-drillkit.groups`` it was written as, if any (what sentences call it)."""

    parts: tuple[Target, ...]
    name: str | None = None

    def resolve(self, env: Environment) -> list[Node]:
        out: list[Node] = []
        for part in self.parts:
            out.extend(n for n in part.resolve(env) if n not in out)
        return out

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.service for p in self.parts if p.service))

    @property
    def service(self) -> str | None:
        """The one service of every part, else None (callers that need one service ask this)."""
        return self.services[0] if len(self.services) == 1 else None

    def __str__(self) -> str:
        return self.name or ", ".join(str(p) for p in self.parts)


def as_target(value: Any) -> "Target | Targets | None":
    """What a fault's ``target`` may be given as: a `Target`, `Targets`, a service (or group) name,
    or a list of those — ``["app-1", "app-2", "app-3"]`` is one target over three services."""
    if value is None or isinstance(value, (Target, Targets)):
        return value
    if isinstance(value, str):
        return Target(value)
    if isinstance(value, (list, tuple)) and value:
        return Targets(tuple(t for v in value for t in _parts(as_target(v))))
    raise FaultError(f"a target is a service, a Target or a list of them, not {value!r}",
                     fix='e.g. Target("app", replica=2) or ["app-1", "app-2", "app-3"]')


def _parts(t: "Target | Targets | None") -> tuple[Target, ...]:
    return t.parts if isinstance(t, Targets) else (t,) if t is not None else ()


# -- where a step or a reader runs: a service, a replica, a zone or a role ------------------------
NODE_REF_KEYS = {"service", "replica", "zone", "role"}


def parse_node_ref(raw: Any, f: str, line: int | None, field: str, services: dict,
                   roles: dict[str, RoleSpec]):
    """``db`` (a service, or a role when no service has that name), ``{service: app, replica: 2}``,
    ``{service: app, zone: zone-a}``, ``{role: primary}`` or ``{service: pg, role: primary}`` -> a
    `Target`. One-line ConfigError on anything else."""
    names = ", ".join(sorted(services))
    fix = f"write a service ({names})" + (f", a role ({', '.join(roles)})" if roles else "") + \
        " or {service: NAME, replica: N}"
    if isinstance(raw, str):
        if raw in services:
            return Target(raw)
        if raw in roles:
            return Target(None, role=raw)
        raise ConfigError(f"{raw!r} is neither a service nor a role of this environment", file=f, line=line,
                          field=field, fix=fix)
    if not isinstance(raw, dict):
        raise ConfigError(f"must name a node, not {type(raw).__name__}", file=f, line=line, field=field, fix=fix)
    for k in raw:
        if k not in NODE_REF_KEYS:
            raise ConfigError(f"unknown key {k!r}", file=f, line=line_of(raw, k), field=f"{field}.{k}",
                              fix=f"use {', '.join(sorted(NODE_REF_KEYS))}")
    svc, role = raw.get("service"), raw.get("role")
    if svc is None and role is None:
        raise ConfigError("needs `service` or `role`", file=f, line=line_of(raw) or line, field=field, fix=fix)
    if svc is not None and svc not in services:
        raise ConfigError(f"{svc!r} is not a service of this environment", file=f, line=line_of(raw, "service"),
                          field=f"{field}.service", fix=f"use one of {names}")
    if role is not None:
        if role not in roles:
            raise ConfigError(f"no role {role!r} is declared", file=f, line=line_of(raw, "role"), field=f"{field}.role",
                              fix=f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
        if svc is not None and svc not in roles[role].services:
            raise ConfigError(f"role {role!r} is held by {', '.join(roles[role].services)}, not {svc!r}", file=f,
                              line=line_of(raw, "service"), field=f"{field}.service",
                              fix=f"use one of {', '.join(roles[role].services)} or drop service")
        if "replica" in raw or "zone" in raw:
            raise ConfigError("a role names its node by itself: no replica or zone with it", file=f,
                              line=line_of(raw, "role"), field=field, fix="drop replica/zone")
        return Target(svc, role=role)
    replica = raw.get("replica")
    if replica is not None:
        n = services[svc].replicas
        if isinstance(replica, bool) or not isinstance(replica, int) or not 1 <= replica <= n:
            raise ConfigError(f"{svc} has {n} replica(s), not {replica!r}", file=f, line=line_of(raw, "replica"),
                              field=f"{field}.replica", fix=f"use replica 1..{n}")
    zone = raw.get("zone")
    if zone is not None:
        zones = {services[svc].zone_of(r) for r in range(1, services[svc].replicas + 1)}
        if zone not in zones:
            raise ConfigError(f"{svc} has no replica in zone {zone!r}", file=f, line=line_of(raw, "zone"),
                              field=f"{field}.zone", fix=f"use one of {', '.join(sorted(zones))}")
    return Target(svc, replica=replica, zone=zone)


def describe_ref(target: Any) -> str:
    """A node reference for sentences: ``db-replica``, ``app-2``, ``role primary``."""
    if target is None:
        return "the fault's nodes"
    if target.role is None and target.replica is not None:
        return f"{target.service}-{target.replica}"
    return str(target)

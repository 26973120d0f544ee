"""Roles: "whichever node is primary now", declared as data and resolved when used.

An environment declares roles in its Compose file::

    x-drillkit:
      roles:
        primary:
          services: [db, db-replica]      # or service: pg (one service with replicas)
          check: psql -U postgres -Atc "SELECT NOT pg_is_in_recovery()" | grep -qx t

The holder of a role is the first node — replicas in order, services in the order listed — that runs
and where ``check`` exits 0. It is looked up at use time (when a fault is injected, a ground truth
read, a runbook step run), so after a failover the role has moved with it. Fault targets
(``{role: primary}``, ``{service: pg, role: primary}``), ground-truth readers (``on: {role: primary}``)
and runbook steps use it.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drillkit.errors import ConfigError, LabError

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node

__all__ = ["RoleSpec", "RoleError", "parse_roles", "resolve_role", "role_nodes", "shell_command",
           "run_bounded", "ROLE_KEYS", "on_key", "parse_node_ref", "describe_ref", "NODE_REF_KEYS"]

ROLE_KEYS = {"service", "services", "check", "timeout"}


class RoleError(LabError):
    """No node holds a role right now (or its check could not run)."""


@dataclass(frozen=True)
class RoleSpec:
    """A role: which services may hold it and the command that exits 0 on the holder."""

    name: str
    services: tuple[str, ...]
    check: tuple[str, ...]          # the command as exec'd (a string becomes /bin/sh -c STRING)
    timeout: float = 5.0
    line: int | None = None

    def describe(self) -> str:
        return f"role {self.name} ({', '.join(self.services)})"


def shell_command(value: Any) -> tuple[str, ...] | None:
    """A command as data: a string runs in ``/bin/sh -c``, a list is exec'd as it is; else None."""
    if isinstance(value, str) and value.strip():
        return ("/bin/sh", "-c", value)
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
        return tuple(str(v) for v in value)
    return None


def parse_roles(raw: Any, f: str, services: dict, *, where: str = "x-drillkit.roles") -> dict[str, RoleSpec]:
    """Validate ``x-drillkit.roles``; one-line ConfigError with file:line on any problem."""
    from drillkit.lab.compose import _line
    from drillkit.scenario.schema import DurationError, parse_duration
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("roles must be a mapping of role name -> {service(s), check}", file=f,
                          line=_line(raw), field=where,
                          fix="roles: {primary: {services: [db, db-replica], check: <command>}}")
    out: dict[str, RoleSpec] = {}
    for name, spec in raw.items():
        fld = f"{where}.{name}"
        line = _line(raw, name)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"role name {name!r} is not a name", file=f, line=line, field=fld,
                              fix="e.g. primary")
        if name in services:
            raise ConfigError(f"role {name!r} has the name of a service", file=f, line=line, field=fld,
                              fix="give the role another name (e.g. primary, leader)")
        if not isinstance(spec, dict):
            raise ConfigError("a role must be a mapping", file=f, line=line, field=fld,
                              fix="{services: [db, db-replica], check: <command that exits 0 on the holder>}")
        for k in spec:
            if k not in ROLE_KEYS:
                raise ConfigError(f"unknown key {k!r}", file=f, line=_line(spec, k), field=f"{fld}.{k}",
                                  fix=f"use {', '.join(sorted(ROLE_KEYS))}")
        if ("service" in spec) == ("services" in spec):
            raise ConfigError("a role needs either `service` or `services`", file=f, line=line, field=fld,
                              fix="service: db (its replicas in order) or services: [db, db-replica]")
        names = [spec["service"]] if "service" in spec else spec["services"]
        if not isinstance(names, list) or not names:
            raise ConfigError("services must be a non-empty list", file=f, line=_line(spec, "services"),
                              field=f"{fld}.services", fix="services: [db, db-replica]")
        for s in names:
            if s not in services:
                key = "service" if "service" in spec else "services"
                raise ConfigError(f"role {name!r} names unknown service {s!r}", file=f, line=_line(spec, key),
                                  field=f"{fld}.{key}", fix=f"use one of {', '.join(services)}")
        check = shell_command(spec.get("check"))
        if check is None:
            raise ConfigError("a role needs `check`: a command that exits 0 on the node holding it",
                              file=f, line=_line(spec, "check") if "check" in spec else line,
                              field=f"{fld}.check",
                              fix='e.g. check: psql -U postgres -Atc "SELECT NOT pg_is_in_recovery()" | grep -qx t')
        timeout = 5.0
        if "timeout" in spec:
            try:
                timeout = parse_duration(spec["timeout"])
            except DurationError as exc:
                raise ConfigError(str(exc), file=f, line=_line(spec, "timeout"), field=f"{fld}.timeout",
                                  fix="e.g. timeout: 5s") from None
            if timeout <= 0:
                raise ConfigError("must be longer than 0 s", file=f, line=_line(spec, "timeout"),
                                  field=f"{fld}.timeout", fix="e.g. timeout: 5s")
        out[name] = RoleSpec(name, tuple(names), check, timeout, line)
    return out


def run_bounded(env: "Environment", node: "Node", cmd: tuple[str, ...] | list[str], timeout: float,
                user: str | None = None) -> tuple[int | None, str]:
    """Run a command in a node, giving up after ``timeout`` s: (exit code, output); code None = timed
    out or could not run (the output then says why). The exec keeps running in the container if it
    hangs; the drill does not wait for it."""
    result: dict[str, Any] = {}

    def go() -> None:
        try:
            result["code"], result["out"] = env.backend.exec(node, list(cmd), user=user or "")
        except Exception as exc:  # container gone, engine error: the caller reports it
            result["out"] = f"{type(exc).__name__}: {exc}"
            result["code"] = None

    th = threading.Thread(target=go, name=f"dk-exec-{node.name}", daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        return None, f"did not finish within {timeout:g} s"
    return result.get("code"), result.get("out", "")


def _nodes_of(env: "Environment", services: tuple[str, ...]) -> list["Node"]:
    return [n for s in services for n in env.nodes.get(s, [])]


def role_nodes(env: "Environment", name: str, service: str | None = None) -> list["Node"]:
    """Every node that holds the role now (normally one; two primaries is a finding)."""
    role = _role(env, name, service)
    services = (service,) if service else role.services
    return [n for n in _nodes_of(env, services)
            if env.is_running(n) and run_bounded(env, n, role.check, role.timeout)[0] == 0]


def resolve_role(env: "Environment", name: str, service: str | None = None) -> "Node":
    """The node holding role ``name`` now: the first (replicas in order, services as listed) that runs
    and where the role's check exits 0. ``service`` narrows the search to one service."""
    role = _role(env, name, service)
    services = (service,) if service else role.services
    tried = []
    for n in _nodes_of(env, services):
        if not env.is_running(n):
            tried.append(f"{n.name} not running")
            continue
        code, out = run_bounded(env, n, role.check, role.timeout)
        if code == 0:
            return n
        tried.append(f"{n.name} {'exit ' + str(code) if code is not None else out}")
    raise RoleError(f"no node of {', '.join(services)} holds role {name!r} now ({'; '.join(tried) or 'no nodes'})",
                    fix=f"check the role's command `{shlex.join(role.check)}` and the nodes' state")


def _role(env: "Environment", name: str, service: str | None):
    roles = getattr(env.spec, "roles", {}) or {}
    if name not in roles:
        raise RoleError(f"environment {env.spec.name!r} declares no role {name!r}",
                        fix=f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
    role = roles[name]
    if service is not None and service not in env.spec.services:
        raise RoleError(f"role {name!r}: {service!r} is not a service of {env.spec.name}",
                        fix=f"use one of {', '.join(role.services)}")
    return role


# -- where a step or a reader runs: a service, a replica, a zone or a role ------------------------
NODE_REF_KEYS = {"service", "replica", "zone", "role"}


def parse_node_ref(raw: Any, f: str, line: int | None, field: str, services: dict,
                   roles: dict[str, RoleSpec]):
    """``db`` (a service, or a role when no service has that name), ``{service: app, replica: 2}``,
    ``{service: app, zone: zone-a}``, ``{role: primary}`` or ``{service: pg, role: primary}`` -> a
    `Target`. One-line ConfigError on anything else."""
    from drillkit.faults.base import Target
    from drillkit.lab.compose import _line
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
            raise ConfigError(f"unknown key {k!r}", file=f, line=_line(raw, k), field=f"{field}.{k}",
                              fix=f"use {', '.join(sorted(NODE_REF_KEYS))}")
    svc, role = raw.get("service"), raw.get("role")
    if svc is None and role is None:
        raise ConfigError("needs `service` or `role`", file=f, line=_line(raw) or line, field=field, fix=fix)
    if svc is not None and svc not in services:
        raise ConfigError(f"{svc!r} is not a service of this environment", file=f, line=_line(raw, "service"),
                          field=f"{field}.service", fix=f"use one of {names}")
    if role is not None:
        if role not in roles:
            raise ConfigError(f"no role {role!r} is declared", file=f, line=_line(raw, "role"), field=f"{field}.role",
                              fix=f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
        if svc is not None and svc not in roles[role].services:
            raise ConfigError(f"role {role!r} is held by {', '.join(roles[role].services)}, not {svc!r}", file=f,
                              line=_line(raw, "service"), field=f"{field}.service",
                              fix=f"use one of {', '.join(roles[role].services)} or drop service")
        if "replica" in raw or "zone" in raw:
            raise ConfigError("a role names its node by itself: no replica or zone with it", file=f,
                              line=_line(raw, "role"), field=field, fix="drop replica/zone")
        return Target(svc, role=role)
    replica = raw.get("replica")
    if replica is not None:
        n = services[svc].replicas
        if isinstance(replica, bool) or not isinstance(replica, int) or not 1 <= replica <= n:
            raise ConfigError(f"{svc} has {n} replica(s), not {replica!r}", file=f, line=_line(raw, "replica"),
                              field=f"{field}.replica", fix=f"use replica 1..{n}")
    zone = raw.get("zone")
    if zone is not None:
        zones = {services[svc].zone_of(r) for r in range(1, services[svc].replicas + 1)}
        if zone not in zones:
            raise ConfigError(f"{svc} has no replica in zone {zone!r}", file=f, line=_line(raw, "zone"),
                              field=f"{field}.zone", fix=f"use one of {', '.join(sorted(zones))}")
    return Target(svc, replica=replica, zone=zone)


def describe_ref(target: Any) -> str:
    """A node reference for sentences: ``db-replica``, ``app-2``, ``role primary``."""
    if target is None:
        return "the fault's nodes"
    if target.role is None and target.replica is not None:
        return f"{target.service}-{target.replica}"
    return str(target)


def on_key(m: Any) -> Any:
    """YAML 1.1 reads a bare ``on:`` key as ``True``: give it back its name (line numbers kept)."""
    if not isinstance(m, dict) or True not in m:
        return m
    from drillkit.lab.compose import _Map
    out = _Map()
    out.line = getattr(m, "line", 0)
    out.key_lines = {}
    lines = getattr(m, "key_lines", {})
    for k, v in m.items():
        name = "on" if k is True else k
        out[name] = v
        out.key_lines[name] = lines.get(k, out.line)
    return out

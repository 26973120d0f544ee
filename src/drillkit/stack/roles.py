"""Roles: "whichever node is primary now", declared as data and resolved when used.

An environment declares roles in its Compose file::

    x-drillkit:
      roles:
        primary:
          services: [db, db-replica]      # or service: pg (one service with replicas)
          check: psql -U postgres -Atc "SELECT NOT pg_is_in_recovery()" | grep -qx t
          heal: promote-replica           # optional: the runbook that heals the holder's loss

The holder of a role is the first node — replicas in order, services in the order listed — that runs
and where ``check`` exits 0. It is looked up at use time (when a fault is injected, a ground truth
read, a runbook step run), so after a failover the role has moved with it. Fault targets
(``{role: primary}``, ``{service: pg, role: primary}``), ground-truth readers (``on: {role: primary}``)
and runbook steps use it. ``heal`` names the runbook (of ``x-drillkit.runbooks``) that heals a lost
holder — what ``drill explore`` writes as the heal of a kill of the role, instead of starting the dead
node beside its successor; it is checked once the runbooks are read (`check_role_heals`).
"""

from __future__ import annotations

import shlex
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drillkit.errors import ConfigError, LabError
from drillkit.stack.model import stack_of
from drillkit.yamlsrc import DurationError, line_of, parse_duration

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment
    from drillkit.lab.node import Node

__all__ = ["RoleSpec", "RoleError", "RoleLocator", "parse_roles", "check_role_heals", "resolve_role", "role_nodes",
           "shell_command", "ROLE_KEYS"]

ROLE_KEYS = {"service", "services", "check", "timeout", "max_holders", "heal"}


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
    max_holders: int = 1            # more at once is split brain (a replica role: as many as replicas)
    heal: str | None = None         # the runbook that heals a lost holder (x-drillkit.roles.<name>.heal)
    heal_line: int | None = None

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
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("roles must be a mapping of role name -> {service(s), check}", file=f,
                          line=line_of(raw), field=where,
                          fix="roles: {primary: {services: [db, db-replica], check: <command>}}")
    out: dict[str, RoleSpec] = {}
    for name, spec in raw.items():
        fld = f"{where}.{name}"
        line = line_of(raw, name)
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
                raise ConfigError(f"unknown key {k!r}", file=f, line=line_of(spec, k), field=f"{fld}.{k}",
                                  fix=f"use {', '.join(sorted(ROLE_KEYS))}")
        if ("service" in spec) == ("services" in spec):
            raise ConfigError("a role needs either `service` or `services`", file=f, line=line, field=fld,
                              fix="service: db (its replicas in order) or services: [db, db-replica]")
        names = [spec["service"]] if "service" in spec else spec["services"]
        if not isinstance(names, list) or not names:
            raise ConfigError("services must be a non-empty list", file=f, line=line_of(spec, "services"),
                              field=f"{fld}.services", fix="services: [db, db-replica]")
        for s in names:
            if s not in services:
                key = "service" if "service" in spec else "services"
                raise ConfigError(f"role {name!r} names unknown service {s!r}", file=f, line=line_of(spec, key),
                                  field=f"{fld}.{key}", fix=f"use one of {', '.join(services)}")
        check = shell_command(spec.get("check"))
        if check is None:
            raise ConfigError("a role needs `check`: a command that exits 0 on the node holding it",
                              file=f, line=line_of(spec, "check") if "check" in spec else line,
                              field=f"{fld}.check",
                              fix='e.g. check: psql -U postgres -Atc "SELECT NOT pg_is_in_recovery()" | grep -qx t')
        timeout = 5.0
        if "timeout" in spec:
            try:
                timeout = parse_duration(spec["timeout"], maximum=3600.0)   # one check: at most 1 h
            except DurationError as exc:
                raise ConfigError(str(exc), file=f, line=line_of(spec, "timeout"), field=f"{fld}.timeout",
                                  fix="e.g. timeout: 5s (at most 1h)") from None
            if timeout <= 0:
                raise ConfigError("must be longer than 0 s", file=f, line=line_of(spec, "timeout"),
                                  field=f"{fld}.timeout", fix="e.g. timeout: 5s")
        max_holders = spec.get("max_holders", 1)
        if isinstance(max_holders, bool) or not isinstance(max_holders, int) or max_holders < 1:
            raise ConfigError(f"max_holders must be a whole number ≥ 1, not {max_holders!r}", file=f,
                              line=line_of(spec, "max_holders"), field=f"{fld}.max_holders",
                              fix="max_holders: 1 (a primary), or how many replicas may hold a replica role")
        heal = spec.get("heal")
        if heal is not None and (not isinstance(heal, str) or not heal.strip()):
            raise ConfigError(f"heal must be the name of a runbook, not {heal!r}", file=f, line=line_of(spec, "heal"),
                              field=f"{fld}.heal", fix="e.g. heal: promote-replica (a runbook of x-drillkit.runbooks)")
        out[name] = RoleSpec(name, tuple(names), check, timeout, line, max_holders,
                             heal.strip() if heal else None, line_of(spec, "heal") if heal else None)
    return out


def check_role_heals(roles: dict[str, RoleSpec], runbooks: dict, f: str, *, where: str = "x-drillkit.roles") -> None:
    """Each role's ``heal`` names a runbook the stack declares (read after the runbooks)."""
    for name, role in roles.items():
        if role.heal is not None and role.heal not in runbooks:
            raise ConfigError(f"role {name!r} is healed by runbook {role.heal!r}, which the stack does not declare",
                              file=f, line=role.heal_line, field=f"{where}.{name}.heal",
                              fix=f"use one of {', '.join(runbooks) or '(none: declare x-drillkit.runbooks)'}")


def _nodes_of(env: "Environment", services: tuple[str, ...]) -> list["Node"]:
    return [n for s in services for n in env.nodes.get(s, [])]


def role_nodes(env: "Environment", name: str, service: str | None = None) -> list["Node"]:
    """Every node that holds the role now (normally one; two primaries is a finding)."""
    role = _role(env, name, service)
    services = (service,) if service else role.services
    return [n for n in _nodes_of(env, services)
            if env.is_running(n) and env.exec_bounded(n, role.check, role.timeout)[0] == 0]


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
        code, out = env.exec_bounded(n, role.check, role.timeout)
        if code == 0:
            return n
        tried.append(f"{n.name} {'exit ' + str(code) if code is not None else out}")
    raise RoleError(f"no node of {', '.join(services)} holds role {name!r} now ({'; '.join(tried) or 'no nodes'})",
                    fix=f"check the role's command `{shlex.join(role.check)}` and the nodes' state")


class RoleLocator:
    """Where a role is now, for clients that follow it (a Redis client with ``role: primary``): called
    with a role's name, it answers ``(service, replica)`` of the holder (`resolve_role`), or raises
    `RoleError`. The clients floor gets it through its `ClientContext` and never sees a role's check.

    One lookup at a time, and its answer (or its failure) is reused for ``fresh`` seconds: when the
    primary dies, a pool's clients all ask at once, and one round of checks answers them all."""

    def __init__(self, env: "Environment", fresh: float = 0.5):
        self.env, self.fresh = env, fresh
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, tuple[str, int] | RoleError]] = {}

    def __call__(self, role: str) -> tuple[str, int]:
        with self._lock:
            at, answer = self._known.get(role, (float("-inf"), None))
            if time.monotonic() - at >= self.fresh or answer is None:
                try:
                    node = resolve_role(self.env, role)
                    answer = (node.service, node.replica)
                except RoleError as exc:
                    answer = exc
                self._known[role] = (time.monotonic(), answer)
        if isinstance(answer, RoleError):
            raise answer
        return answer


def _role(env: "Environment", name: str, service: str | None):
    roles = stack_of(env).roles
    if name not in roles:
        raise RoleError(f"environment {env.spec.name!r} declares no role {name!r}",
                        fix=f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
    role = roles[name]
    if service is not None and service not in env.spec.services:
        raise RoleError(f"role {name!r}: {service!r} is not a service of {env.spec.name}",
                        fix=f"use one of {', '.join(role.services)}")
    return role

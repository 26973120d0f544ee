"""`load_stack(path)`: a Compose file through the lab, then its ``x-drillkit`` contract — users,
clients, roles, ground truth, runbooks, gates, config settings, reset steps, the plug-in — into one `Stack`.

Everything is checked when the file is loaded, before anything starts: each problem is one
`ConfigError` line naming the file, the line, the key and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from drillkit.clients.declare import parse_clients, parse_users
from drillkit.errors import ConfigError
from drillkit.lab.compose import LAB_KEYS, EnvironmentSpec, load_environment
from drillkit.stack.config import parse_settings
from drillkit.stack.gate import parse_gates
from drillkit.stack.model import CONTRACT_KEYS, Stack
from drillkit.stack.plugin import code_steps, load_plugin
from drillkit.stack.roles import check_role_heals, parse_roles
from drillkit.stack.runbook import Runbook, parse_runbooks, parse_steps
from drillkit.stack.truth import parse_readers
from drillkit.yamlsrc import Map, line_of

__all__ = ["load_stack", "stack_from_spec", "XDK_KEYS"]

XDK_KEYS = LAB_KEYS | CONTRACT_KEYS     # every key x-drillkit may have


def load_stack(name_or_path: str | os.PathLike, switches: dict[str, str] | None = None,
               name: str | None = None) -> Stack:
    """The environment ``name_or_path`` (a folder of environments/ or a compose.yaml) with
    ``switches`` chosen, and its stack contract."""
    return stack_from_spec(load_environment(name_or_path, switches, name=name))


def stack_from_spec(spec: EnvironmentSpec) -> Stack:
    """Parse the contract of an environment the lab has loaded (``spec.extensions``)."""
    f = str(spec.file)
    xdk = spec.extensions if isinstance(spec.extensions, dict) else Map()
    for key in xdk:
        if key not in XDK_KEYS:
            raise ConfigError(f"unknown key {key!r}", file=f, line=line_of(xdk, key), field=f"x-drillkit.{key}",
                              fix=f"x-drillkit takes {', '.join(sorted(XDK_KEYS))}")
    users = parse_users(xdk.get("users"), file=f)
    if users and spec.entrypoint is None:
        raise ConfigError("users are declared but there is no entry point for them", file=f,
                          line=line_of(xdk, "users"), field="x-drillkit.users",
                          fix="add x-drillkit.entrypoint: {service: ..., port: ...} (where users send requests)")
    roles = parse_roles(xdk.get("roles"), f, spec.services)
    clients = parse_clients(xdk.get("clients"), file=f, services=spec.services, roles=roles)
    base = Path(spec.file).parent
    plugin = load_plugin(xdk["plugin"], base, file=f, line=line_of(xdk, "plugin")) \
        if xdk.get("plugin") is not None else None
    stack = Stack.extending(spec, users=users, clients=clients, plugin=plugin, roles=roles)
    stack.ground_truth = parse_readers(xdk.get("ground_truth"), f, spec.services, roles, base)
    stack.runbooks = parse_runbooks(xdk.get("runbooks"), f, stack, code_steps(stack))
    check_role_heals(roles, stack.runbooks, f)
    stack.config = parse_settings(xdk.get("config"), f, spec.services)
    stack.gates = parse_gates(xdk.get("gates"), f, stack)
    stack.groups = parse_groups(xdk.get("groups"), f, spec.services, roles)
    if xdk.get("reset") is not None:
        stack.reset = parse_reset(xdk["reset"], f, stack, line_of(xdk, "reset"))
    return stack


def parse_groups(raw, f: str, services: dict, roles: dict) -> dict[str, tuple[str, ...]]:
    """``x-drillkit.groups: {app: [app-1, app-2, app-3]}``: names for several services at once — a
    fault's target (``target: app``: a rolling upgrade over all of them); one-line ConfigError on
    a problem."""
    if raw is None:
        return {}
    where = "x-drillkit.groups"
    if not isinstance(raw, dict):
        raise ConfigError("groups must be a mapping of group name -> list of services", file=f, line=line_of(raw),
                          field=where, fix="groups: {app: [app-1, app-2, app-3]}")
    out: dict[str, tuple[str, ...]] = {}
    for name, members in raw.items():
        fld, line = f"{where}.{name}", line_of(raw, name)
        if name in services or name in roles:
            raise ConfigError(f"group {name!r} has the name of a {'service' if name in services else 'role'}",
                              file=f, line=line, field=fld, fix="give the group a name of its own, e.g. app-nodes")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise ConfigError("a group is a non-empty list of services", file=f, line=line, field=fld,
                              fix=f"e.g. {name}: [{', '.join(list(services)[:2])}]")
        for m in members:
            if m not in services:
                raise ConfigError(f"{m!r} is not a service", file=f, line=line, field=fld,
                                  fix=f"use services of this file: {', '.join(services)}")
        if len(set(members)) != len(members):
            raise ConfigError("a service is listed twice", file=f, line=line, field=fld, fix="list each service once")
        out[str(name)] = tuple(members)
    return out


def parse_reset(raw: object, f: str, stack: Stack, line: int | None) -> Runbook | None:
    """``x-drillkit.reset``: runbook steps that bring the stack's data back to where a run starts (e.g.
    truncate a table), run between the trials of ``drill explore`` on an environment kept up — a
    list of steps, or ``{description, steps}``. Each step names where it acts (no fault to act on)."""
    if raw is None:
        return None
    desc = ""
    steps_raw = raw
    where = "x-drillkit.reset"
    if isinstance(raw, dict):
        for k in raw:
            if k not in ("description", "steps"):
                raise ConfigError(f"unknown key {k!r}", file=f, line=line_of(raw, k), field=f"{where}.{k}",
                                  fix="reset: [steps] or reset: {description: ..., steps: [...]}")
        if "steps" not in raw:
            raise ConfigError("reset needs `steps`", file=f, line=line, field=f"{where}.steps",
                              fix="steps: [{exec: {on: db, command: ...}}]")
        desc = str(raw.get("description") or "").strip()
        steps_raw, where = raw["steps"], f"{where}.steps"
    steps = parse_steps(steps_raw, f, line, where, stack, code_steps(stack), in_heal=False)
    return Runbook("reset", steps, desc, f, line)

"""Runbook steps as data: what an operator does to recover, executed and timed on the timeline.

A runbook is a list of steps. Each step is a mapping with one kind key and an optional ``name``::

    x-drillkit:
      runbooks:
        promote-replica:
          description: fence the old primary, promote the standby, repoint the apps
          steps:
            - name: fence
              kill: db                                   # SIGKILL if it still runs
            - name: promote
              exec: {on: db-replica, command: "psql -U postgres -Atc 'SELECT pg_promote(true, 30)'",
                     expect_output: "^t$"}
            - name: writable
              wait_until: {on: db-replica, command: "...", deadline: 60s, interval: 100ms}
            - name: repoint
              link: {name: app-db, upstream: "db-replica:5432"}

Step kinds (`BUILTIN_STEPS`); a stack plug-in can add more (`drillkit.stack.plugin`):

``exec``        a command in a target (``on``): exit code (``expect_exit``, default 0) and/or output
                (``expect_output``, a regular expression) checked; a service with several replicas
                runs it on every replica that runs
``wait_until``  a command (as exec), an HTTP check (``http: /health`` on the entry point) or a role
                count (``role: primary, holders: 1``: exactly that many running nodes hold it) repeated
                every ``interval`` until it passes, failing after ``deadline``
``link``        repoint a Toxiproxy link's upstream (``{name, upstream}``); if Toxiproxy 2.12 wedges on
                the update, the proxy is recreated under the same name and listen address, its toxics
                re-added, so faults aimed at the link keep working
``kill``, ``stop``, ``start``   a target (``grace`` for stop; start waits for health unless ``wait: false``)
``sleep``       a duration
``python``      ``module:attr`` (or ``{call, args}``) -> ``fn(env, timeline, **args)``

Targets are a service, ``{service, replica}``, ``{service, zone}`` or a role (``{role: primary}``,
resolved when the step runs). In a fault's ``heal:`` a target may be left out (or written ``fault``):
the nodes the fault hit. Every step writes ``runbook`` records (``runbook, step, event`` =
start|end|failed, ``detail``, ``seconds``); a failed step stops the runbook and raises
`RunbookFailed` with one sentence.
"""

from __future__ import annotations

import http.client
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from drillkit.errors import ConfigError, DrillkitError, LabError, LinkError
from drillkit.lab.guard import check_blast_radius
from drillkit.lab.links import LinkServer, Toxic
from drillkit.stack.commands import REDIS_ERROR, psql_command, redis_cli_command
from drillkit.stack.reference import load_reference
from drillkit.stack.roles import RoleError, resolve_role, role_nodes, shell_command
from drillkit.stack.target import parse_node_ref
from drillkit.yamlsrc import DurationError, Map, line_of, on_key, parse_duration

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node
    from drillkit.timeline import Timeline

__all__ = ["Step", "Runbook", "RunbookResult", "RunbookFailed", "BUILTIN_STEPS", "WAIT_CHECKS", "WAIT_KEYS",
           "NotYet", "parse_runbooks", "parse_steps", "parse_wait_until", "run_runbook", "wait_until",
           "repoint_link", "runbook_heal"]

BUILTIN_STEPS = ("exec", "wait_until", "link", "kill", "stop", "start", "sleep", "python")
FAULT_NODES = "fault"           # a heal step's target: the nodes the fault hit
_TARGET_OPTS = {"kill": set(), "stop": {"grace"}, "start": {"wait", "deadline"}}
_EXEC_KEYS = {"on", "command", "user", "expect_exit", "expect_output", "timeout"}
_WAIT_KEYS = {"on", "command", "sql", "redis", "http", "role", "holders", "user", "expect_exit", "expect_output",
              "deadline", "interval", "timeout"}
WAIT_KEYS = frozenset(_WAIT_KEYS)                           # every key of a wait_until (and of a gate)
WAIT_CHECKS = ("command", "sql", "redis", "http", "role")   # what a wait_until repeats: exactly one
_SQL_KEYS = {"query", "user", "database", "host", "port", "password"}
_REDIS_KEYS = {"command", "port", "password"}
_HTTP_KEYS = {"path", "status", "contains", "service", "port", "replica"}
_LINK_KEYS = {"name", "upstream", "timeout"}


class RunbookFailed(DrillkitError):
    """A runbook step failed; the message is one sentence naming the runbook, the step and why."""

    def __init__(self, message: str, *, runbook: str = "", step: str = "", fix: str | None = None):
        self.runbook, self.step = runbook, step
        super().__init__(message, fix=fix)


@dataclass(frozen=True)
class Step:
    kind: str
    name: str
    attrs: dict[str, Any]
    line: int | None = None
    call: Callable | None = None          # python steps and plug-in steps: the function

    def describe(self) -> str:
        return f"{self.name} ({self.kind})" if self.name != self.kind else self.kind


@dataclass(frozen=True)
class Runbook:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    file: str = ""
    line: int | None = None

    def describe(self) -> str:
        return f"runbook {self.name}"

    @property
    def needs_fault(self) -> bool:
        """Whether a step acts on "the fault's nodes" (no target / ``fault``): a heal only."""
        return any("target" in s.attrs and s.attrs["target"] is None for s in self.steps)


@dataclass
class RunbookResult:
    """Seconds per step (in order), the total, and each step's detail (e.g. a command's output)."""

    runbook: str
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    total: float = 0.0


# == parsing ======================================================================================
def _err(msg: str, f: str, line: int | None, fld: str, fix: str) -> ConfigError:
    return ConfigError(msg, file=f, line=line, field=fld, fix=fix)


def _dur(v: Any, f: str, line: int | None, fld: str, *, positive: bool = False) -> float:
    try:
        s = parse_duration(v, maximum=86400.0)   # a step never outlasts a drill (24 h)
    except DurationError as exc:
        raise _err(str(exc), f, line, fld, "write e.g. 500ms, 3s, 1m (at most 24h)") from None
    if positive and s <= 0:
        raise _err("must be longer than 0 s", f, line, fld, "e.g. 1s")
    return s


def parse_runbooks(raw: Any, f: str, spec: Any, plugin_steps: set[str] | dict, *,
                   where: str = "x-drillkit.runbooks", base_dir: Path | None = None) -> dict[str, Runbook]:
    """``runbooks: {name: [steps] | {description, steps}}`` -> named runbooks (validated)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _err("runbooks must be a mapping of name -> steps", f, line_of(raw), where,
                   "runbooks: {promote-replica: {steps: [...]}}")
    out: dict[str, Runbook] = {}
    for name, body in raw.items():
        fld, line = f"{where}.{name}", line_of(raw, name)
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
            raise _err(f"runbook name {name!r} is not usable", f, line, fld, "e.g. promote-replica")
        if name in ("start", "none"):
            raise _err(f"runbook name {name!r} is a heal mode", f, line, fld, "give the runbook another name")
        desc = ""
        steps_raw = body
        if isinstance(body, dict):
            for k in body:
                if k not in ("description", "steps"):
                    raise _err(f"unknown key {k!r}", f, line_of(body, k), f"{fld}.{k}", "use description, steps")
            if "steps" not in body:
                raise _err("a runbook needs `steps`", f, line, f"{fld}.steps", "steps: [{exec: ...}, ...]")
            desc = str(body.get("description") or "").strip()
            steps_raw = body["steps"]
        steps = parse_steps(steps_raw, f, line, f"{fld}.steps" if isinstance(body, dict) else fld, spec,
                            plugin_steps, base_dir=base_dir, in_heal=True)   # may serve as a fault's heal
        out[name] = Runbook(name, steps, desc, f, line)
    return out


def parse_steps(raw: Any, f: str, line: int | None, where: str, spec: Any, plugin_steps: set[str] | dict, *,
                in_heal: bool = False, base_dir: Path | None = None) -> tuple[Step, ...]:
    """A list of steps -> validated `Step` objects (one-line ConfigError with file:line on a problem)."""
    if not isinstance(raw, list) or not raw:
        raise _err("steps must be a non-empty list", f, line_of(raw) or line, where,
                   "- {name: promote, exec: {on: db-replica, command: ...}}")
    base = base_dir if base_dir is not None else Path(getattr(spec, "file", ".")).parent
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        fld = f"{where}[{i}]"
        iline = line_of(item) or line_of(raw) or line
        if not isinstance(item, dict):
            raise _err(f"a step must be a mapping, not {type(item).__name__}", f, iline, fld,
                       "- {exec: {on: db, command: ...}} (one kind per step, optional name)")
        kinds = [k for k in item if k != "name"]
        known = list(BUILTIN_STEPS) + sorted(plugin_steps)
        if len(kinds) != 1:
            raise _err(f"a step needs exactly one kind, not {len(kinds)} ({', '.join(map(str, kinds)) or 'none'})",
                       f, iline, fld, f"one of {', '.join(known)} per step (a list of steps for more)")
        kind = kinds[0]
        if kind not in known:
            raise _err(f"unknown step kind {kind!r}", f, line_of(item, kind), f"{fld}.{kind}",
                       f"use one of {', '.join(known)}")
        name = item.get("name", kind)
        if not isinstance(name, str) or not name.strip():
            raise _err("a step name must be text", f, line_of(item, "name"), f"{fld}.name", "e.g. name: promote")
        name = name.strip()
        if "name" not in item and name in seen:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        else:
            seen.setdefault(name, 1)
        attrs, call = _step_attrs(kind, item[kind], f, line_of(item, kind), f"{fld}.{kind}", spec, plugin_steps,
                                  in_heal, base)
        steps.append(Step(kind, name, attrs, line_of(item, kind), call))
    names = [s.name for s in steps]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _err(f"two steps are named {dup!r}", f, line, where, "give every step its own name")
    return tuple(steps)


def _target(v: Any, f: str, line: int | None, fld: str, spec: Any, in_heal: bool):
    """A step's target; None = the fault's nodes (only in a heal)."""
    if v is None or (v == FAULT_NODES and FAULT_NODES not in spec.services):
        if not in_heal:
            raise _err("needs a target", f, line, fld, "name a service, {service, replica} or {role: primary}")
        return None
    return parse_node_ref(v, f, line, fld, spec.services, getattr(spec, "roles", {}) or {})


def _expectations(m: dict, f: str, fld: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "expect_exit" in m:
        v = m["expect_exit"]
        codes = v if isinstance(v, list) else [v]
        if not codes or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in codes):
            raise _err(f"expect_exit must be an exit code 0..255 or a list of them, not {v!r}", f,
                       line_of(m, "expect_exit"), f"{fld}.expect_exit", "e.g. expect_exit: 0")
        out["expect_exit"] = tuple(codes)
    if "expect_output" in m:
        v = m["expect_output"]
        try:
            out["expect_output"] = re.compile(str(v), re.M)
        except re.error as exc:
            raise _err(f"expect_output is not a regular expression: {exc}", f, line_of(m, "expect_output"),
                       f"{fld}.expect_output", "e.g. expect_output: '^t$'") from None
    return out


def _command(m: dict, f: str, fld: str) -> tuple[str, ...]:
    cmd = shell_command(m.get("command"))
    if cmd is None:
        raise _err("needs `command`: text (run by /bin/sh -c) or a list", f, line_of(m, "command") if "command" in m
                   else line_of(m), f"{fld}.command", "command: pg_isready -h 127.0.0.1")
    return cmd


def _check_keys(m: Any, allowed: set[str], f: str, line: int | None, fld: str, example: str) -> dict:
    if not isinstance(m, dict):
        raise _err(f"must be a mapping, not {type(m).__name__}", f, line, fld, example)
    m = on_key(m)
    for k in m:
        if k not in allowed:
            raise _err(f"unknown key {k!r}", f, line_of(m, k), f"{fld}.{k}", f"use {', '.join(sorted(allowed))}")
    return m


def _step_attrs(kind: str, v: Any, f: str, line: int | None, fld: str, spec: Any, plugin_steps: Any,
                in_heal: bool, base: Path) -> tuple[dict[str, Any], Callable | None]:
    if kind == "sleep":
        return {"seconds": _dur(v, f, line, fld)}, None
    if kind == "python":
        args: dict = {}
        ref = v
        if isinstance(v, dict):
            _check_keys(v, {"call", "args"}, f, line, fld, "{call: ./steps.py:reseed, args: {n: 3}}")
            ref = v.get("call")
            args = v.get("args") or {}
            if not isinstance(args, dict):
                raise _err("args must be a mapping", f, line_of(v, "args"), f"{fld}.args", "args: {n: 3}")
        fn = load_reference(ref, base, file=f, line=line, field=fld, what="step function")
        if not callable(fn):
            raise _err(f"{ref!r} is not callable", f, line, fld, "point at fn(env, timeline, **args)")
        return {"call": ref, "args": dict(args)}, fn
    if kind in plugin_steps and kind not in BUILTIN_STEPS:
        if v is not None and not isinstance(v, dict):
            raise _err(f"a {kind} step takes a mapping of attributes", f, line, fld, f"{kind}: {{...}}")
        fn = plugin_steps[kind] if isinstance(plugin_steps, dict) else None
        return dict(v or {}), fn
    if kind in _TARGET_OPTS:
        opts = _TARGET_OPTS[kind]
        ref: Any = v
        attrs: dict[str, Any] = {}
        if isinstance(v, dict):
            ref = {k: x for k, x in v.items() if k not in opts}
            if hasattr(v, "key_lines"):
                m = Map(ref)
                m.line, m.key_lines = v.line, v.key_lines
                ref = m
            for k in opts & set(v):
                if k == "wait":
                    if not isinstance(v[k], bool):
                        raise _err("must be true or false", f, line_of(v, k), f"{fld}.wait", "wait: true")
                    attrs[k] = v[k]
                else:
                    attrs[k] = _dur(v[k], f, line_of(v, k), f"{fld}.{k}")
            if not ref:
                ref = None
        attrs["target"] = _target(ref, f, line, fld, spec, in_heal)
        return attrs, None
    if kind == "exec":
        m = _check_keys(v, _EXEC_KEYS, f, line, fld, "{on: db, command: pg_isready, expect_exit: 0}")
        attrs = {"target": _target(m.get("on"), f, line_of(m, "on") if "on" in m else line, f"{fld}.on", spec, in_heal),
                 "command": _command(m, f, fld), "user": m.get("user"),
                 "timeout": _dur(m.get("timeout", 30), f, line_of(m, "timeout"), f"{fld}.timeout", positive=True),
                 **_expectations(m, f, fld)}
        return attrs, None
    if kind == "wait_until":
        m = _check_keys(v, _WAIT_KEYS, f, line, fld, "{on: db, command: pg_isready, deadline: 60s}")
        return _wait_attrs(m, f, line, fld, spec, in_heal), None
    if kind == "link":
        m = _check_keys(v, _LINK_KEYS, f, line, fld, "{name: app-db, upstream: db-replica:5432}")
        links = [l.name for l in getattr(spec, "links", [])]
        name = m.get("name")
        if name not in links:
            raise _err(f"no link {name!r} in this environment", f, line_of(m, "name") if "name" in m else line,
                       f"{fld}.name", f"use one of {', '.join(links) or '(none: declare x-drillkit.links)'}")
        up = m.get("upstream")
        mm = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*):(\d{1,5})", str(up or ""))
        host_ok = mm is not None and (mm.group(1) in spec.services or _is_replica_alias(mm.group(1), spec))
        if not host_ok:
            raise _err(f"upstream {up!r} is not SERVICE:PORT of this environment", f,
                       line_of(m, "upstream") if "upstream" in m else line, f"{fld}.upstream",
                       f"e.g. upstream: {sorted(spec.services)[0]}:5432 (links only lead to the lab's own services)")
        return {"name": name, "upstream": str(up),
                "timeout": _dur(m.get("timeout", 10), f, line_of(m, "timeout"), f"{fld}.timeout", positive=True)}, None
    raise _err(f"unknown step kind {kind!r}", f, line, fld, f"use one of {', '.join(BUILTIN_STEPS)}")  # pragma: no cover


def parse_wait_until(raw: Any, f: str, line: int | None, fld: str, spec: Any) -> dict[str, Any]:
    """A ``wait_until`` outside a runbook (a gate before the first fault): its attributes, checked
    (every target named: there is no fault whose nodes it could mean)."""
    m = _check_keys(raw, _WAIT_KEYS, f, line, fld, "{on: db, command: pg_isready, deadline: 60s}")
    return _wait_attrs(m, f, line, fld, spec, False)


def _wait_attrs(m: dict, f: str, line: int | None, fld: str, spec: Any, in_heal: bool) -> dict[str, Any]:
    """A ``wait_until`` (a runbook step, or a gate before the first fault): what it repeats — a
    command, an SQL query or a Redis command in a node, an HTTP check or a role count — every
    ``interval`` until it passes, for at most ``deadline``."""
    given = [k for k in WAIT_CHECKS if k in m]
    if len(given) != 1:
        named = [f"`{k}`" for k in WAIT_CHECKS]
        raise _err(f"wait_until needs exactly one of {', '.join(named[:-1])} or {named[-1]}"
                   + (f", not {len(given)} ({', '.join(given)})" if given else ""), f, line, fld,
                   "command: <true when exit 0> with on: <target>; sql: SELECT ... or redis: INFO replication "
                   "with on:; http: /health; or role: primary, holders: 1")
    if "holders" in m and "role" not in m:
        raise _err("holders goes with role", f, line_of(m, "holders"), f"{fld}.holders", "role: primary, holders: 1")
    attrs = {"deadline": _dur(m.get("deadline", 60), f, line_of(m, "deadline"), f"{fld}.deadline", positive=True),
             "interval": _dur(m.get("interval", 0.5), f, line_of(m, "interval"), f"{fld}.interval", positive=True)}
    attrs["timeout"] = _dur(m.get("timeout", min(10.0, attrs["deadline"])), f, line_of(m, "timeout"),
                            f"{fld}.timeout", positive=True)
    check = given[0]
    if check == "role":
        attrs.update(_role_count(m, f, line, fld, spec))
    elif check == "http":
        if "on" in m or "user" in m or "expect_exit" in m:
            raise _err("an http check has no on/user/expect_exit", f, line, fld,
                       "http: {path: /health, status: 200, contains: ok}")
        attrs["http"] = _http(m["http"], f, line_of(m, "http"), f"{fld}.http", spec)
        if "expect_output" in m:
            attrs.update(_expectations({"expect_output": m["expect_output"]}, f, fld))
    else:
        if check == "command":
            command = _command(m, f, fld)
        elif check == "sql":
            command, attrs["check"] = _sql(m["sql"], f, line_of(m, "sql"), f"{fld}.sql")
        else:
            command, attrs["check"] = _redis(m["redis"], f, line_of(m, "redis"), f"{fld}.redis")
            attrs["error_reply"] = REDIS_ERROR
        attrs.update(target=_target(m.get("on"), f, line_of(m, "on") if "on" in m else line, f"{fld}.on", spec,
                                    in_heal),
                     command=command, user=m.get("user"), **_expectations(m, f, fld))
    return attrs


def _sql(v: Any, f: str, line: int | None, fld: str) -> tuple[tuple[str, ...], str]:
    """``sql: SELECT ...`` or ``sql: {query, user, database, host, port, password}`` -> the psql
    command (tuples only: one row a line, columns separated by |) and what it asks, in words."""
    example = "{query: SELECT state FROM pg_stat_replication, user: postgres}"
    m = {"query": v} if isinstance(v, str) else _check_keys(v, _SQL_KEYS, f, line, fld, f"sql: {example}")
    for k in ("query", "user", "database", "host", "password"):
        if k in m and (not isinstance(m[k], str) or not m[k].strip()):
            raise _err(f"{k} must be text", f, line_of(m, k) if isinstance(v, dict) else line,
                       f"{fld}.{k}" if isinstance(v, dict) else fld, f"sql: {example}")
    if "query" not in m:
        raise _err("needs `query`", f, line, f"{fld}.query", f"sql: {example}")
    if "port" in m and (isinstance(m["port"], bool) or not isinstance(m["port"], int) or not 1 <= m["port"] <= 65535):
        raise _err(f"port must be a number 1..65535, not {m['port']!r}", f, line_of(m, "port"), f"{fld}.port",
                   "port: 5432")
    q = " ".join(m["query"].split())
    return tuple(psql_command(dict(m), csv=False)), f"sql `{q}`"


def _redis(v: Any, f: str, line: int | None, fld: str) -> tuple[tuple[str, ...], str]:
    """``redis: INFO replication`` or ``redis: {command, port, password}`` -> the redis-cli command
    and what it asks, in words."""
    example = "{command: INFO replication, port: 6379}"
    m = {"command": v} if isinstance(v, (str, list)) else _check_keys(v, _REDIS_KEYS, f, line, fld,
                                                                      f"redis: {example}")
    cmd = m.get("command")
    try:
        words = shlex.split(cmd) if isinstance(cmd, str) else cmd
    except ValueError as exc:           # an unclosed quote
        raise _err(f"not a command: {exc}", f, line_of(m, "command") if isinstance(v, dict) else line,
                   f"{fld}.command" if isinstance(v, dict) else fld, f"redis: {example}") from None
    if not isinstance(words, list) or not words or not all(isinstance(w, (str, int, float)) for w in words):
        raise _err("needs a Redis command: text or a list of words", f, line_of(m, "command") if "command" in m
                   else line, f"{fld}.command" if isinstance(v, dict) else fld, f"redis: {example}")
    if "port" in m and (isinstance(m["port"], bool) or not isinstance(m["port"], int) or not 1 <= m["port"] <= 65535):
        raise _err(f"port must be a number 1..65535, not {m['port']!r}", f, line_of(m, "port"), f"{fld}.port",
                   "port: 6379")
    if "password" in m and not isinstance(m["password"], str):
        raise _err("password must be text", f, line_of(m, "password"), f"{fld}.password", "password: secret")
    words = [str(w) for w in words]
    return tuple(redis_cli_command(dict(m), words)), f"redis `{' '.join(words)}`"


def _role_count(m: dict, f: str, line: int | None, fld: str, spec: Any) -> dict[str, Any]:
    """``role: primary, holders: 1``: until exactly that many running nodes hold the role (two
    primaries after a failover is a finding, none is an outage)."""
    roles = getattr(spec, "roles", {}) or {}
    extra = [k for k in ("on", "user", "expect_exit", "expect_output") if k in m]
    if extra:
        raise _err(f"a role check has no {extra[0]}", f, line_of(m, extra[0]), f"{fld}.{extra[0]}",
                   "role: primary, holders: 1 (the role's own check decides)")
    role = m["role"]
    if role not in roles:
        raise _err(f"no role {role!r} is declared", f, line_of(m, "role"), f"{fld}.role",
                   f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
    holders = m.get("holders", 1)
    if isinstance(holders, bool) or not isinstance(holders, int) or holders < 0:
        raise _err(f"holders must be a whole number ≥ 0, not {holders!r}", f, line_of(m, "holders"),
                   f"{fld}.holders", "e.g. holders: 1")
    return {"role": role, "holders": holders}


def _is_replica_alias(host: str, spec: Any) -> bool:
    m = re.fullmatch(r"(.+)-(\d+)", host)
    return bool(m and m.group(1) in spec.services and 1 <= int(m.group(2)) <= spec.services[m.group(1)].replicas)


def _http(v: Any, f: str, line: int | None, fld: str, spec: Any) -> dict[str, Any]:
    if isinstance(v, str):
        v = {"path": v}
    m = _check_keys(v, _HTTP_KEYS, f, line, fld, "{path: /health, status: 200}")
    path = m.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _err(f"path {path!r} must start with /", f, line_of(m, "path") if "path" in m else line, f"{fld}.path",
                   "e.g. path: /health")
    out: dict[str, Any] = {"path": path, "status": m.get("status", 200)}
    if isinstance(out["status"], bool) or not isinstance(out["status"], int):
        raise _err("status must be a number", f, line_of(m, "status"), f"{fld}.status", "status: 200")
    if "contains" in m:
        out["contains"] = str(m["contains"])
    if ("service" in m) != ("port" in m):
        raise _err("service and port go together (a published port)", f, line, fld, "give both, or neither for the entry point")
    if "service" in m:
        svc = spec.services.get(m["service"])
        if svc is None or not any(p.container_port == m["port"] for p in svc.ports):
            raise _err(f"{m['service']}:{m['port']} is not a published port", f, line_of(m, "port"), f"{fld}.port",
                       "name a service and one of its published ports")
        out.update(service=m["service"], port=m["port"], replica=m.get("replica", 1))
    elif getattr(spec, "entrypoint", None) is None:
        raise _err("the environment declares no entry point for an http check", f, line, fld,
                   "add x-drillkit.entrypoint or give service and port")
    return out


# == running ======================================================================================
def _nodes(env: "Environment", target: Any, fault_nodes: list | None) -> list["Node"]:
    if target is None:
        if not fault_nodes:
            raise _StepError("no target: the step names none and no fault's nodes were handed to it")
        return list(fault_nodes)
    if target.role is not None:
        try:
            return [resolve_role(env, target.role, target.service)]
        except RoleError as exc:
            raise _StepError(exc.message) from None
    nodes = [n for n in env.nodes.get(target.service, [])
             if (target.replica is None or n.replica == target.replica)
             and (target.zone is None or n.zone == target.zone)]
    if not nodes:
        raise _StepError(f"{target} matches no node")
    return nodes


class _StepError(Exception):
    """Why a step failed, in words (turned into RunbookFailed with the runbook and step names)."""


class NotYet(_StepError):
    """A ``wait_until`` that did not pass within its deadline: how often it was tried and what it
    saw the last time (`wait_until` raises it; a gate turns it into its sentence)."""

    def __init__(self, deadline: float, attempts: int, last: str):
        self.deadline, self.attempts, self.last = deadline, attempts, last
        super().__init__(f"still not true after {deadline:g} s ({attempts} attempts; last: {last})")


def _one_line(text: str, n: int = 200) -> str:
    return " ".join(text.split())[-n:]


def _check_output(code: int | None, out: str, attrs: dict) -> str | None:
    """None when the command passed, else why not."""
    if code is None:
        return out
    want = attrs.get("expect_exit", (0,))
    if code not in want:
        return f"exit {code}" + (f": {_one_line(out)}" if out.strip() else "")
    err = attrs.get("error_reply")
    first = next((ln.strip() for ln in out.splitlines() if ln.strip()), "")
    if err is not None and err.match(first):
        return f"answered {first[:160]!r}"
    rx = attrs.get("expect_output")
    if rx is not None and not rx.search(out):
        return f"output {_seen(out, rx)!r} does not match {rx.pattern!r}"
    return None


def _seen(out: str, rx: re.Pattern) -> str:
    """What of an output to show beside an expectation it missed: the line holding the pattern's
    longest literal word (``master_link_status:down`` for ``master_link_status:up``, out of the whole
    of ``INFO replication``), else the output's end in one line."""
    words = [w for w in re.split(r"\\.|[\^$.|?*+()\[\]{}]", rx.pattern) if len(w.strip(" :=,")) >= 4]
    word = max(words, key=len, default="")
    prefix = word.split(":")[0].split("=")[0].strip() if word else ""
    for needle in (word, prefix):
        if len(needle) >= 4:
            hit = next((ln.strip() for ln in out.splitlines() if needle in ln), None)
            if hit is not None:
                return _one_line(hit, 120)
    return _one_line(out, 120)


def _running(env: "Environment", nodes: list, target: Any) -> list:
    """Nodes to run a command on: every running one of a service; a single named node must run."""
    if len(nodes) == 1:
        if not env.is_running(nodes[0]):
            raise _StepError(f"{nodes[0].name} is not running")
        return nodes
    up = [n for n in nodes if env.is_running(n)]
    if not up:
        raise _StepError(f"no node of {target} is running")
    return up


def _do_exec(env, a, fault_nodes, cancel) -> str:
    nodes = _running(env, _nodes(env, a["target"], fault_nodes), a["target"])
    outs = []
    for n in nodes:
        code, out = env.exec_bounded(n, a["command"], a["timeout"], user=a.get("user"))
        why = _check_output(code, out, a)
        if why is not None:
            raise _StepError(f"on {n.name}: {why}")
        outs.append(f"{n.name}: {_one_line(out, 120)}" if len(nodes) > 1 else _one_line(out, 160))
    return "; ".join(outs)


def _http_once(env, h: dict, timeout: float) -> tuple[int | None, str]:
    port = env.host_port(h["service"], h["port"], h.get("replica", 1)) if "service" in h \
        else urlsplit(env.url()).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)   # only ever the lab's own port
    try:
        conn.request("GET", h["path"])
        resp = conn.getresponse()
        return resp.status, resp.read(65536).decode("utf-8", "replace")
    except OSError as exc:
        return None, type(exc).__name__
    finally:
        conn.close()


def wait_until(env: "Environment", a: dict[str, Any], *, fault_nodes: list | None = None,
               cancel: threading.Event | None = None) -> str:
    """Repeat a parsed ``wait_until`` (a step's ``attrs``) until it passes: returns what passed, in
    words; raises `NotYet` after its deadline (or a plain error when ``cancel`` was set)."""
    return _do_wait(env, a, fault_nodes, cancel)


def _do_wait(env, a, fault_nodes, cancel) -> str:
    t0 = time.monotonic()
    end = t0 + a["deadline"]
    attempts = 0
    last = "not tried"
    while True:
        attempts += 1
        try:
            if "role" in a:
                held = [n.name for n in role_nodes(env, a["role"])]
                if len(held) == a["holders"]:
                    return (f"role {a['role']} held by {', '.join(held) or 'no node'} after {attempts} attempt(s)")
                last = (f"role {a['role']} held by {len(held)} node(s)" + (f" ({', '.join(held)})" if held else "")
                        + f", expected {a['holders']}")
            elif "http" in a:
                h = a["http"]
                budget = min(a["timeout"], max(0.1, end - time.monotonic()))
                status, body = _http_once(env, h, budget)
                if status == h["status"] and h.get("contains", "") in body and \
                        (a.get("expect_output") is None or a["expect_output"].search(body)):
                    return f"{h['path']} answered {status} after {attempts} attempt(s)"
                if status is not None or budget >= a["timeout"] or attempts == 1:
                    last = f"GET {h['path']} answered {status if status is not None else body}"
            else:
                nodes = [n for n in _nodes(env, a["target"], fault_nodes) if env.is_running(n)]
                if not nodes:
                    last = f"no node of {a['target']} running"
                else:
                    failing, cut_short = None, False
                    for n in nodes:
                        budget = min(a["timeout"], max(0.1, end - time.monotonic()))
                        code, out = env.exec_bounded(n, a["command"], budget, user=a.get("user"))
                        why = _check_output(code, out, a)
                        if why is not None:
                            failing, cut_short = f"{n.name}: {why}", code is None and budget < a["timeout"]
                            break
                    if failing is None:
                        return f"true on {', '.join(n.name for n in nodes)} after {attempts} attempt(s)"
                    if not cut_short or attempts == 1:
                        last = failing      # a check the deadline cut short saw nothing: keep what the one before saw
        except _StepError as exc:       # e.g. the role has no holder yet: try again
            last = str(exc)
        if time.monotonic() + a["interval"] > end:
            raise NotYet(a["deadline"], attempts, last)
        if cancel is not None and cancel.wait(a["interval"]):
            raise _StepError("cancelled (the drill is stopping)")
        if cancel is None:
            time.sleep(a["interval"])


def _do_kill(env, a, fault_nodes, cancel) -> str:
    nodes = _nodes(env, a["target"], fault_nodes)
    check_blast_radius(env, nodes)
    done = []
    for n in nodes:
        if env.is_running(n):
            env.backend.kill(n, "SIGKILL")
            done.append(n.name)
    return f"killed {', '.join(done)}" if done else f"{', '.join(n.name for n in nodes)} already down"


def _do_stop(env, a, fault_nodes, cancel) -> str:
    nodes = _nodes(env, a["target"], fault_nodes)
    check_blast_radius(env, nodes)
    for n in nodes:
        env.backend.stop(n, timeout=a.get("grace", 5))
    return f"stopped {', '.join(n.name for n in nodes)}"


def _do_start(env, a, fault_nodes, cancel) -> str:
    nodes = _nodes(env, a["target"], fault_nodes)
    check_blast_radius(env, nodes)
    started = []
    for n in nodes:
        st = env.backend.state(n)
        if st.paused:
            env.backend.unpause(n)
            started.append(n.name)
        elif not st.running:
            env.backend.start(n)
            started.append(n.name)
    if a.get("wait", True):
        deadline = a.get("deadline", 60.0)
        for n in nodes:
            try:
                env.wait_healthy(n, deadline=deadline)
            except DrillkitError as exc:
                raise _StepError(f"{n.name} not healthy within {deadline:g} s: {exc.message}") from None
    what = f"started {', '.join(started)}" if started else "already running"
    return what + (" (healthy)" if a.get("wait", True) else "")


def _do_sleep(env, a, fault_nodes, cancel) -> str:
    if cancel is not None:
        if cancel.wait(a["seconds"]):
            raise _StepError("cancelled (the drill is stopping)")
    else:
        time.sleep(a["seconds"])
    return f"{a['seconds']:g} s"


def _do_link(env, a, fault_nodes, cancel) -> str:
    return repoint_link(env, a["name"], a["upstream"], timeout=a["timeout"])


_RUNNERS = {"exec": _do_exec, "wait_until": _do_wait, "kill": _do_kill, "stop": _do_stop, "start": _do_start,
            "sleep": _do_sleep, "link": _do_link}


def repoint_link(env: "Environment", link: str, upstream: str, *, timeout: float = 10.0,
                 settle: float = 15.0) -> str:
    """Point link ``link`` at ``upstream``; returns how it went, in words.

    Toxiproxy 2.12 stops a proxy before it changes the upstream, and the stop waits for a dial in
    progress. A dial to a node killed a moment ago (clients reconnect at once) is not bounded by
    Toxiproxy; the lab bounds it (``tcp_syn_retries=2`` in the Toxiproxy container: ~7 s, else up to
    minutes), so the update normally answers within ``timeout``. If it does not: watch up to ``settle``
    s whether it completes by itself; if not, remove the proxy and create it again under the same name
    and listen address with the new upstream, and put its toxics back — faults aimed at the link keep
    working (unlike a second proxy under another name).
    """
    if env.links is None:
        raise _StepError(f"environment {env.spec.name!r} runs no Toxiproxy (no links declared)")
    server = LinkServer(env.links.host, env.links.port, timeout=timeout)
    t0 = time.monotonic()
    try:
        server.set_upstream(link, upstream)
        return f"{link} -> {upstream}"
    except LinkError as exc:
        first = " ".join(str(exc).split())[:160]
    end = time.monotonic() + settle
    state: dict = {}
    while time.monotonic() < end:
        try:
            state = env.links.proxy(link)
        except LinkError:
            state = {}
        if state.get("upstream") == upstream and state.get("enabled"):
            return f"{link} -> {upstream} (the update answered late, {time.monotonic() - t0:.1f} s)"
        time.sleep(0.25)
    if not state:
        try:
            state = env.links.proxy(link)        # a read does not wait for the wedged update
        except LinkError:
            state = {}
    listen = "0.0.0.0:" + str(state.get("listen", "")).rsplit(":", 1)[-1] if state.get("listen") else None
    if listen is None:
        spec = next(l for l in env.spec.links if l.name == link)
        listen = f"0.0.0.0:{spec.listen}"
    toxics = [t for t in (state.get("toxics") or []) if isinstance(t, dict)]
    slow = LinkServer(env.links.host, env.links.port, timeout=max(30.0, timeout))
    try:
        slow.remove(link)                        # waits until the wedged update lets go of the proxy
    except LinkError:
        pass                                     # gone already, or still busy: create tells
    last: Exception | None = None
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            slow.create(link, listen, upstream)
            break
        except LinkError as exc:
            last = exc
            time.sleep(0.5)
    else:
        if "address already in use" not in str(last):
            raise _StepError(f"could not recreate link {link} after a wedged update ({first}): {last}")
        # the late update started a proxy the removal had already taken out of Toxiproxy's table: its
        # listener holds the port for good. Restart Toxiproxy with every link as it was, this one repointed.
        try:
            env.backend.restart_link_server()
            env.links.set_upstream(link, upstream)
            for t in env.links.toxics(link):
                toxics = [x for x in toxics if x.get("name") != t.get("name")]
        except (LinkError, LabError) as exc:
            raise _StepError(f"could not recreate link {link} after a wedged update ({first}), nor restart "
                             f"Toxiproxy: {exc}") from None
        slow = env.links
    for t in toxics:
        try:
            slow.add_toxic(link, Toxic(t["type"], dict(t.get("attributes") or {}), t.get("stream", "downstream"),
                                       float(t.get("toxicity", 1.0)), t.get("name")))
        except (LinkError, KeyError):
            pass
    return (f"{link} -> {upstream} (recreated under the same name after {time.monotonic() - t0:.1f} s: "
            f"the update did not answer: {first})")


def run_runbook(env: "Environment", timeline: "Timeline", runbook: Runbook | list[Step] | tuple[Step, ...], *,
                fault_nodes: list | None = None, cancel: threading.Event | None = None,
                progress: Callable[[str], None] | None = None, name: str | None = None) -> RunbookResult:
    """Run every step in order, each timed on the timeline; the first failure raises `RunbookFailed`."""
    if not isinstance(runbook, Runbook):
        runbook = Runbook(name or "steps", tuple(runbook))
    rb = runbook.name
    result = RunbookResult(rb)
    t_start = time.monotonic()
    for step in runbook.steps:
        t = timeline.now()
        timeline.add("runbook", t=t, runbook=rb, step=step.name, event="start", detail=step.kind)
        if progress:
            progress(f"runbook {rb}: {step.describe()}")
        try:
            if step.kind in _RUNNERS:
                detail = _RUNNERS[step.kind](env, step.attrs, fault_nodes, cancel)
            elif step.kind == "python":
                out = step.call(env, timeline, **step.attrs.get("args", {}))
                detail = "" if out is None else _one_line(str(out), 200)
            else:
                if step.call is None:
                    raise _StepError(f"step kind {step.kind!r} has no function (is the plug-in loaded?)")
                out = step.call(env, timeline, **step.attrs)
                detail = "" if out is None else _one_line(str(out), 200)
        except BaseException as exc:
            seconds = round(timeline.now() - t, 3)
            why = str(exc) if isinstance(exc, (_StepError, DrillkitError)) else f"{type(exc).__name__}: {exc}"
            why = _one_line(why, 300)
            timeline.add("runbook", runbook=rb, step=step.name, event="failed", detail=why, seconds=seconds)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise RunbookFailed(f"runbook {rb}: step {step.name} failed after {seconds:.1f} s: {why}",
                                runbook=rb, step=step.name,
                                fix="see the runbook records on the timeline and the service's logs") from None
        seconds = round(timeline.now() - t, 3)
        timeline.add("runbook", runbook=rb, step=step.name, event="end", detail=detail, seconds=seconds)
        result.seconds[step.name] = seconds
        result.details[step.name] = detail
    result.total = round(time.monotonic() - t_start, 3)
    return result


class runbook_heal:  # noqa: N801 - used like a function: Fault(heal=runbook_heal(...))
    """A fault's heal that runs a runbook (``Fault(heal=runbook_heal(rb, fault))``): the fault's nodes
    are the target of steps that name none."""

    def __init__(self, runbook: Runbook, fault: Any = None, *, cancel: threading.Event | None = None,
                 progress: Callable[[str], None] | None = None):
        self.runbook, self.fault, self.cancel, self.progress = runbook, fault, cancel, progress

    def describe(self) -> str:
        return f"runbook {self.runbook.name}"

    def __call__(self, env: "Environment", timeline: "Timeline") -> RunbookResult:
        nodes = list(getattr(self.fault, "nodes", []) or [])
        return run_runbook(env, timeline, self.runbook, fault_nodes=nodes, cancel=self.cancel,
                           progress=self.progress)

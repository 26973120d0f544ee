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

Step kinds (`BUILTIN_STEPS`); a stack plug-in can add more (`drillkit.plugins`):

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

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from drillkit.errors import ConfigError, DrillkitError

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node
    from drillkit.timeline import Timeline

__all__ = ["Step", "Runbook", "RunbookResult", "RunbookFailed", "BUILTIN_STEPS", "parse_runbooks",
           "parse_steps", "run_runbook", "repoint_link", "runbook_heal"]

BUILTIN_STEPS = ("exec", "wait_until", "link", "kill", "stop", "start", "sleep", "python")
FAULT_NODES = "fault"           # a heal step's target: the nodes the fault hit
_TARGET_OPTS = {"kill": set(), "stop": {"grace"}, "start": {"wait", "deadline"}}
_EXEC_KEYS = {"on", "command", "user", "expect_exit", "expect_output", "timeout"}
_WAIT_KEYS = {"on", "command", "http", "role", "holders", "user", "expect_exit", "expect_output", "deadline",
              "interval", "timeout"}
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
    from drillkit.scenario.schema import DurationError, parse_duration
    try:
        s = parse_duration(v)
    except DurationError as exc:
        raise _err(str(exc), f, line, fld, "write e.g. 500ms, 3s, 1m") from None
    if positive and s <= 0:
        raise _err("must be longer than 0 s", f, line, fld, "e.g. 1s")
    return s


def parse_runbooks(raw: Any, f: str, spec: Any, plugin_steps: set[str] | dict, *,
                   where: str = "x-drillkit.runbooks", base_dir: Path | None = None) -> dict[str, Runbook]:
    """``runbooks: {name: [steps] | {description, steps}}`` -> named runbooks (validated)."""
    from drillkit.lab.compose import _line
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _err("runbooks must be a mapping of name -> steps", f, _line(raw), where,
                   "runbooks: {promote-replica: {steps: [...]}}")
    out: dict[str, Runbook] = {}
    for name, body in raw.items():
        fld, line = f"{where}.{name}", _line(raw, name)
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
            raise _err(f"runbook name {name!r} is not usable", f, line, fld, "e.g. promote-replica")
        if name in ("start", "none"):
            raise _err(f"runbook name {name!r} is a heal mode", f, line, fld, "give the runbook another name")
        desc = ""
        steps_raw = body
        if isinstance(body, dict):
            for k in body:
                if k not in ("description", "steps"):
                    raise _err(f"unknown key {k!r}", f, _line(body, k), f"{fld}.{k}", "use description, steps")
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
    from drillkit.lab.compose import _line
    if not isinstance(raw, list) or not raw:
        raise _err("steps must be a non-empty list", f, _line(raw) or line, where,
                   "- {name: promote, exec: {on: db-replica, command: ...}}")
    base = base_dir if base_dir is not None else Path(getattr(spec, "file", ".")).parent
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        fld = f"{where}[{i}]"
        iline = _line(item) or _line(raw) or line
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
            raise _err(f"unknown step kind {kind!r}", f, _line(item, kind), f"{fld}.{kind}",
                       f"use one of {', '.join(known)}")
        name = item.get("name", kind)
        if not isinstance(name, str) or not name.strip():
            raise _err("a step name must be text", f, _line(item, "name"), f"{fld}.name", "e.g. name: promote")
        name = name.strip()
        if "name" not in item and name in seen:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        else:
            seen.setdefault(name, 1)
        attrs, call = _step_attrs(kind, item[kind], f, _line(item, kind), f"{fld}.{kind}", spec, plugin_steps,
                                  in_heal, base)
        steps.append(Step(kind, name, attrs, _line(item, kind), call))
    names = [s.name for s in steps]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _err(f"two steps are named {dup!r}", f, line, where, "give every step its own name")
    return tuple(steps)


def _target(v: Any, f: str, line: int | None, fld: str, spec: Any, in_heal: bool):
    """A step's target; None = the fault's nodes (only in a heal)."""
    from drillkit.roles import parse_node_ref
    if v is None or (v == FAULT_NODES and FAULT_NODES not in spec.services):
        if not in_heal:
            raise _err("needs a target", f, line, fld, "name a service, {service, replica} or {role: primary}")
        return None
    return parse_node_ref(v, f, line, fld, spec.services, getattr(spec, "roles", {}) or {})


def _expectations(m: dict, f: str, fld: str) -> dict[str, Any]:
    from drillkit.lab.compose import _line
    out: dict[str, Any] = {}
    if "expect_exit" in m:
        v = m["expect_exit"]
        codes = v if isinstance(v, list) else [v]
        if not codes or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in codes):
            raise _err(f"expect_exit must be an exit code 0..255 or a list of them, not {v!r}", f,
                       _line(m, "expect_exit"), f"{fld}.expect_exit", "e.g. expect_exit: 0")
        out["expect_exit"] = tuple(codes)
    if "expect_output" in m:
        v = m["expect_output"]
        try:
            out["expect_output"] = re.compile(str(v), re.M)
        except re.error as exc:
            raise _err(f"expect_output is not a regular expression: {exc}", f, _line(m, "expect_output"),
                       f"{fld}.expect_output", "e.g. expect_output: '^t$'") from None
    return out


def _command(m: dict, f: str, fld: str) -> tuple[str, ...]:
    from drillkit.lab.compose import _line
    from drillkit.roles import shell_command
    cmd = shell_command(m.get("command"))
    if cmd is None:
        raise _err("needs `command`: text (run by /bin/sh -c) or a list", f, _line(m, "command") if "command" in m
                   else _line(m), f"{fld}.command", "command: pg_isready -h 127.0.0.1")
    return cmd


def _check_keys(m: Any, allowed: set[str], f: str, line: int | None, fld: str, example: str) -> dict:
    from drillkit.lab.compose import _line
    from drillkit.roles import on_key
    if not isinstance(m, dict):
        raise _err(f"must be a mapping, not {type(m).__name__}", f, line, fld, example)
    m = on_key(m)
    for k in m:
        if k not in allowed:
            raise _err(f"unknown key {k!r}", f, _line(m, k), f"{fld}.{k}", f"use {', '.join(sorted(allowed))}")
    return m


def _step_attrs(kind: str, v: Any, f: str, line: int | None, fld: str, spec: Any, plugin_steps: Any,
                in_heal: bool, base: Path) -> tuple[dict[str, Any], Callable | None]:
    from drillkit.lab.compose import _line
    if kind == "sleep":
        return {"seconds": _dur(v, f, line, fld)}, None
    if kind == "python":
        from drillkit.plugins import load_reference
        args: dict = {}
        ref = v
        if isinstance(v, dict):
            _check_keys(v, {"call", "args"}, f, line, fld, "{call: ./steps.py:reseed, args: {n: 3}}")
            ref = v.get("call")
            args = v.get("args") or {}
            if not isinstance(args, dict):
                raise _err("args must be a mapping", f, _line(v, "args"), f"{fld}.args", "args: {n: 3}")
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
                from drillkit.lab.compose import _Map
                m = _Map(ref)
                m.line, m.key_lines = v.line, v.key_lines
                ref = m
            for k in opts & set(v):
                if k == "wait":
                    if not isinstance(v[k], bool):
                        raise _err("must be true or false", f, _line(v, k), f"{fld}.wait", "wait: true")
                    attrs[k] = v[k]
                else:
                    attrs[k] = _dur(v[k], f, _line(v, k), f"{fld}.{k}")
            if not ref:
                ref = None
        attrs["target"] = _target(ref, f, line, fld, spec, in_heal)
        return attrs, None
    if kind == "exec":
        m = _check_keys(v, _EXEC_KEYS, f, line, fld, "{on: db, command: pg_isready, expect_exit: 0}")
        attrs = {"target": _target(m.get("on"), f, _line(m, "on") if "on" in m else line, f"{fld}.on", spec, in_heal),
                 "command": _command(m, f, fld), "user": m.get("user"),
                 "timeout": _dur(m.get("timeout", 30), f, _line(m, "timeout"), f"{fld}.timeout", positive=True),
                 **_expectations(m, f, fld)}
        return attrs, None
    if kind == "wait_until":
        m = _check_keys(v, _WAIT_KEYS, f, line, fld, "{on: db, command: pg_isready, deadline: 60s}")
        if sum(k in m for k in ("command", "http", "role")) != 1:
            raise _err("wait_until needs one of `command`, `http` or `role`", f, line, fld,
                       "command: <true when exit 0> with on: <target>, http: /health, or role: primary, holders: 1")
        if "holders" in m and "role" not in m:
            raise _err("holders goes with role", f, _line(m, "holders"), f"{fld}.holders", "role: primary, holders: 1")
        attrs = {"deadline": _dur(m.get("deadline", 60), f, _line(m, "deadline"), f"{fld}.deadline", positive=True),
                 "interval": _dur(m.get("interval", 0.5), f, _line(m, "interval"), f"{fld}.interval", positive=True)}
        attrs["timeout"] = _dur(m.get("timeout", min(10.0, attrs["deadline"])), f, _line(m, "timeout"),
                                f"{fld}.timeout", positive=True)
        if "role" in m:
            attrs.update(_role_count(m, f, line, fld, spec))
        elif "command" in m:
            attrs.update(target=_target(m.get("on"), f, _line(m, "on") if "on" in m else line, f"{fld}.on", spec,
                                        in_heal),
                         command=_command(m, f, fld), user=m.get("user"), **_expectations(m, f, fld))
        else:
            if "on" in m or "user" in m or "expect_exit" in m:
                raise _err("an http check has no on/user/expect_exit", f, line, fld,
                           "http: {path: /health, status: 200, contains: ok}")
            attrs["http"] = _http(m["http"], f, _line(m, "http"), f"{fld}.http", spec)
            if "expect_output" in m:
                attrs.update(_expectations({"expect_output": m["expect_output"]}, f, fld))
        return attrs, None
    if kind == "link":
        m = _check_keys(v, _LINK_KEYS, f, line, fld, "{name: app-db, upstream: db-replica:5432}")
        links = [l.name for l in getattr(spec, "links", [])]
        name = m.get("name")
        if name not in links:
            raise _err(f"no link {name!r} in this environment", f, _line(m, "name") if "name" in m else line,
                       f"{fld}.name", f"use one of {', '.join(links) or '(none: declare x-drillkit.links)'}")
        up = m.get("upstream")
        mm = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*):(\d{1,5})", str(up or ""))
        host_ok = mm is not None and (mm.group(1) in spec.services or _is_replica_alias(mm.group(1), spec))
        if not host_ok:
            raise _err(f"upstream {up!r} is not SERVICE:PORT of this environment", f,
                       _line(m, "upstream") if "upstream" in m else line, f"{fld}.upstream",
                       f"e.g. upstream: {sorted(spec.services)[0]}:5432 (links only lead to the lab's own services)")
        return {"name": name, "upstream": str(up),
                "timeout": _dur(m.get("timeout", 10), f, _line(m, "timeout"), f"{fld}.timeout", positive=True)}, None
    raise _err(f"unknown step kind {kind!r}", f, line, fld, f"use one of {', '.join(BUILTIN_STEPS)}")  # pragma: no cover


def _role_count(m: dict, f: str, line: int | None, fld: str, spec: Any) -> dict[str, Any]:
    """``role: primary, holders: 1``: until exactly that many running nodes hold the role (two
    primaries after a failover is a finding, none is an outage)."""
    from drillkit.lab.compose import _line
    roles = getattr(spec, "roles", {}) or {}
    extra = [k for k in ("on", "user", "expect_exit", "expect_output") if k in m]
    if extra:
        raise _err(f"a role check has no {extra[0]}", f, _line(m, extra[0]), f"{fld}.{extra[0]}",
                   "role: primary, holders: 1 (the role's own check decides)")
    role = m["role"]
    if role not in roles:
        raise _err(f"no role {role!r} is declared", f, _line(m, "role"), f"{fld}.role",
                   f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
    holders = m.get("holders", 1)
    if isinstance(holders, bool) or not isinstance(holders, int) or holders < 0:
        raise _err(f"holders must be a whole number ≥ 0, not {holders!r}", f, _line(m, "holders"),
                   f"{fld}.holders", "e.g. holders: 1")
    return {"role": role, "holders": holders}


def _is_replica_alias(host: str, spec: Any) -> bool:
    m = re.fullmatch(r"(.+)-(\d+)", host)
    return bool(m and m.group(1) in spec.services and 1 <= int(m.group(2)) <= spec.services[m.group(1)].replicas)


def _http(v: Any, f: str, line: int | None, fld: str, spec: Any) -> dict[str, Any]:
    from drillkit.lab.compose import _line
    if isinstance(v, str):
        v = {"path": v}
    m = _check_keys(v, _HTTP_KEYS, f, line, fld, "{path: /health, status: 200}")
    path = m.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _err(f"path {path!r} must start with /", f, _line(m, "path") if "path" in m else line, f"{fld}.path",
                   "e.g. path: /health")
    out: dict[str, Any] = {"path": path, "status": m.get("status", 200)}
    if isinstance(out["status"], bool) or not isinstance(out["status"], int):
        raise _err("status must be a number", f, _line(m, "status"), f"{fld}.status", "status: 200")
    if "contains" in m:
        out["contains"] = str(m["contains"])
    if ("service" in m) != ("port" in m):
        raise _err("service and port go together (a published port)", f, line, fld, "give both, or neither for the entry point")
    if "service" in m:
        svc = spec.services.get(m["service"])
        if svc is None or not any(p.container_port == m["port"] for p in svc.ports):
            raise _err(f"{m['service']}:{m['port']} is not a published port", f, _line(m, "port"), f"{fld}.port",
                       "name a service and one of its published ports")
        out.update(service=m["service"], port=m["port"], replica=m.get("replica", 1))
    elif getattr(spec, "entrypoint", None) is None:
        raise _err("the environment declares no entry point for an http check", f, line, fld,
                   "add x-drillkit.entrypoint or give service and port")
    return out


# == running ======================================================================================
def _nodes(env: "Environment", target: Any, fault_nodes: list | None) -> list["Node"]:
    from drillkit.roles import RoleError, resolve_role
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


def _one_line(text: str, n: int = 200) -> str:
    return " ".join(text.split())[-n:]


def _check_output(code: int | None, out: str, attrs: dict) -> str | None:
    """None when the command passed, else why not."""
    if code is None:
        return out
    want = attrs.get("expect_exit", (0,))
    if code not in want:
        return f"exit {code}" + (f": {_one_line(out)}" if out.strip() else "")
    rx = attrs.get("expect_output")
    if rx is not None and not rx.search(out):
        return f"output {_one_line(out, 120)!r} does not match {rx.pattern!r}"
    return None


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
    from drillkit.roles import run_bounded
    nodes = _running(env, _nodes(env, a["target"], fault_nodes), a["target"])
    outs = []
    for n in nodes:
        code, out = run_bounded(env, n, a["command"], a["timeout"], user=a.get("user"))
        why = _check_output(code, out, a)
        if why is not None:
            raise _StepError(f"on {n.name}: {why}")
        outs.append(f"{n.name}: {_one_line(out, 120)}" if len(nodes) > 1 else _one_line(out, 160))
    return "; ".join(outs)


def _http_once(env, h: dict, timeout: float) -> tuple[int | None, str]:
    import http.client
    from urllib.parse import urlsplit
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


def _do_wait(env, a, fault_nodes, cancel) -> str:
    from drillkit.roles import run_bounded
    t0 = time.monotonic()
    end = t0 + a["deadline"]
    attempts = 0
    last = "not tried"
    while True:
        attempts += 1
        try:
            if "role" in a:
                from drillkit.roles import role_nodes
                held = [n.name for n in role_nodes(env, a["role"])]
                if len(held) == a["holders"]:
                    return (f"role {a['role']} held by {', '.join(held) or 'no node'} after {attempts} attempt(s)")
                last = (f"role {a['role']} held by {len(held)} node(s)" + (f" ({', '.join(held)})" if held else "")
                        + f", expected {a['holders']}")
            elif "http" in a:
                h = a["http"]
                status, body = _http_once(env, h, min(a["timeout"], max(0.1, end - time.monotonic())))
                if status == h["status"] and h.get("contains", "") in body and \
                        (a.get("expect_output") is None or a["expect_output"].search(body)):
                    return f"{h['path']} answered {status} after {attempts} attempt(s)"
                last = f"GET {h['path']} answered {status if status is not None else body}"
            else:
                nodes = [n for n in _nodes(env, a["target"], fault_nodes) if env.is_running(n)]
                if not nodes:
                    last = f"no node of {a['target']} running"
                else:
                    failing = None
                    for n in nodes:
                        code, out = run_bounded(env, n, a["command"],
                                                min(a["timeout"], max(0.1, end - time.monotonic())),
                                                user=a.get("user"))
                        why = _check_output(code, out, a)
                        if why is not None:
                            failing = f"{n.name}: {why}"
                            break
                    if failing is None:
                        return f"true on {', '.join(n.name for n in nodes)} after {attempts} attempt(s)"
                    last = failing
        except _StepError as exc:       # e.g. the role has no holder yet: try again
            last = str(exc)
        if time.monotonic() + a["interval"] > end:
            raise _StepError(f"still not true after {a['deadline']:g} s ({attempts} attempts; last: {last})")
        if cancel is not None and cancel.wait(a["interval"]):
            raise _StepError("cancelled (the drill is stopping)")
        if cancel is None:
            time.sleep(a["interval"])


def _do_kill(env, a, fault_nodes, cancel) -> str:
    from drillkit.faults.base import check_blast_radius
    nodes = _nodes(env, a["target"], fault_nodes)
    check_blast_radius(env, nodes)
    done = []
    for n in nodes:
        if env.is_running(n):
            env.backend.kill(n, "SIGKILL")
            done.append(n.name)
    return f"killed {', '.join(done)}" if done else f"{', '.join(n.name for n in nodes)} already down"


def _do_stop(env, a, fault_nodes, cancel) -> str:
    from drillkit.faults.base import check_blast_radius
    nodes = _nodes(env, a["target"], fault_nodes)
    check_blast_radius(env, nodes)
    for n in nodes:
        env.backend.stop(n, timeout=a.get("grace", 5))
    return f"stopped {', '.join(n.name for n in nodes)}"


def _do_start(env, a, fault_nodes, cancel) -> str:
    from drillkit.faults.base import check_blast_radius
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
    from drillkit.errors import LinkError
    from drillkit.lab.links import LinkServer, Toxic
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
        raise _StepError(f"could not recreate link {link} after a wedged update ({first}): {last}")
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

"""Gates: what must hold before the first fault — "the replica is streaming", "master_link_status:up".

A healthy container is not an in-sync replica: a drill that faults a primary whose standby has not
caught up measures the catch-up, not the failover. A gate is checked after the steady state and
before the fault schedule starts, repeated every ``interval`` until it holds; if it does not hold
within its ``deadline`` the drill is *not judged* (`drillkit.errors.SteadyStateNotMet`, one sentence
naming the gate, what it saw last and the deadline) and no fault is injected.

A gate is a ``wait_until`` of the runbooks (`drillkit.stack.runbook`), the same keys::

    x-drillkit:
      gates:
        replica-in-sync:
          description: the standby streams from the primary
          on: {role: primary}                       # a service, {service, replica}, a role
          sql: SELECT state FROM pg_stat_replication    # or {query, user, database, host, port, password}
          expect_output: ^streaming$                # a regular expression on the rows (one a line)
          deadline: 30s                             # default 60 s
          interval: 500ms                           # default 0.5 s
        replica-linked:
          on: {role: replica}
          redis: INFO replication                   # or {command, port, password}
          expect_output: master_link_status:up
        one-primary: {role: primary, holders: 1}    # exactly one node holds the role
        app-ready: {http: {path: /health, contains: ok}}
        marker: {on: db, command: test -f /var/lib/ready}   # exit 0 (or expect_exit)

A scenario names them (``gate: [replica-in-sync]``) or writes one in place (``gate: [{name: x,
role: primary, holders: 1}]``); a Python drill calls ``drill.gate("replica-in-sync")``. Every gate
writes ``gate`` records on the timeline: ``event`` = start | open | shut, ``detail``, ``seconds``.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from drillkit.errors import ConfigError, SteadyStateNotMet
from drillkit.stack.runbook import WAIT_CHECKS, WAIT_KEYS, NotYet, parse_wait_until, wait_until
from drillkit.stack.target import describe_ref
from drillkit.yamlsrc import Map, line_of, on_key

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment
    from drillkit.timeline import Timeline

__all__ = ["Gate", "GateResult", "parse_gates", "parse_gate_list", "parse_one_gate", "gate_of", "open_gates", "GATE_KEYS"]

GATE_KEYS = {"description"}            # beside the keys of a wait_until; in place also `name`
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_EXAMPLE = ("{on: {role: replica}, redis: INFO replication, expect_output: 'master_link_status:up', "
            "deadline: 30s}")


@dataclass(frozen=True)
class Gate:
    """A condition that must hold before the first fault: a parsed ``wait_until`` (``attrs``)."""

    name: str
    attrs: dict[str, Any]
    description: str = ""
    file: str = ""
    line: int | None = None

    @property
    def deadline(self) -> float:
        return self.attrs["deadline"]

    def describe(self) -> str:
        """What the gate waits for, in words."""
        a = self.attrs
        if "role" in a:
            return f"role {a['role']} held by exactly {a['holders']} node(s)"
        if "http" in a:
            h = a["http"]
            what = f"GET {h['path']} answers {h['status']}"
            if h.get("contains"):
                what += f" with {h['contains']!r}"
        else:
            cmd = a["command"]
            what = a.get("check") or f"`{cmd[2] if cmd[:2] == ('/bin/sh', '-c') else shlex.join(cmd)}`"
            what += f" on {describe_ref(a['target'])}"
            codes = a.get("expect_exit", (0,))
            if codes != (0,):
                what += f" exits {' or '.join(map(str, codes))}"
        if a.get("expect_output") is not None:
            what += f" with output matching /{a['expect_output'].pattern}/"
        return what


@dataclass(frozen=True)
class GateResult:
    """A gate that held: after how long, and what it saw."""

    gate: str
    seconds: float
    detail: str


# -- parsing ----------------------------------------------------------------------------------------
def _err(msg: str, f: str, line: int | None, fld: str, fix: str) -> ConfigError:
    return ConfigError(msg, file=f, line=line, field=fld, fix=fix)


def _gate(name: str, raw: Any, f: str, line: int | None, fld: str, spec: Any, *, inline: bool = False) -> Gate:
    raw = on_key(raw)
    if not isinstance(raw, dict):
        raise _err(f"a gate must be a mapping, not {type(raw).__name__}", f, line, fld, f"write {_EXAMPLE}")
    own = GATE_KEYS | ({"name"} if inline else set())
    for k in raw:
        if k not in WAIT_KEYS | own:
            raise _err(f"unknown key {k!r}", f, line_of(raw, k), f"{fld}.{k}",
                       f"use {', '.join(sorted(WAIT_KEYS | own))}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _err("description must be text", f, line_of(raw, "description"), f"{fld}.description",
                   "description: the standby streams from the primary")
    if not any(k in raw for k in WAIT_CHECKS):
        raise _err(f"a gate needs what to check: one of {', '.join(WAIT_CHECKS)}", f, line_of(raw) or line, fld,
                   f"write {_EXAMPLE}")
    body = Map({k: v for k, v in raw.items() if k not in own})
    body.line = getattr(raw, "line", line or 0)
    body.key_lines = {k: v for k, v in (getattr(raw, "key_lines", None) or {}).items() if k not in own}
    attrs = parse_wait_until(body, f, line_of(raw) or line, fld, spec)
    return Gate(name, attrs, description.strip(), f, line_of(raw) or line)


def parse_gates(raw: Any, f: str, spec: Any, *, where: str = "x-drillkit.gates") -> dict[str, Gate]:
    """``gates: {name: {wait_until keys, description}}`` -> named gates (validated)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _err("gates must be a mapping of name -> check", f, line_of(raw), where,
                   f"gates: {{replica-in-sync: {_EXAMPLE}}}")
    out: dict[str, Gate] = {}
    for name, body in raw.items():
        fld, line = f"{where}.{name}", line_of(raw, name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise _err(f"gate name {name!r} is not usable", f, line, fld, "e.g. replica-in-sync")
        out[name] = _gate(name, body, f, line, fld, spec)
    return out


def parse_gate_list(raw: Any, f: str, line: int | None, spec: Any, *, where: str = "gate") -> tuple[Gate, ...]:
    """A scenario's ``gate:``: a name of ``x-drillkit.gates``, or a list of names and gates written
    in place (``{name, ...wait_until keys}``). One-line ConfigError on anything else."""
    declared: dict[str, Gate] = getattr(spec, "gates", None) or {}
    have = ", ".join(declared) or "none: declare x-drillkit.gates, or write one here"
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise _err(f"must be a gate's name or a non-empty list, not {type(raw).__name__}", f, line_of(raw) or line,
                   where, f"gate: [replica-in-sync] (the environment's gates: {have}), or gate: [{_EXAMPLE}]")
    out: list[Gate] = []
    for i, item in enumerate(items):
        fld = f"{where}[{i}]" if isinstance(raw, list) else where
        iline = line_of(item) or line_of(items) or line
        if isinstance(item, str):
            if item not in declared:
                raise _err(f"environment {getattr(spec, 'name', '?')!r} has no gate {item!r}", f, iline, fld,
                           f"use one of {have}")
            out.append(declared[item])
            continue
        if not isinstance(item, dict):
            raise _err(f"must be a gate's name or a mapping, not {type(item).__name__}", f, iline, fld,
                       f"use one of {have}, or write {_EXAMPLE}")
        name = item.get("name", f"{where}[{i}]")
        if not isinstance(name, str) or not name.strip():
            raise _err("name must be text", f, line_of(item, "name"), f"{fld}.name", "name: replica-in-sync")
        out.append(_gate(name.strip(), item, f, iline, fld, spec, inline=True))
    names = [g.name for g in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise _err(f"gate {dup!r} is listed twice", f, line_of(raw) or line, where, "list each gate once")
    return tuple(out)


def parse_one_gate(raw: Any, f: str, line: int | None, spec: Any, *, where: str, name: str) -> Gate:
    """One condition: a name of ``x-drillkit.gates`` or a mapping with a wait_until's keys (and
    ``description``) — e.g. a scenario's ``settle.until``. One-line ConfigError naming ``where``."""
    if isinstance(raw, str):
        return parse_gate_list(raw, f, line, spec, where=where)[0]
    return _gate(name, raw, f, line_of(raw) or line, where, spec)


def gate_of(value: Any, spec: Any) -> Gate:
    """What a Python drill hands ``drill.gate``: a name of ``x-drillkit.gates``, a `Gate`, or a
    mapping with a wait_until's keys (and ``name``, ``description``)."""
    if isinstance(value, Gate):
        return value
    if isinstance(value, str):
        return parse_gate_list(value, "drill.gate", None, spec, where="drill.gate")[0]
    if isinstance(value, dict):
        return parse_gate_list([value], "drill.gate", None, spec, where="drill.gate")[0]
    raise ConfigError(f"drill.gate takes a gate's name, a mapping or a Gate, not {type(value).__name__}",
                      field="drill.gate", fix='drill.gate("replica-in-sync") or drill.gate({"role": "primary"})')


# -- checking -----------------------------------------------------------------------------------------
def open_gates(env: "Environment", timeline: "Timeline", gates: list[Gate] | tuple[Gate, ...], *,
               progress: Callable[[str], None] | None = None) -> list[GateResult]:
    """Check every gate in order, each until it holds or its deadline passes. A gate that does not
    hold raises `SteadyStateNotMet` with its sentence: the drill is not judged."""
    results: list[GateResult] = []
    for g in gates:
        t = timeline.now()
        what = g.describe()
        timeline.add("gate", t=t, gate=g.name, event="start", detail=what, deadline=g.deadline)
        if progress:
            progress(f"gate {g.name}: until {what} (at most {g.deadline:g} s)")
        t0 = time.monotonic()
        try:
            detail = wait_until(env, g.attrs)
        except NotYet as exc:
            seconds = round(time.monotonic() - t0, 3)
            sentence = (f"gate {g.name} did not hold within {g.deadline:g} s ({exc.attempts} checks); "
                        f"last seen: {exc.last}")
            timeline.add("gate", gate=g.name, event="shut", detail=exc.last, seconds=seconds,
                         attempts=exc.attempts, deadline=g.deadline)
            timeline.note(f"not judged: {sentence}")
            raise SteadyStateNotMet(sentence, fix=f"the gate waits until {what}: find out why it does not "
                                                  "hold (the service's logs), or give it a longer deadline") \
                from None
        seconds = round(time.monotonic() - t0, 3)
        timeline.add("gate", gate=g.name, event="open", detail=detail, seconds=seconds)
        if progress:
            progress(f"gate {g.name}: holds after {seconds:.1f} s")
        results.append(GateResult(g.name, seconds, detail))
    return results

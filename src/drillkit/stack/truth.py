"""Ground truth as data: what a stack holds after recovery, read by a declared reader.

The users' ledger (every acknowledged write) is compared with a ground truth: the ids the stack
really holds. Readers are declared by name in the environment's Compose file or in a scenario::

    x-drillkit:
      ground_truth:
        writes:                                   # the name the ledger uses (write records' `ledger`)
          kind: sql
          on: {role: primary}                     # whichever node is primary now (drillkit.stack.roles)
          query: SELECT id FROM orders ORDER BY id
          user: shop
          database: shop

Kinds (every reader runs inside the lab's own containers or against the entry point on 127.0.0.1):

``sql``     ``psql --csv`` in a service: the first column is the id, further columns become lists
            named by their header (e.g. ``slot`` for double bookings)
``redis``   a ``redis-cli --raw`` command in a service: one id per line (``match`` picks it out)
``http``    a listing endpoint of the entry point (or a published port): ``ids`` is an extraction
            path such as ``items[*].id``; ``columns`` more of them
``exec``    any command in a service printing ids, one a line (``match`` picks them out)
``python``  ``call: module:attr`` (a path relative to the Compose file works too) -> ``fn(env)``
            returning a `GroundTruth`, a list of ids or ``{"ids": [...], "<column>": [...]}``

A stack plug-in (`drillkit.stack.plugin`) can add readers in code. Reading records a ``ground-truth``
record on the timeline: ``what``, ``ids``, one list per extra column, and ``detail`` (kind, node,
seconds).
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from drillkit.errors import ConfigError, DrillkitError
from drillkit.stack.commands import REDIS_ERROR, psql_command, redis_cli_command
from drillkit.stack.plugin import plugin_for
from drillkit.stack.reference import load_reference
from drillkit.stack.roles import RoleError, resolve_role, shell_command
from drillkit.stack.target import Target, describe_ref, parse_node_ref
from drillkit.yamlsrc import DurationError, line_of, on_key, parse_duration

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node
    from drillkit.timeline import Timeline

__all__ = ["GroundTruth", "ReaderSpec", "GroundTruthError", "READER_KINDS", "parse_readers",
           "readers_for", "ground_truth_names", "has_ground_truth", "read_ground_truth", "record",
           "extract_path", "psql_command"]

# kind -> (required keys, optional keys)
READER_KINDS: dict[str, tuple[set[str], set[str]]] = {
    "sql": ({"on", "query"}, {"user", "database", "host", "port", "password", "timeout"}),
    "redis": ({"on", "command"}, {"port", "password", "match", "timeout"}),
    "http": ({"path", "ids"}, {"columns", "status", "service", "port", "replica", "headers", "timeout"}),
    "exec": ({"on", "command"}, {"user", "match", "timeout"}),
    "python": ({"call"}, set()),
}
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_COLUMNS = {"kind", "t", "what", "ids", "detail"}


class GroundTruthError(DrillkitError):
    """A reader could not read (the command failed, the answer had no ids where it should)."""


@dataclass(frozen=True)
class GroundTruth:
    """What the stack holds: ``ids`` (as text, like the ledger's) and extra columns, each a list
    aligned with ``ids``."""

    what: str
    ids: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    source: str = ""
    seconds: float | None = None


@dataclass(frozen=True)
class ReaderSpec:
    """A declared reader: its name, kind and validated attributes (``on`` is a `Target`)."""

    name: str
    kind: str
    attrs: dict[str, Any]
    file: str = ""
    line: int | None = None
    call: Callable | None = None      # kind python: the loaded function

    def describe(self) -> str:
        where = f" on {describe_ref(self.attrs['on'])}" if "on" in self.attrs else ""
        return f"{self.kind}{where}"


# -- parsing (validation: before anything starts) --------------------------------------------------
def parse_readers(raw: Any, f: str, services: dict, roles: dict, base_dir: Path, *,
                  where: str = "x-drillkit.ground_truth") -> dict[str, ReaderSpec]:
    """Validate a ``ground_truth:`` mapping (name -> reader); one-line ConfigError on a problem."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("ground_truth must be a mapping of name -> reader", file=f, line=line_of(raw),
                          field=where, fix="ground_truth: {writes: {kind: sql, on: db, query: SELECT id FROM t}}")
    return {str(name): _reader(str(name), spec, f, line_of(raw, name), services, roles, base_dir, f"{where}.{name}")
            for name, spec in raw.items()}


def _reader(name: str, raw: Any, f: str, line: int | None, services: dict, roles: dict, base_dir: Path,
            fld: str) -> ReaderSpec:
    raw = on_key(raw)
    if not isinstance(raw, dict):
        raise ConfigError("a reader must be a mapping with `kind`", file=f, line=line, field=fld,
                          fix=f"kind: one of {', '.join(READER_KINDS)}")
    kind = raw.get("kind")
    if kind not in READER_KINDS:
        raise ConfigError(f"unknown reader kind {kind!r}", file=f, line=line_of(raw, "kind") if "kind" in raw else line,
                          field=f"{fld}.kind", fix=f"use one of {', '.join(READER_KINDS)}")
    required, optional = READER_KINDS[kind]
    for k in raw:
        if k != "kind" and k not in required | optional:
            raise ConfigError(f"a {kind} reader has no key {k!r}", file=f, line=line_of(raw, k), field=f"{fld}.{k}",
                              fix=f"use {', '.join(sorted(required | optional))}")
    for k in sorted(required):
        if k not in raw:
            raise ConfigError(f"a {kind} reader needs `{k}`", file=f, line=line_of(raw), field=f"{fld}.{k}",
                              fix=_EXAMPLES[kind])
    attrs: dict[str, Any] = {}
    for k, v in raw.items():
        kl, kf = line_of(raw, k), f"{fld}.{k}"
        if k == "kind":
            continue
        if k == "on":
            attrs[k] = parse_node_ref(v, f, kl, kf, services, roles)
        elif k == "timeout":
            try:
                attrs[k] = parse_duration(v, maximum=3600.0)   # a reading, not a drill: at most 1 h
            except DurationError as exc:
                raise ConfigError(str(exc), file=f, line=kl, field=kf, fix="e.g. timeout: 30s (at most 1h)") from None
            if attrs[k] <= 0:
                raise ConfigError("must be longer than 0 s", file=f, line=kl, field=kf, fix="e.g. timeout: 30s")
        elif k == "command":
            cmd = shell_command(v) if kind == "exec" else _words(v)
            if not cmd:
                raise ConfigError("must be a command (text or a list)", file=f, line=kl, field=kf, fix=_EXAMPLES[kind])
            attrs[k] = cmd
        elif k in ("query", "user", "database", "host", "password", "path", "ids"):
            if not isinstance(v, str) or not v.strip():
                raise ConfigError("must be text", file=f, line=kl, field=kf, fix=_EXAMPLES[kind])
            if k == "path" and not v.startswith("/"):
                raise ConfigError(f"path {v!r} must start with /", file=f, line=kl, field=kf, fix="e.g. path: /moves")
            if k == "ids":
                _check_path(v, f, kl, kf)
            attrs[k] = v.strip() if k != "password" else v
        elif k in ("port", "status", "replica"):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
                raise ConfigError(f"must be a whole number, not {v!r}", file=f, line=kl, field=kf,
                                  fix=f"e.g. {k}: { {'port': 5432, 'status': 200, 'replica': 1}[k]}")
            attrs[k] = v
        elif k == "match":
            try:
                rx = re.compile(str(v))
            except re.error as exc:
                raise ConfigError(f"not a regular expression: {exc}", file=f, line=kl, field=kf,
                                  fix="e.g. match: 'order:(\\d+)' (group 1 is the id)") from None
            attrs[k] = rx
        elif k == "columns":
            if not isinstance(v, dict) or not v:
                raise ConfigError("columns must map a name to an extraction path", file=f, line=kl, field=kf,
                                  fix="columns: {slot: items[*].slot}")
            for cname, cpath in v.items():
                if not isinstance(cname, str) or not _COLUMN.match(cname) or cname in _RESERVED_COLUMNS:
                    raise ConfigError(f"column name {cname!r} is not usable", file=f, line=line_of(v, cname),
                                      field=f"{kf}.{cname}", fix="a name like slot or office_id")
                if not isinstance(cpath, str):
                    raise ConfigError("must be an extraction path", file=f, line=line_of(v, cname),
                                      field=f"{kf}.{cname}", fix="e.g. items[*].slot")
                _check_path(cpath, f, line_of(v, cname), f"{kf}.{cname}")
            attrs[k] = {str(a): str(b) for a, b in v.items()}
        elif k == "headers":
            if not isinstance(v, dict) or not all(isinstance(x, str) and isinstance(y, (str, int)) for x, y in v.items()):
                raise ConfigError("headers must be a mapping of header -> text", file=f, line=kl, field=kf,
                                  fix="headers: {Authorization: Bearer admin-token}")
            attrs[k] = {a: str(b) for a, b in v.items()}
        elif k == "service":
            if v not in services:
                raise ConfigError(f"{v!r} is not a service of this environment", file=f, line=kl, field=kf,
                                  fix=f"use one of {', '.join(sorted(services))}")
            attrs[k] = v
        elif k == "call":
            attrs[k] = v
            fn = load_reference(v, base_dir, file=f, line=kl, field=kf, what="reader function")
            if not callable(fn):
                raise ConfigError(f"{v!r} is not callable", file=f, line=kl, field=kf,
                                  fix="point at a function fn(env) returning ids")
            return ReaderSpec(name, kind, attrs, f, line, call=fn)
    if kind == "http" and ("port" in attrs) != ("service" in attrs):
        raise ConfigError("service and port go together (a published port of the service)", file=f, line=line,
                          field=fld, fix="give both, or neither for the entry point")
    if kind == "http" and "service" in attrs:
        svc = services[attrs["service"]]
        if not any(p.container_port == attrs["port"] for p in svc.ports):
            raise ConfigError(f"{attrs['service']} does not publish port {attrs['port']}", file=f, line=line,
                              field=f"{fld}.port", fix=f'add "{attrs["port"]}" under services.{attrs["service"]}.ports')
    return ReaderSpec(name, kind, attrs, f, line)


_EXAMPLES = {
    "sql": "kind: sql, on: db, query: SELECT id FROM orders, user: shop, database: shop",
    "redis": "kind: redis, on: cache, command: SMEMBERS orders",
    "http": "kind: http, path: /moves, ids: 'items[*].id'",
    "exec": "kind: exec, on: app, command: cat /data/ids.txt",
    "python": "kind: python, call: ./drill_plugin.py:stored_ids",
}


def _words(v: Any) -> tuple[str, ...] | None:
    if isinstance(v, str) and v.strip():
        return tuple(shlex.split(v))
    if isinstance(v, list) and v and all(isinstance(x, (str, int, float)) for x in v):
        return tuple(str(x) for x in v)
    return None


# -- extraction paths: items[*].id ------------------------------------------------------------------
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]")


def _tokens(path: str) -> list[str | int | None]:
    """``data.items[*].id`` -> ['data', 'items', None, 'id'] (None = every element)."""
    out: list[str | int | None] = []
    pos = 0
    p = path.strip()
    while pos < len(p):
        if p[pos] == ".":
            pos += 1
            continue
        m = _TOKEN.match(p, pos)
        if not m:
            raise ValueError(f"cannot read {p[pos:]!r}")
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            out.append(None if m.group(2) == "*" else int(m.group(2)))
        pos = m.end()
    if not out:
        raise ValueError("empty path")
    return out


def _check_path(path: str, f: str, line: int | None, fld: str) -> None:
    try:
        _tokens(path)
    except ValueError as exc:
        raise ConfigError(f"not an extraction path ({exc})", file=f, line=line, field=fld,
                          fix="e.g. items[*].id, [*].id or data.ids") from None


def extract_path(data: Any, path: str) -> list[Any]:
    """Every value at ``path`` in a JSON answer: ``items[*].id``, ``[*]``, ``data.ids``, ``rows[0].id``.
    A list at the end is flattened (``ids`` of ``{"ids": [1, 2]}`` gives [1, 2])."""
    values = [data]
    for tok in _tokens(path):
        nxt: list[Any] = []
        for v in values:
            if tok is None:
                if isinstance(v, list):
                    nxt.extend(v)
                elif isinstance(v, dict):
                    nxt.extend(v.values())
            elif isinstance(tok, int):
                if isinstance(v, list) and -len(v) <= tok < len(v):
                    nxt.append(v[tok])
            elif isinstance(v, dict) and tok in v:
                nxt.append(v[tok])
        values = nxt
    if len(values) == 1 and isinstance(values[0], list):
        return list(values[0])
    return values


# -- which readers a drill has ----------------------------------------------------------------------
def readers_for(spec: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every ground truth a drill on ``spec`` can read, by name: `drillkit.stack.plugin.plugin_for`'s
    (the stack plug-in < the environment's declared readers), then the scenario's ``extra`` readers,
    which win over all of them."""
    return {**plugin_for(spec).ground_truth, **(extra or {})}


def ground_truth_names(spec: Any, extra: dict[str, Any] | None = None) -> list[str]:
    """Names of the ground truths a drill on this environment (and scenario) can read."""
    return sorted(readers_for(spec, extra))


def has_ground_truth(spec: Any, name: str = "writes", extra: dict[str, Any] | None = None) -> bool:
    """Whether this environment (or scenario) has a ground truth named ``name`` — what a verdict
    that compares a ledger (writes_lost, double bookings) requires before anything starts."""
    return name in readers_for(spec, extra)


# -- reading ----------------------------------------------------------------------------------------
def read_ground_truth(env: "Environment", name: str = "writes", extra: dict[str, Any] | None = None,
                      reader: Any = None) -> GroundTruth:
    """Read the ground truth ``name`` now (``reader`` given: that one instead of the declared)."""
    if reader is None:
        readers = readers_for(env.spec, extra)
        if name not in readers:
            raise GroundTruthError(f"environment {env.spec.name!r} has no ground truth {name!r}",
                                   fix=f"declare x-drillkit.ground_truth.{name} (have: "
                                       f"{', '.join(sorted(readers)) or 'none'}); see docs/environments.md")
        reader = readers[name]
    t0 = time.monotonic()
    if isinstance(reader, ReaderSpec):
        gt = _read_spec(env, name, reader)
    else:
        gt = _coerce(name, reader(env), source=getattr(reader, "__name__", "python"))
    return GroundTruth(gt.what, gt.ids, gt.columns, gt.source, round(time.monotonic() - t0, 3))


def record(timeline: "Timeline", gt: GroundTruth) -> dict:
    """The ``ground-truth`` record: what, ids, one list per extra column, and how it was read."""
    cols = {k: v for k, v in gt.columns.items() if k not in _RESERVED_COLUMNS}
    return timeline.add("ground-truth", what=gt.what, ids=[str(i) for i in gt.ids], **cols,
                        detail={"source": gt.source, "seconds": gt.seconds, "count": len(gt.ids)})


def _coerce(name: str, value: Any, source: str) -> GroundTruth:
    if isinstance(value, GroundTruth):
        return value
    if isinstance(value, dict):
        if "ids" not in value:
            raise GroundTruthError(f"ground truth {name!r}: the reader returned a mapping without 'ids'",
                                   fix="return a list of ids or {'ids': [...], '<column>': [...]}")
        ids = [str(i) for i in value["ids"]]
        cols = {k: list(v) for k, v in value.items() if k != "ids"}
        return GroundTruth(name, ids, cols, source)
    if isinstance(value, (list, tuple, set)):
        return GroundTruth(name, [str(i) for i in value], {}, source)
    raise GroundTruthError(f"ground truth {name!r}: the reader returned {type(value).__name__}",
                           fix="return a list of ids, a mapping with 'ids', or a GroundTruth")


def _node(env: "Environment", target: Any) -> "Node":
    """The node a reader runs in: a role's holder now, a named replica, or a service's first
    running replica."""
    assert isinstance(target, Target)
    if target.role is not None:
        try:
            return resolve_role(env, target.role, target.service)
        except RoleError as exc:
            raise GroundTruthError(exc.message, fix=exc.fix) from None
    nodes = [n for n in env.nodes.get(target.service or "", [])
             if (target.replica is None or n.replica == target.replica)
             and (target.zone is None or n.zone == target.zone)]
    for n in nodes:
        if env.is_running(n):
            return n
    raise GroundTruthError(f"no running node of {target} to read from",
                           fix="read after recovery, from a node that runs (or name a role: on: {role: primary})")


def _run(env: "Environment", node: "Node", cmd: list[str] | tuple[str, ...], timeout: float, what: str,
         user: str | None = None) -> str:
    code, out = env.exec_bounded(node, cmd, timeout, user=user)
    if code != 0:
        tail = " ".join(out.strip().split())[-300:]
        raise GroundTruthError(f"{what} on {node.name} failed ({'exit ' + str(code) if code is not None else tail})"
                               + (f": {tail}" if code is not None and tail else ""),
                               fix="run the reader's command by hand in that container (`docker exec`)")
    return out


def _matches(lines: list[str], rx: re.Pattern | None) -> list[str]:
    out = []
    for line in lines:
        if rx is None:
            out.append(line)
            continue
        m = rx.search(line)
        if m:
            out.append(m.group(1) if m.groups() else m.group(0))
    return out


def _read_spec(env: "Environment", name: str, r: ReaderSpec) -> GroundTruth:
    a = r.attrs
    timeout = a.get("timeout", 30.0)
    if r.kind == "python":
        assert r.call is not None
        return _coerce(name, r.call(env), source=f"python {a['call']}")
    if r.kind == "http":
        return _read_http(env, name, r, timeout)
    node = _node(env, a["on"])
    source = f"{r.kind} on {node.name}"
    if r.kind == "sql":
        out = _run(env, node, psql_command(a), timeout, f"ground truth {name!r} (psql)")
        rows = list(csv.reader(io.StringIO(out)))
        rows = [row for row in rows if row]
        if not rows:
            raise GroundTruthError(f"ground truth {name!r}: psql printed no header",
                                   fix="the query must return rows with named columns (SELECT id ...)")
        header, body = rows[0], rows[1:]
        ids = [row[0] for row in body]
        cols = {h: [row[i] if i < len(row) else None for row in body] for i, h in enumerate(header) if i > 0}
        return GroundTruth(name, ids, cols, source)
    if r.kind == "redis":
        out = _run(env, node, redis_cli_command(a, a["command"]), timeout, f"ground truth {name!r} (redis-cli)")
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        if lines and REDIS_ERROR.match(lines[0]):
            raise GroundTruthError(f"ground truth {name!r}: redis answered {lines[0][:200]}",
                                   fix="check the reader's command")
        return GroundTruth(name, _matches(lines, a.get("match")), {}, source)
    # exec
    out = _run(env, node, a["command"], timeout, f"ground truth {name!r} (command)", user=a.get("user"))
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return GroundTruth(name, _matches(lines, a.get("match")), {}, source)


def _read_http(env: "Environment", name: str, r: ReaderSpec, timeout: float) -> GroundTruth:
    a = r.attrs
    if "service" in a:
        port = env.host_port(a["service"], a["port"], a.get("replica", 1))
        where = f"{a['service']}:{a['port']}"
    else:
        port = urlsplit(env.url()).port
        where = "the entry point"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)   # only ever the lab's port
    try:
        conn.request("GET", a["path"], headers=a.get("headers") or {})
        resp = conn.getresponse()
        body = resp.read()
        status = resp.status
    except OSError as exc:
        raise GroundTruthError(f"ground truth {name!r}: GET {a['path']} on {where} failed ({type(exc).__name__})",
                               fix="read after recovery, when the entry point answers") from None
    finally:
        conn.close()
    if status != a.get("status", 200):
        raise GroundTruthError(f"ground truth {name!r}: GET {a['path']} answered {status}, not {a.get('status', 200)}",
                               fix="check the path, headers and that the service is back")
    try:
        data = json.loads(body)
    except ValueError:
        raise GroundTruthError(f"ground truth {name!r}: GET {a['path']} did not answer JSON",
                               fix="point the reader at a JSON listing") from None
    ids = [str(v) for v in extract_path(data, a["ids"])]
    cols = {c: extract_path(data, p) for c, p in (a.get("columns") or {}).items()}
    for c, vals in cols.items():
        if len(vals) != len(ids):
            raise GroundTruthError(f"ground truth {name!r}: column {c} has {len(vals)} values for {len(ids)} ids",
                                   fix="extract the column from the same list as the ids")
    return GroundTruth(name, ids, cols, f"http GET {a['path']} on {where}")

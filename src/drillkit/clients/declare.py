"""Users and clients declared as data: ``x-drillkit.users`` / ``x-drillkit.clients`` of a Compose
file, and a scenario's ``users:`` / ``clients:``. Everything is parsed and checked when the file is
loaded; a mistake is one :class:`~drillkit.errors.ConfigError` line naming file:line, the field and
the fix. Nothing here sends a request.

The keys are listed in :data:`KIND_KEYS`, :data:`LOGIN_KEYS`, :data:`STEP_KEYS`, :data:`WRITE_KEYS`,
:data:`CLIENT_KEYS` and documented in docs/environments.md (``users``, ``clients``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from drillkit.clients.contract import Client
from drillkit.clients.journey import DEFAULT_NODE_HEADER, NEW_LOGINS, Login, NodeRule, Request, Step, UserKind, Write
from drillkit.clients.template import BUILTINS, Template, TemplateError, compile_value, parse_extraction, parse_template
from drillkit.errors import ConfigError
from drillkit.yamlsrc import DurationError, parse_duration

__all__ = ["ClientSpec", "parse_user_kind", "parse_users", "parse_client", "parse_clients", "CLIENT_KINDS",
           "KIND_KEYS", "LOGIN_KEYS", "STEP_KEYS", "WRITE_KEYS", "SESSION_KEYS", "NODE_KEYS",
           "CLIENT_KEYS", "POSTGRES_KEYS", "REDIS_KEYS", "SENTINEL_KEYS", "DEFINITION_KEYS", "OPTION_KEYS",
           "RESERVED_ATTRS"]

KIND_KEYS = {
    "user": "client names, a template over {i} (default <kind>-{i:03d})",
    "first": "number of the first user (default 1)",
    "count": "default number of users (a scenario gives its own)",
    "seed": "seed of every user's random choices (default 0)",
    "think": "mean pause between iterations (default 200ms)",
    "timeout": "request timeout (default 2s)",
    "population": "population of the steps' requests (default: existing-sessions with a login, new-logins "
                  "when every_iteration, else the kind's name)",
    "login": "the login request and where the session token comes from",
    "session": "{rejected: [401, 403]}: statuses that mean a valid session was refused",
    "node": "{header, map}: the response header naming the replica, and regex -> replica name",
    "steps": "weighted steps: one per iteration, chosen by weight (or every N-th iteration)",
    "sequence": "steps done in order each iteration; later steps use values saved from earlier answers",
}
REQUEST_KEYS = {"method", "path", "body", "headers", "expect", "timeout"}
LOGIN_KEYS = REQUEST_KEYS | {"token", "send", "every_iteration", "population"}
STEP_KEYS = REQUEST_KEYS | {"name", "weight", "every", "let", "save", "write", "population"}
WRITE_KEYS = {"id", "op", "ledger", "attrs", "statuses", "unknown"}
SESSION_KEYS = {"rejected"}
NODE_KEYS = {"header", "map"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFINITION_KEYS = {"login", "steps", "sequence"}                  # an inline (full) user definition
OPTION_KEYS = {"count", "seed", "think", "timeout", "first"}       # what a scenario may change of a kind
RESERVED_ATTRS = {"kind", "t", "client", "id", "op", "outcome", "ledger"}

CLIENT_KEYS = {"kind", "count", "seed", "think", "timeout", "population", "let", "write", "first"}
POSTGRES_KEYS = {"service", "services", "port", "database", "user", "password", "statement", "params", "op"}
REDIS_KEYS = {"service", "role", "sentinel", "port", "db", "password", "command", "op"}
SENTINEL_KEYS = {"service", "port", "master", "password"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _line(container: Any, key: Any = None) -> int | None:
    if key is not None and hasattr(container, "key_lines"):
        return container.key_lines.get(key, getattr(container, "line", None))
    return getattr(container, "line", None)


def _kind_of(value: Any) -> str:
    for typ, name in ((bool, "true/false"), (dict, "a mapping"), (list, "a list"), (str, "text"),
                      (int, "a number"), (float, "a number")):
        if isinstance(value, typ):
            return name
    return "empty" if value is None else type(value).__name__


@dataclass(frozen=True)
class ClientSpec:
    """A client declared as data: ``kind`` (postgres, redis, or a plug-in's) and its options."""

    name: str
    kind: str
    options: dict[str, Any]
    population: str
    count: int | None = None
    seed: int = 0
    think: float = 0.2
    timeout: float = 2.0
    first: int = 1
    let: dict[str, Template] = field(default_factory=dict)
    write: Write | None = None
    file: str | None = None
    line: int | None = None

    @property
    def populations(self) -> tuple[str, ...]:
        return (self.population,)

    @property
    def writes(self) -> bool:
        return self.write is not None

    def client_name(self, i: int) -> str:
        return f"{self.name}-{self.first + i:03d}"

    def make(self, i: int) -> Client:
        cls = CLIENT_KINDS[self.kind][1]()
        return cls(self, self.client_name(i), i)

    def with_options(self, **opts: Any) -> "ClientSpec":
        return dataclasses.replace(self, **{k: v for k, v in opts.items() if v is not None})


class _Reader:
    """Checks one declaration; every error names file:line and the dotted field."""

    def __init__(self, file: str | None, default_line: int | None = None):
        self.f = file
        self.default_line = default_line   # where the declaration starts: for errors without a line

    def err(self, message: str, container: Any, key: Any, field: str, fix: str) -> ConfigError:
        line = _line(container, key)
        return ConfigError(message, file=self.f, line=line if line is not None else self.default_line,
                           field=field, fix=fix)

    def mapping(self, value: Any, parent: Any, key: Any, where: str, allowed: set[str] | dict, example: str) -> dict:
        if not isinstance(value, dict):
            raise self.err(f"must be a mapping, not {_kind_of(value)}", parent, key, where, f"write it as {example}")
        for k in value:
            if k not in allowed:
                raise self.err(f"unknown key {k!r}", value, k, f"{where}.{k}", f"use {', '.join(sorted(allowed))}")
        return value

    def duration(self, value: Any, parent: Any, key: Any, where: str, lo: float = 0.0, hi: float = 600.0) -> float:
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            raise self.err(str(exc), parent, key, where, "write e.g. 500ms, 2s or a number of seconds") from None
        if not lo <= seconds <= hi:
            raise self.err(f"{seconds:g} s is outside {lo:g}..{hi:g} s", parent, key, where,
                           f"give a duration between {lo:g} and {hi:g} s")
        return seconds

    def integer(self, value: Any, parent: Any, key: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.err(f"must be a whole number {lo}..{hi}, not {value!r}", parent, key, where,
                           f"give a whole number between {lo} and {hi}")
        return value

    def boolean(self, value: Any, parent: Any, key: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.err(f"must be true or false, not {value!r}", parent, key, where, f"write {key}: true")
        return value

    def name(self, value: Any, parent: Any, key: Any, where: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.err(f"{value!r} is not a usable name", parent, key, where,
                           "use letters, digits, '.', '_' or '-' (e.g. existing-sessions)")
        return value

    def text(self, value: Any, parent: Any, key: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.err(f"must be text, not {_kind_of(value)}", parent, key, where, f"write {key}: ...")
        return value

    def statuses(self, value: Any, parent: Any, key: Any, where: str) -> tuple[int, ...]:
        items = value if isinstance(value, list) else [value]
        out = []
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int) or not 100 <= v <= 599:
                raise self.err(f"{v!r} is not an HTTP status", parent, key, where, "write e.g. [200, 201, 409]")
            out.append(v)
        if not out:
            raise self.err("the list of statuses is empty", parent, key, where, "write e.g. [200, 201]")
        return tuple(out)

    def template(self, value: Any, parent: Any, key: Any, where: str, known: set[str]) -> Template:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.err(f"must be text, not {_kind_of(value)}", parent, key, where, "write a template such as /items/{i}")
        try:
            return parse_template(value, known)
        except TemplateError as exc:
            raise self.err(str(exc), parent, key, where, "see the template language in docs/environments.md") from None

    def value(self, value: Any, parent: Any, key: Any, where: str, known: set[str]) -> Any:
        try:
            return compile_value(value, known)
        except TemplateError as exc:
            raise self.err(str(exc), parent, key, where, "see the template language in docs/environments.md") from None

    def extraction(self, value: Any, parent: Any, key: Any, where: str, known: set[str] | None = None):
        try:
            ex = parse_extraction(value)
        except TemplateError as exc:
            raise self.err(str(exc), parent, key, where, "see extractions in docs/environments.md") from None
        if ex.source == "var" and known is not None and ex.name not in known and ex.name not in BUILTINS:
            raise self.err(f"var:{ex.name} is never set", parent, key, where,
                           f"save or let it first (known: {', '.join(sorted(known | set(BUILTINS)))})")
        return ex

    def names_map(self, value: Any, parent: Any, key: Any, where: str) -> dict:
        m = self.mapping(value, parent, key, where, set(value) if isinstance(value, dict) else set(), "{name: ...}")
        for k in m:
            if not isinstance(k, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) or k in BUILTINS:
                raise self.err(f"{k!r} cannot be a saved name", m, k, f"{where}.{k}",
                               f"use a word of letters, digits and _ (not {', '.join(BUILTINS)})")
        return m

    # -- HTTP ------------------------------------------------------------------------------------
    def request(self, m: dict, where: str, known: set[str], default_method: str) -> Request:
        method = str(m.get("method", default_method)).upper()
        if method not in METHODS:
            raise self.err(f"unknown method {m.get('method')!r}", m, "method", f"{where}.method",
                           f"use one of {', '.join(METHODS)}")
        if "path" not in m:
            raise self.err("missing `path`", m, None, f"{where}.path", "add path: /something")
        path = self.template(m["path"], m, "path", f"{where}.path", known)
        if not path.source.startswith("/"):
            raise self.err(f"path {path.source!r} does not start with /", m, "path", f"{where}.path",
                           "give the path only (the host is always the environment's entry point on 127.0.0.1)")
        body = None
        if m.get("body") is not None:
            body = self.value(m["body"], m, "body", f"{where}.body", known)
        headers = {}
        if m.get("headers") is not None:
            hm = self.mapping(m["headers"], m, "headers", f"{where}.headers",
                              set(m["headers"]) if isinstance(m["headers"], dict) else set(), "{X-Name: value}")
            for h, v in hm.items():
                if str(h).lower() in ("host", "content-length"):
                    raise self.err(f"header {h!r} is set by drillkit", hm, h, f"{where}.headers.{h}", "drop it")
                headers[str(h)] = self.template(v, hm, h, f"{where}.headers.{h}", known)
        expect = self.statuses(m["expect"], m, "expect", f"{where}.expect") if "expect" in m else None
        timeout = self.duration(m["timeout"], m, "timeout", f"{where}.timeout", 0.05, 120) if "timeout" in m else None
        return Request(method, path, body, headers, expect, timeout)

    def write(self, value: Any, parent: Any, key: Any, where: str, default_op: str, known: set[str],
              http: bool) -> Write:
        allowed = WRITE_KEYS if http else WRITE_KEYS - {"statuses", "unknown"}
        w = self.mapping(value, parent, key, where, allowed, "{id: body.id}")
        if "id" not in w:
            raise self.err("missing `id`: where the id of the acknowledged write is", parent, key, f"{where}.id",
                           "add id: body.id (or var:NAME for an id the client chose, e.g. let: {id: '{uuid}'})")
        wid = self.extraction(w["id"], w, "id", f"{where}.id", known)
        op = self.name(w.get("op", default_op), w, "op", f"{where}.op") if "op" in w else default_op
        ledger = self.name(w.get("ledger", "writes"), w, "ledger", f"{where}.ledger")
        attrs = {}
        if w.get("attrs") is not None:
            am = self.mapping(w["attrs"], w, "attrs", f"{where}.attrs",
                              set(w["attrs"]) if isinstance(w["attrs"], dict) else set(), "{slot: body.slot_id}")
            for k, v in am.items():
                if k in RESERVED_ATTRS or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(k)):
                    raise self.err(f"{k!r} cannot be a ledger attribute", am, k, f"{where}.attrs.{k}",
                                   f"use another word (reserved: {', '.join(sorted(RESERVED_ATTRS))})")
                attrs[str(k)] = self.extraction(v, am, k, f"{where}.attrs.{k}", known)
        statuses = self.statuses(w["statuses"], w, "statuses", f"{where}.statuses") if "statuses" in w else None
        unknown = self.statuses(w["unknown"], w, "unknown", f"{where}.unknown") if "unknown" in w else ()
        return Write(wid, op, ledger, attrs, statuses, unknown)


# -- user kinds ----------------------------------------------------------------------------------
def parse_user_kind(name: str, raw: Any, *, file: str | None = None, where: str | None = None,
                    parent: Any = None, extra_keys: set[str] = frozenset()) -> UserKind:
    """One user kind from its YAML mapping (``extra_keys`` are ignored here: the caller's)."""
    r = _Reader(file, _line(parent, name) if parent is not None else _line(raw))
    where = where or f"users.{name}"
    m = r.mapping(raw, parent, name, where, set(KIND_KEYS) | set(extra_keys),
                  "{login: {...}, steps: [...]}")
    r.name(name, parent, name, where)
    has_steps, has_seq = "steps" in m, "sequence" in m
    if has_steps == has_seq:
        raise r.err("needs exactly one of `steps` (weighted) or `sequence` (in order)", parent, name, where,
                    "add steps: [{path: /...}] or sequence: [...]")
    key = "steps" if has_steps else "sequence"
    items = m[key]
    if not isinstance(items, list) or not items:
        raise r.err(f"must be a non-empty list, not {_kind_of(items)}", m, key, f"{where}.{key}",
                    "write - {method: GET, path: /items}")
    if len(items) > 50:
        raise r.err(f"{len(items)} steps: at most 50", m, key, f"{where}.{key}", "split the journey")

    # names that steps may use: every `save:` and `let:` of the kind, and the token of a login
    known: set[str] = set()
    for item in items:
        if isinstance(item, dict):
            for sect in ("save", "let"):
                if isinstance(item.get(sect), dict):
                    known.update(str(k) for k in item[sect])

    login = None
    if m.get("login") is not None:
        login = _login(r, m["login"], m, f"{where}.login", known)
        known.add("token")
    steps = tuple(_step(r, item, items, i, f"{where}.{key}[{i}]", known, sequence=has_seq)
                  for i, item in enumerate(items))
    names = [s.name for s in steps]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise r.err(f"two steps are called {n!r}", items[i] if isinstance(items[i], dict) else items, "name",
                        f"{where}.{key}[{i}].name", "give each step its own name:")
    if not has_seq and all(s.every for s in steps):
        raise r.err("every step has `every`: nothing to do in the other iterations", m, key, f"{where}.{key}",
                    "leave `every` off at least one step")

    session = (401, 403)
    if m.get("session") is not None:
        sm = r.mapping(m["session"], m, "session", f"{where}.session", SESSION_KEYS, "{rejected: [401]}")
        if "rejected" in sm:
            session = r.statuses(sm["rejected"], sm, "rejected", f"{where}.session.rejected")
        if login is None:
            raise r.err("a session rule without a login", m, "session", f"{where}.session",
                        "add login: {...}, or drop session: (kinds without a login hold no session)")
    node = NodeRule()
    if m.get("node") is not None:
        node = _node(r, m["node"], m, f"{where}.node")
    population = r.name(m["population"], m, "population", f"{where}.population") if "population" in m else ""
    user = r.template(m["user"], m, "user", f"{where}.user", set()) if "user" in m else None
    if user is not None and user.names - {"i"}:
        raise r.err("a user name can only use {i}", m, "user", f"{where}.user", "write e.g. clerk-{i:03d}")
    return UserKind(
        name=name, steps=steps, sequence=has_seq, login=login, session_rejected=session,
        think=r.duration(m["think"], m, "think", f"{where}.think", 0, 60) if "think" in m else 0.2,
        timeout=r.duration(m["timeout"], m, "timeout", f"{where}.timeout", 0.05, 120) if "timeout" in m else 2.0,
        node=node, population=population, user=user,
        first=r.integer(m["first"], m, "first", f"{where}.first", 0, 10**6) if "first" in m else 1,
        count=r.integer(m["count"], m, "count", f"{where}.count", 1, 500) if "count" in m else None,
        seed=r.integer(m["seed"], m, "seed", f"{where}.seed", 0, 2**31) if "seed" in m else 0,
        file=file, line=_line(parent, name) if parent is not None else _line(m))


def _login(r: _Reader, raw: Any, parent: Any, where: str, known: set[str]) -> Login:
    m = r.mapping(raw, parent, "login", where, LOGIN_KEYS, "{path: /login, body: {...}, token: body.token}")
    req = r.request(m, where, set(), "POST")   # a login knows only {user}, {i}, {n}
    if "token" not in m:
        raise r.err("missing `token`: where the session comes from", parent, "login", f"{where}.token",
                    "add token: body.token (or header:NAME, cookie:NAME)")
    token = r.extraction(m["token"], m, "token", f"{where}.token")
    send: tuple[str, Template] | None
    if "send" in m:
        s = m["send"]
        if s == "cookie" or s is False:
            send = None
        else:
            text = r.text(s, m, "send", f"{where}.send")
            hname, sep, value = text.partition(":")
            if not sep or not re.match(r"^[A-Za-z0-9-]+$", hname.strip()):
                raise r.err(f"{text!r} is not `Header: value`", m, "send", f"{where}.send",
                            "write send: 'Authorization: Bearer {token}' or send: cookie")
            send = (hname.strip(), r.template(value.strip(), m, "send", f"{where}.send", {"token"}))
    elif token.source == "cookie":
        send = None
    else:
        send = ("Authorization", parse_template("Bearer {token}"))
    every = r.boolean(m["every_iteration"], m, "every_iteration", f"{where}.every_iteration") \
        if "every_iteration" in m else False
    pop = r.name(m["population"], m, "population", f"{where}.population") if "population" in m else NEW_LOGINS
    return Login(req, token, send, pop, every)


def _step(r: _Reader, raw: Any, items: list, i: int, where: str, known: set[str], *, sequence: bool) -> Step:
    if not isinstance(raw, dict):
        raise ConfigError(f"must be a mapping, not {_kind_of(raw)}", file=r.f, line=_line(items), field=where,
                          fix="write - {method: GET, path: /items}")
    m = r.mapping(raw, items, i, where, STEP_KEYS, "{method: GET, path: /items}")
    let = {}
    if m.get("let") is not None:
        lm = r.names_map(m["let"], m, "let", f"{where}.let")
        let = {k: r.template(v, lm, k, f"{where}.let.{k}", known) for k, v in lm.items()}
    req = r.request(m, where, known | {"token"}, "GET")
    name = r.text(m["name"], m, "name", f"{where}.name") if "name" in m else f"{req.method} {req.path.source}"
    weight = 1.0
    if "weight" in m:
        weight = m["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < 1e6 or math.isnan(weight):
            raise r.err(f"weight must be a number > 0, not {weight!r}", m, "weight", f"{where}.weight",
                        "write e.g. weight: 3")
        if sequence:
            raise r.err("weight in a sequence: every step is done", m, "weight", f"{where}.weight",
                        "drop weight, or use steps: for a weighted choice")
    every = None
    if "every" in m:
        every = r.integer(m["every"], m, "every", f"{where}.every", 1, 10**6)
        if sequence:
            raise r.err("every in a sequence: every step is done", m, "every", f"{where}.every",
                        "drop every, or use steps:")
    save = {}
    if m.get("save") is not None:
        sm = r.names_map(m["save"], m, "save", f"{where}.save")
        save = {k: r.extraction(v, sm, k, f"{where}.save.{k}", known) for k, v in sm.items()}
    write = r.write(m["write"], m, "write", f"{where}.write", name, known, http=True) if m.get("write") is not None else None
    population = r.name(m["population"], m, "population", f"{where}.population") if "population" in m else None
    return Step(name, req, float(weight), every, let, save, write, population)


def _node(r: _Reader, raw: Any, parent: Any, where: str) -> NodeRule:
    m = r.mapping(raw, parent, "node", where, NODE_KEYS, "{header: X-Node, map: {'app(\\\\d+)': 'app-\\\\1'}}")
    header = r.text(m.get("header", DEFAULT_NODE_HEADER), m, "header", f"{where}.header")
    if not re.match(r"^[A-Za-z0-9-]+$", header):
        raise r.err(f"{header!r} is not a header name", m, "header", f"{where}.header", "write e.g. X-Node")
    pairs = []
    if m.get("map") is not None:
        mm = r.mapping(m["map"], m, "map", f"{where}.map", set(m["map"]) if isinstance(m["map"], dict) else set(),
                       "{'app(\\\\d+)': 'app-\\\\1'}")
        for pat, repl in mm.items():
            try:
                rx = re.compile(str(pat))
            except re.error as exc:
                raise r.err(f"{pat!r} is not a regular expression ({exc})", mm, pat, f"{where}.map",
                            "write e.g. '^app(\\d+)$': 'app-\\1'") from None
            if not isinstance(repl, str):
                raise r.err(f"replacement must be text, not {_kind_of(repl)}", mm, pat, f"{where}.map",
                            "write e.g. 'app-\\1'")
            groups = {int(g) for g in re.findall(r"\\(\d+)", repl)}
            if groups and max(groups) > rx.groups:
                raise r.err(f"replacement {repl!r} uses group {max(groups)}", mm, pat, f"{where}.map",
                            f"the pattern has {rx.groups} group(s)")
            pairs.append((rx, repl))
    return NodeRule(header, tuple(pairs))


def parse_users(raw: Any, *, file: str | None = None, where: str = "x-drillkit.users") -> dict[str, UserKind]:
    """A whole ``users`` section: kind name -> definition."""
    r = _Reader(file)
    if raw is None:
        return {}
    m = r.mapping(raw, None, None, where, set(raw) if isinstance(raw, dict) else set(), "{clerks: {login: ..., steps: ...}}")
    return {str(k): parse_user_kind(str(k), v, file=file, where=f"{where}.{k}", parent=m) for k, v in m.items()}


# -- clients -------------------------------------------------------------------------------------
def _postgres(r: _Reader, m: dict, where: str, services: dict | None, known: set[str],
              roles: dict | None = None) -> dict[str, Any]:
    svc = _services(r, m, where, services, many=True)
    for k in ("database", "user", "password", "statement"):
        if k not in m:
            raise r.err(f"missing `{k}`", m, None, f"{where}.{k}", f"add {k}: ...")
        r.text(m[k], m, k, f"{where}.{k}")
    params = {}
    if m.get("params") is not None:
        pm = r.names_map(m["params"], m, "params", f"{where}.params")
        params = {k: r.value(v, pm, k, f"{where}.params.{k}", known) for k, v in pm.items()}
    sql = m["statement"]
    for ref in re.findall(r"%\((\w+)\)s", sql):
        if ref not in params:
            raise r.err(f"%({ref})s has no parameter", m, "statement", f"{where}.statement",
                        f"add params: {{{ref}: '{{...}}'}}")
    if re.search(r"(?<!%)%(?!\(\w+\)s|%)", sql):
        raise r.err("a lone % in the statement", m, "statement", f"{where}.statement",
                    "write %% for a literal percent sign, %(name)s for a parameter")
    port = r.integer(m.get("port", 5432), m, "port", f"{where}.port", 1, 65535)
    op = r.text(m["op"], m, "op", f"{where}.op") if "op" in m else sql.split()[0].upper()
    return {"services": svc, "port": port, "database": m["database"], "user": m["user"],
            "password": str(m["password"]), "statement": sql, "params": params, "op": op}


def _redis(r: _Reader, m: dict, where: str, services: dict | None, known: set[str],
           roles: dict | None = None) -> dict[str, Any]:
    """Where it connects: ``service`` (pinned to its first replica), ``role`` (whichever node holds
    a role of x-drillkit.roles now) or ``sentinel`` (the master Redis Sentinel names now)."""
    given = [k for k in ("service", "role", "sentinel") if k in m]
    if len(given) > 1:
        raise r.err(f"both {given[0]} and {given[1]}: a Redis client connects one way", m, given[1],
                    f"{where}.{given[1]}", "service: NAME (pinned), role: NAME (follows the role) or "
                                           "sentinel: {service, port, master} (follows Sentinel)")
    if not given:
        raise r.err("missing `service`, `role` or `sentinel`: which Redis to connect to", m, None, f"{where}.service",
                    "add service: cache (pinned), role: primary (follows the role) or "
                    "sentinel: {service: sentinel, master: mymaster} (follows Sentinel)")
    out: dict[str, Any] = {}
    if "role" in m:
        role = r.name(m["role"], m, "role", f"{where}.role")
        if roles is not None and role not in roles:
            raise r.err(f"no role {role!r} is declared", m, "role", f"{where}.role",
                        f"declare it under x-drillkit.roles (have: {', '.join(roles) or 'none'})")
        out["role"] = role
    elif "sentinel" in m:
        out["sentinel"] = _sentinel(r, m["sentinel"], m, f"{where}.sentinel", services)
        if "port" in m:
            raise r.err("the master's port comes from Sentinel", m, "port", f"{where}.port",
                        "drop port (sentinel.port is where Sentinel listens)")
    else:
        out["service"] = _services(r, m, where, services, many=False)[0]
    if "command" not in m:
        raise r.err("missing `command`", m, None, f"{where}.command", "add command: [INCR, 'counter:{user}']")
    cmd = m["command"]
    if isinstance(cmd, str):
        cmd = cmd.split()
    if not isinstance(cmd, list) or not cmd:
        raise r.err("must be a list or a text", m, "command", f"{where}.command", "write command: [SET, '{key}', '{user}']")
    parts = [r.template(c, m, "command", f"{where}.command", known) for c in cmd]
    port = r.integer(m.get("port", 6379), m, "port", f"{where}.port", 1, 65535)
    db = r.integer(m.get("db", 0), m, "db", f"{where}.db", 0, 15)
    op = r.text(m["op"], m, "op", f"{where}.op") if "op" in m else str(cmd[0]).upper()
    out.update({"port": port, "db": db, "command": parts, "op": op})
    if m.get("password") is not None:
        out["password"] = str(m["password"])
    return out


def _sentinel(r: _Reader, raw: Any, parent: dict, where: str, services: dict | None) -> dict[str, Any]:
    """``sentinel: {service, port (26379), master (mymaster), password}``: every replica of the
    service is asked, in order, which Redis is the master now."""
    s = r.mapping(raw, parent, "sentinel", where, SENTINEL_KEYS, "{service: sentinel, port: 26379, master: mymaster}")
    if "service" not in s:
        raise r.err("missing `service`: where Redis Sentinel runs", parent, "sentinel", f"{where}.service",
                    "add service: sentinel")
    svc = s["service"]
    if not isinstance(svc, str) or (services is not None and svc not in services):
        raise r.err(f"{svc!r} is not a service of this environment", s, "service", f"{where}.service",
                    f"use one of {', '.join(sorted(services or ()))}")
    out = {"service": svc, "port": r.integer(s.get("port", 26379), s, "port", f"{where}.port", 1, 65535),
           "master": r.name(s.get("master", "mymaster"), s, "master", f"{where}.master")}
    if s.get("password") is not None:
        out["password"] = str(s["password"])
    return out


def _services(r: _Reader, m: dict, where: str, services: dict | None, *, many: bool) -> list[str]:
    if "service" in m and "services" in m:
        raise r.err("both service and services", m, "services", f"{where}.services", "keep one")
    if "services" in m and not many:
        raise r.err("this kind connects to one service", m, "services", f"{where}.services", "write service: NAME")
    if "service" not in m and "services" not in m:
        raise r.err("missing `service`: which service of the environment to connect to", m, None,
                    f"{where}.service", "add service: db")
    key = "service" if "service" in m else "services"
    names = m[key] if isinstance(m[key], list) else [m[key]]
    if not names:
        raise r.err("no services", m, key, f"{where}.{key}", "name at least one")
    for s in names:
        if not isinstance(s, str):
            raise r.err(f"{s!r} is not a service name", m, key, f"{where}.{key}", "write service: db")
        if services is not None and s not in services:
            raise r.err(f"{s!r} is not a service of this environment (clients reach only the run's own "
                        "containers)", m, key, f"{where}.{key}", f"use one of {', '.join(sorted(services))}")
    return list(names)


# kind -> (option parser, the Client class, loaded lazily) — drillkit's ready-made protocol clients
CLIENT_KINDS: dict[str, tuple[Callable, Callable[[], type], set[str]]] = {
    "postgres": (_postgres, lambda: __import__("drillkit.clients.postgres", fromlist=["x"]).PostgresClient,
                 POSTGRES_KEYS),
    "redis": (_redis, lambda: __import__("drillkit.clients.redis", fromlist=["x"]).RedisClient, REDIS_KEYS),
}


def parse_client(name: str, raw: Any, *, file: str | None = None, where: str | None = None, parent: Any = None,
                 services: dict | None = None, extra_keys: set[str] = frozenset(),
                 roles: dict | None = None) -> ClientSpec:
    """One client from its YAML mapping. ``services`` and ``roles`` (of the environment) are what it
    may connect to; None: not checked here."""
    r = _Reader(file, _line(parent, name) if parent is not None else _line(raw))
    where = where or f"clients.{name}"
    r.name(name, parent, name, where)
    if not isinstance(raw, dict):
        raise r.err(f"must be a mapping, not {_kind_of(raw)}", parent, name, where,
                    "write {kind: postgres, service: db, statement: ...}")
    kind = raw.get("kind")
    if kind not in CLIENT_KINDS:
        raise r.err(f"unknown client kind {kind!r}", raw, "kind" if "kind" in raw else None, f"{where}.kind",
                    f"use one of {', '.join(CLIENT_KINDS)} (or a Client class in Python: drill.clients(MyClient, 5))")
    parse_options, _, kind_keys = CLIENT_KINDS[kind]
    m = r.mapping(raw, parent, name, where, CLIENT_KEYS | kind_keys | set(extra_keys), "{kind: postgres, ...}")
    known: set[str] = set()
    let = {}
    if m.get("let") is not None:
        lm = r.names_map(m["let"], m, "let", f"{where}.let")
        let = {k: r.template(v, lm, k, f"{where}.let.{k}", set()) for k, v in lm.items()}
        known |= set(let)
    if isinstance(m.get("params"), dict):
        known |= {str(k) for k in m["params"]}
    options = parse_options(r, m, where, services, set(let), roles)
    write = None
    if m.get("write") is not None:
        write = r.write(m["write"], m, "write", f"{where}.write", name, known, http=False)
    population = r.name(m["population"], m, "population", f"{where}.population") if "population" in m else name
    return ClientSpec(
        name=name, kind=kind, options=options, population=population,
        count=r.integer(m["count"], m, "count", f"{where}.count", 1, 500) if "count" in m else None,
        seed=r.integer(m["seed"], m, "seed", f"{where}.seed", 0, 2**31) if "seed" in m else 0,
        think=r.duration(m["think"], m, "think", f"{where}.think", 0, 60) if "think" in m else 0.2,
        timeout=r.duration(m["timeout"], m, "timeout", f"{where}.timeout", 0.05, 120) if "timeout" in m else 2.0,
        first=r.integer(m["first"], m, "first", f"{where}.first", 0, 10**6) if "first" in m else 1,
        let=let, write=write, file=file, line=_line(parent, name) if parent is not None else _line(m))


def parse_clients(raw: Any, *, file: str | None = None, where: str = "x-drillkit.clients",
                  services: dict | None = None, roles: dict | None = None) -> dict[str, ClientSpec]:
    r = _Reader(file)
    if raw is None:
        return {}
    m = r.mapping(raw, None, None, where, set(raw) if isinstance(raw, dict) else set(),
                  "{writers: {kind: postgres, ...}}")
    return {str(k): parse_client(str(k), v, file=file, where=f"{where}.{k}", parent=m, services=services, roles=roles)
            for k, v in m.items()}

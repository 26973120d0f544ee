"""HTTP journeys declared as data: a user kind (login, steps, session rule, node attribution) and
the client that walks it.

A :class:`UserKind` is what ``x-drillkit.users.<kind>`` (or a scenario's ``users:``) declares; it is
parsed and checked by :mod:`drillkit.clients.declare`. :class:`HttpJourney` is the client
(:class:`~drillkit.clients.contract.Client`) that performs it for one user against the
environment's entry point on 127.0.0.1. Populations come from the kind: a login counts for
``new-logins``, work on the session for ``existing-sessions`` (a kind that logs in again every
iteration keeps everything in ``new-logins``), a kind without a login for its own name — or what
``population:`` says.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Any, Generator

from drillkit.clients.contract import (
    FAIL,
    OK,
    SESSION_NONE,
    SESSION_REJECTED,
    SESSION_VALID,
    UNKNOWN,
    Client,
    ClientContext,
    Op,
    Outcome,
)
from drillkit.clients.template import BUILTINS, MISSING, Answer, Extraction, Template, render
from drillkit.traffic.http import HttpClient
from drillkit.traffic.http_async import AsyncHttpClient

__all__ = ["UserKind", "Login", "Step", "Request", "Write", "NodeRule", "HttpJourney",
           "EXISTING", "NEW_LOGINS", "DEFAULT_NODE_HEADER", "NOT_SENT"]

EXISTING = "existing-sessions"
NEW_LOGINS = "new-logins"
DEFAULT_NODE_HEADER = "X-Drillkit-Node"
NOT_SENT = frozenset({"ConnectionRefusedError"})   # errors that prove a request never reached the service


@dataclass(frozen=True)
class NodeRule:
    """Which response header names the replica that answered, and how its values map to the
    environment's replica names (``app-2``): ``(regex, replacement)`` pairs, first full match wins;
    a value no pattern matches is kept as it is."""

    header: str = DEFAULT_NODE_HEADER
    map: tuple[tuple[re.Pattern, str], ...] = ()

    def node(self, value: str | None) -> str | None:
        if not value:
            return None
        for pattern, repl in self.map:
            m = pattern.fullmatch(value)
            if m:
                return m.expand(repl)
        return value


@dataclass(frozen=True)
class Request:
    method: str
    path: Template
    body: Any = None                              # compiled template value (JSON), or None
    headers: dict[str, Template] = field(default_factory=dict)
    expect: tuple[int, ...] | None = None         # statuses that count as ok; None = any 2xx
    timeout: float | None = None                  # None = the kind's timeout

    def counts_ok(self, status: int | None) -> bool:
        if status is None:
            return False
        return status in self.expect if self.expect is not None else 200 <= status < 300


@dataclass(frozen=True)
class Write:
    """An acknowledged answer of this step is a write in the ledger."""

    id: Extraction
    op: str
    ledger: str = "writes"
    attrs: dict[str, Extraction] = field(default_factory=dict)
    statuses: tuple[int, ...] | None = None      # statuses that acknowledge; None = any 2xx
    unknown: tuple[int, ...] = ()                # statuses that leave the outcome unknown (e.g. 504)

    def acknowledged(self, status: int | None) -> bool:
        if status is None:
            return False
        return status in self.statuses if self.statuses is not None else 200 <= status < 300


@dataclass(frozen=True)
class Login:
    request: Request
    token: Extraction
    send: tuple[str, Template] | None             # (header, value template); None: the cookie carries it
    population: str = NEW_LOGINS
    every_iteration: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    request: Request
    weight: float = 1.0
    every: int | None = None
    let: dict[str, Template] = field(default_factory=dict)
    save: dict[str, Extraction] = field(default_factory=dict)
    write: Write | None = None
    population: str | None = None


@dataclass(frozen=True)
class UserKind:
    """One kind of synthetic user, declared as data (see docs/environments.md, ``users``)."""

    name: str
    steps: tuple[Step, ...]
    sequence: bool = False
    login: Login | None = None
    session_rejected: tuple[int, ...] = (401, 403)
    think: float = 0.2
    timeout: float = 2.0
    node: NodeRule = field(default_factory=NodeRule)
    population: str = ""                     # the steps' population ("" = the default rule)
    user: Template | None = None             # client names; default <kind>-{i:03d}
    first: int = 1
    count: int | None = None                 # a default count (a scenario may give its own)
    seed: int = 0
    file: str | None = None
    line: int | None = None

    @property
    def has_sessions(self) -> bool:
        """Users of this kind work on a session the service may refuse later (sessions_lost)."""
        return self.login is not None and not self.login.every_iteration

    @property
    def step_population(self) -> str:
        if self.population:
            return self.population
        if self.login is None:
            return self.name
        return NEW_LOGINS if self.login.every_iteration else EXISTING

    @property
    def populations(self) -> tuple[str, ...]:
        out: list[str] = []
        if self.login is not None:
            out.append(self.login.population)
        for s in self.steps:
            p = s.population or self.step_population
            if p not in out:
                out.append(p)
        return tuple(out)

    @property
    def session_populations(self) -> tuple[str, ...]:
        if not self.has_sessions:
            return ()
        return tuple(dict.fromkeys(s.population or self.step_population for s in self.steps))

    @property
    def writes(self) -> bool:
        return any(s.write is not None for s in self.steps)

    def client_name(self, i: int) -> str:
        """The name of user ``i`` (0-based) of a pool: ``user:`` over {i} = first + i."""
        number = self.first + i
        if self.user is None:
            return f"{self.name}-{number:03d}"
        return str(self.user.render({"i": number}, random.Random(number)))

    def with_options(self, **opts: Any) -> "UserKind":
        """A copy with scenario options (count, seed, think, timeout, first) applied."""
        return dataclasses.replace(self, **{k: v for k, v in opts.items() if v is not None})


class HttpJourney(Client):
    """One user walking a :class:`UserKind` against the environment's entry point."""

    def __init__(self, kind: UserKind, name: str, index: int = 0):
        super().__init__(name)
        self.kind = kind
        self.index = index
        self.http = None
        self.vars: dict[str, Any] = {}
        self.token: Any = None
        self.had_session = False
        # what every iteration asks of the kind, worked out once per user
        self._needs = {id(s): _names(s) for s in kind.steps}
        self._every = [s for s in kind.steps if s.every]
        pool = [s for s in kind.steps if not s.every] or list(kind.steps)
        self._pool = pool
        self._cum = list(itertools.accumulate(s.weight for s in pool))
        self._ops: dict[int, Op] = {}

    # -- the contract ----------------------------------------------------------------------------
    def open(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.http = HttpClient(ctx.url(), timeout=self.kind.timeout, node_header=self.kind.node.header)
        self.vars = {"user": self.name, "i": self.kind.first + self.index, "n": 0}

    @property
    def ready(self) -> bool:
        if self.ctx is None:
            return False
        login = self.kind.login
        return login is None or login.every_iteration or self.token is not None

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def ops(self, iteration: int) -> Generator[Op, Outcome, None]:
        kind = self.kind
        self.vars["n"] = iteration
        login = kind.login
        if login is not None and (login.every_iteration or self.token is None):
            out = yield Op(f"{login.request.method} {login.request.path.source}", login.population, data=login)
            if not out.ok:
                return
        steps = kind.steps if kind.sequence else (self._pick(iteration),)
        variables = self.vars
        for step in steps:
            needed = self._needs[id(step)]
            if needed and not needed <= variables.keys():   # an earlier answer did not hold what this
                return                                        # step needs (e.g. no free slot)
            op = self._ops.get(id(step))
            if op is None:   # an Op is immutable: one per step and user
                op = self._ops[id(step)] = Op(step.name, step.population or kind.step_population,
                                              write=step.write is not None, data=step)
            out = yield op
            if out.session == SESSION_REJECTED or not out.ok:
                return

    def invoke(self, op: Op) -> Outcome:
        if isinstance(op.data, Login):
            login = op.data
            m, path, body, timeout, headers = self._login_request(login)
            return self._login_answer(login, self.http.request(m, path, body, auth=False, timeout=timeout,
                                                                headers=headers))
        step = op.data
        m, path, body, timeout, headers = self._step_request(step)
        return self._step_answer(step, self.http.request(m, path, body, auth=False, timeout=timeout, headers=headers))

    async def ainvoke(self, op: Op) -> Outcome:
        """:meth:`invoke` on the running event loop (the open-loop generator's): the same requests,
        the same outcomes, over :class:`~drillkit.traffic.http_async.AsyncHttpClient`."""
        http = self.http
        if not isinstance(http, AsyncHttpClient):   # the first invoke on the loop: swap the connection
            if http is not None:
                http.close()
            http = self.http = AsyncHttpClient(self.ctx.url(), timeout=self.kind.timeout,
                                               node_header=self.kind.node.header)
        if isinstance(op.data, Login):
            login = op.data
            m, path, body, timeout, headers = self._login_request(login)
            return self._login_answer(login, await http.request(m, path, body, auth=False, timeout=timeout,
                                                                 headers=headers))
        step = op.data
        m, path, body, timeout, headers = self._step_request(step)
        return self._step_answer(step, await http.request(m, path, body, auth=False, timeout=timeout,
                                                          headers=headers))

    # -- work ------------------------------------------------------------------------------------
    def _pick(self, iteration: int) -> Step:
        for s in self._every:
            if iteration % s.every == 0:
                return s
        # rng.choices(pool, cum_weights=cum)[0], without its list: the same draw, the same step
        cum = self._cum
        return self._pool[bisect.bisect(cum, self.ctx.rng.random() * cum[-1], 0, len(cum) - 1)]

    def _request(self, req: Request, variables: dict[str, Any], *, auth: bool) -> tuple:
        """What to send: ``(method, path, body, timeout, headers)`` (``auth`` here: the login's header)."""
        rng = self.ctx.rng
        path = str(req.path.render(variables, rng))
        body = render(req.body, variables, rng) if req.body is not None else None
        headers = {k: str(v.render(variables, rng)) for k, v in req.headers.items()} if req.headers else {}
        login = self.kind.login
        if auth and login is not None and login.send is not None and self.token is not None:
            name, value = login.send
            headers.setdefault(name, str(value.render(variables, rng)))
        return req.method, path, body, req.timeout or self.kind.timeout, headers

    def _login_request(self, login: Login) -> tuple:
        if login.every_iteration or self.token is None:
            self.http.cookies.clear()       # a new login starts a new sticky assignment too
            self.token = None
        return self._request(login.request, self.vars, auth=False)

    def _login_answer(self, login: Login, r: Any) -> Outcome:
        node = self.kind.node.node(r.node)
        common = dict(http_status=r.status, node=node, notice=r.notice)
        if r.status is None:
            return Outcome(FAIL, error=r.error, **common)
        if not login.request.counts_ok(r.status):
            return Outcome(FAIL, error=f"HTTP {r.status}", **common)
        token = login.token.read(_answer(r, self.http), self.vars, self.ctx.rng)
        if token is MISSING:
            return Outcome(FAIL, error=f"no token at {login.token.text} in the answer", **common)
        self.token = token
        self.vars["token"] = token
        if not login.every_iteration:
            self.had_session = True
        return Outcome(OK, **common)

    def _step_request(self, step: Step) -> tuple:
        rng = self.ctx.rng
        for name, tpl in step.let.items():
            self.vars[name] = tpl.render(self.vars, rng)
        return self._request(step.request, self.vars, auth=True)

    def _step_answer(self, step: Step, r: Any) -> Outcome:
        rng = self.ctx.rng
        node = self.kind.node.node(r.node)
        common: dict[str, Any] = dict(http_status=r.status, node=node, notice=r.notice)
        w = step.write
        if w is not None:
            common["ledger"], common["write_op"] = w.ledger, w.op
        if r.status is None:
            sent = r.error not in NOT_SENT
            return Outcome(UNKNOWN if (w is not None and sent) else FAIL, error=r.error,
                           id=self._own_id(w), **common)
        kind = self.kind
        if (kind.login is not None and self.had_session and self.token is not None
                and r.status in kind.session_rejected):
            self.token = None                 # log in again next iteration
            self.vars.pop("token", None)
            self.http.cookies.clear()
            return Outcome(FAIL, error=f"HTTP {r.status}", session=SESSION_REJECTED, **common)
        if w is not None and r.status in w.unknown:
            return Outcome(UNKNOWN, error=f"HTTP {r.status}", id=self._own_id(w), **common)
        if not step.request.counts_ok(r.status):
            return Outcome(FAIL, error=f"HTTP {r.status}", **common)
        session = SESSION_VALID if self.token is not None and kind.has_sessions else SESSION_NONE
        if step.save or w is not None:
            answer = _answer(r, self.http)
            for name, ex in step.save.items():
                value = ex.read(answer, self.vars, rng)
                if value is MISSING:
                    self.vars.pop(name, None)
                else:
                    self.vars[name] = value
        out = Outcome(OK, session=session, **common)
        if w is not None and w.acknowledged(r.status):
            wid = w.id.read(answer, self.vars, rng)
            if wid is not MISSING:
                out.id = wid
                out.attrs = {k: v for k, ex in w.attrs.items()
                             if (v := ex.read(answer, self.vars, rng)) is not MISSING}
        return out

    def _own_id(self, w: Write | None) -> Any:
        """For an unknown write: the id, if the client chose it itself (``id: var:NAME``)."""
        if w is None or w.id.source != "var":
            return None
        v = self.vars.get(w.id.name, MISSING)
        return None if v is MISSING else v


def _names(step: Step) -> set[str]:
    """Saved names a step's templates use (builtins and its own `let:` excluded)."""
    names: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, Template):
            names.update(v.names)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(step.request.path)
    walk(step.request.body)
    walk(step.request.headers)
    return names - set(BUILTINS) - set(step.let)


def _answer(r: Any, http: Any) -> Answer:
    return Answer(status=r.status, body=r.body, headers=r.headers or {}, cookies=dict(http.cookies))

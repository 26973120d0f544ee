"""A Redis client: one command per op, acknowledged when the reply came.

Declared as data (``kind: redis``)::

    loan-counter:
      kind: redis
      service: sessions
      let: {key: "loan:{uuid}"}
      command: [SET, "{key}", "{user}"]
      write: {id: var:key, ledger: loan-keys}

``command`` is a list of templates (or one text, split on spaces). The answer's ``body`` is the
reply, decoded (``id: body`` for ``INCR``'s new value). Outcomes: ``ok`` on a reply; ``fail`` on a
Redis error reply or when no connection could be made; ``unknown`` for a write whose reply did not
come within ``timeout`` or whose connection broke after sending.

Where it connects — one of:

``service: cache``      pinned: the service's first replica, whatever happens to it
``role: primary``       whichever node holds the role of ``x-drillkit.roles`` now (the stack's
                        checks, asked through the `ClientContext`: this floor never runs them)
``sentinel: {service: sentinel, port: 26379, master: mymaster}``
                        the master Redis Sentinel names now (``SENTINEL get-master-addr-by-name``,
                        every replica of the Sentinel service asked in order until one answers)

A client that follows a role or Sentinel asks again after its connection broke, timed out or was
refused, and after a ``READONLY`` / ``MASTERDOWN`` reply (it was talking to a replica): the next op
goes to wherever the master is then — as a client library that follows failovers does. It asks at
most every :data:`ASK_EVERY` seconds; until the new master is known its ops fail (nothing sent).
Every outcome names the node that answered (``redis-2``). One op is one attempt: redis-py's own
retries are off (since redis-py 6 it retries a broken or timed-out command up to 10 times, which
would hide an outage and send a timed-out write twice).
"""

from __future__ import annotations

import re
import time
from typing import Any

import drillkit.clients.address as addresses
from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.clients.template import MISSING, Answer, render

__all__ = ["RedisClient", "ASK_EVERY"]

ASK_EVERY = 0.25       # seconds: a following client asks where the master is at most this often
_IP = re.compile(r"^[0-9.]+$|:")


class RedisClient(Client):
    def __init__(self, spec: Any, name: str, index: int = 0):
        super().__init__(name)
        self.spec = spec
        self.index = index
        self.conn = None
        self.vars: dict[str, Any] = {}
        self.node: str | None = None                       # the node it talks to now (redis-2)
        self._at: tuple[str, int] | None = None            # and its address
        self._asked = float("-inf")

    @property
    def follows(self) -> str | None:
        """What it follows to the master: ``role primary``, ``sentinel mymaster``, or None (pinned)."""
        o = self.spec.options
        if "role" in o:
            return f"role {o['role']}"
        if "sentinel" in o:
            return f"sentinel {o['sentinel']['master']}"
        return None

    def open(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.vars = {"user": self.name, "i": self.spec.first + self.index, "n": 0}
        self._connect()

    # -- where the master is ---------------------------------------------------------------------
    def _where(self) -> tuple[str, int, str | None]:
        """``(host, port, node)`` of the Redis to talk to now."""
        o, ctx = self.spec.options, self.ctx
        if "role" in o:
            service, replica = ctx.role_holder(o["role"])
            host, port = ctx.address(service, o["port"], replica)
            return host, port, f"{service}-{replica}"
        if "sentinel" in o:
            return self._ask_sentinels(o["sentinel"])
        host, port = ctx.address(o["service"], o["port"])
        return host, port, f"{o['service']}-1"

    def _ask_sentinels(self, s: dict[str, Any]) -> tuple[str, int, str | None]:
        import redis  # deferred: a database driver, only for stacks whose clients speak Redis
        ctx, why = self.ctx, []
        for replica in range(1, _replicas(ctx.env, s["service"]) + 1):
            try:
                host, port = ctx.address(s["service"], s["port"], replica)
                addresses.check_host(ctx.env, host)
                sentinel = redis.Redis(host=host, port=port, password=s.get("password"), decode_responses=True,
                                       socket_timeout=self.spec.timeout, socket_connect_timeout=self.spec.timeout,
                                       retry=_one_try())
                try:
                    answer = sentinel.sentinel_get_master_addr_by_name(s["master"])
                finally:
                    sentinel.close()
            except (redis.RedisError, OSError) as exc:
                why.append(f"{s['service']}-{replica}: {type(exc).__name__}: {exc}"[:160])
                continue
            if not answer:
                why.append(f"{s['service']}-{replica} knows no master {s['master']!r}")
                continue
            host, port = str(answer[0]), int(answer[1])
            if not _IP.search(host):                     # Sentinel announces host names: a service of the run
                return self._named(host, port)
            return host, port, addresses.node_at(ctx.env, host)
        raise redis.ConnectionError("no sentinel named the master: " + "; ".join(why or ["no sentinel node"]))

    def _named(self, name: str, port: int) -> tuple[str, int, str | None]:
        services = self.ctx.env.spec.services if self.ctx.env is not None else {}
        m = re.fullmatch(r"(.+)-(\d+)", name)
        service, replica = (m.group(1), int(m.group(2))) if m and m.group(1) in services else (name, 1)
        host, port = self.ctx.address(service, port, replica)    # refuses a name that is not the run's
        return host, port, f"{service}-{replica}"

    def _connect(self) -> None:
        """Connect where the master is (asked again unless it was asked a moment ago)."""
        import redis  # deferred: a database driver, only for stacks whose clients speak Redis
        if self._at is None or time.monotonic() - self._asked >= ASK_EVERY:
            self._asked = time.monotonic()
            host, port, node = self._where()
            addresses.check_host(self.ctx.env, host)
            self._at, self.node = (host, port), node
        host, port = self._at
        self.conn = redis.Redis(host=host, port=port, db=self.spec.options["db"],
                                password=self.spec.options.get("password"),
                                socket_timeout=self.spec.timeout, socket_connect_timeout=self.spec.timeout,
                                decode_responses=True, retry=_one_try())

    def _lost(self) -> None:
        """The connection failed or reached a replica: a following client asks again next time."""
        if self.follows is None:
            return                                       # pinned: redis-py reconnects to the same place
        conn, self.conn = self.conn, None
        try:
            if conn is not None:
                conn.close()
        except Exception:
            pass

    # -- the contract ----------------------------------------------------------------------------
    def ops(self, iteration: int):
        self.vars["n"] = iteration
        yield Op(self.spec.options["op"], self.spec.population, write=self.spec.write is not None)

    def invoke(self, op: Op) -> Outcome:
        import redis  # deferred: a database driver, only for stacks whose clients speak Redis
        spec, rng = self.spec, self.ctx.rng
        for name, tpl in spec.let.items():
            self.vars[name] = tpl.render(self.vars, rng)
        args = [str(a) for a in render(spec.options["command"], self.vars, rng)]
        w = spec.write
        extra: dict[str, Any] = {"ledger": w.ledger, "write_op": w.op} if w else {}
        if self.conn is None:
            try:
                self._connect()
            except Exception as exc:                     # no master known now: nothing was sent
                return Outcome(FAIL, error=f"connect: {type(exc).__name__}: {exc}"[:200], node=self.node, **extra)
        node = self.node
        try:
            reply = self.conn.execute_command(*args)
        except (redis.TimeoutError, redis.ConnectionError) as exc:
            # "Error 111 connecting to …", "Timeout connecting to …": the command was never sent
            unsent = "connecting" in str(exc).lower() or "refused" in str(exc).lower()
            status = UNKNOWN if (w and not unsent) else FAIL
            error = "timeout" if isinstance(exc, redis.TimeoutError) and not unsent else \
                f"{type(exc).__name__}: {exc}"[:200]
            self._lost()
            return Outcome(status, error=error, id=self._own_id() if status == UNKNOWN else None, node=node,
                           **extra)
        except redis.ResponseError as exc:
            if isinstance(exc, redis.ReadOnlyError) or str(exc).startswith("MASTERDOWN"):
                self._lost()                             # a replica now: the master is elsewhere
            return Outcome(FAIL, error=f"{type(exc).__name__}: {exc}"[:200], node=node, **extra)
        out = Outcome(OK, node=node, **extra)
        if w is not None:
            answer = Answer(status=None, body=reply)
            wid = w.id.read(answer, self.vars, rng)
            if wid is not MISSING:
                out.id = wid
                out.attrs = {k: v for k, ex in w.attrs.items() if (v := ex.read(answer, self.vars, rng)) is not MISSING}
        return out

    def _own_id(self) -> Any:
        w = self.spec.write
        if w is None or w.id.source != "var":
            return None
        v = self.vars.get(w.id.name, MISSING)
        return None if v is MISSING else v

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass


def _one_try() -> Any:
    """No retries inside redis-py: one op is one attempt (redis-py 6+ retries a broken or timed-out
    command up to 10 times by default — an outage would hide behind seconds of retries, and a write
    that timed out would be sent again)."""
    from redis.backoff import NoBackoff  # deferred: a database driver, only for stacks whose clients speak Redis
    from redis.retry import Retry  # deferred: a database driver, only for stacks whose clients speak Redis
    return Retry(NoBackoff(), 0)


def _replicas(env: Any, service: str) -> int:
    spec = getattr(env, "spec", None)
    svc = spec.services.get(service) if spec is not None else None
    return max(1, int(getattr(svc, "replicas", 1) or 1))

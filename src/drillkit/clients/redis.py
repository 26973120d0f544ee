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
"""

from __future__ import annotations

from typing import Any

from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.clients.template import MISSING, Answer, render

__all__ = ["RedisClient"]


class RedisClient(Client):
    def __init__(self, spec: Any, name: str, index: int = 0):
        super().__init__(name)
        self.spec = spec
        self.index = index
        self.conn = None
        self.vars: dict[str, Any] = {}

    def open(self, ctx: ClientContext) -> None:
        import redis
        from drillkit.clients.address import check_host
        self.ctx = ctx
        self.vars = {"user": self.name, "i": self.spec.first + self.index, "n": 0}
        host, port = ctx.address(self.spec.options["service"], self.spec.options["port"])
        check_host(ctx.env, host)
        self.conn = redis.Redis(host=host, port=port, db=self.spec.options["db"],
                                password=self.spec.options.get("password"),
                                socket_timeout=self.spec.timeout, socket_connect_timeout=self.spec.timeout,
                                decode_responses=True)

    def ops(self, iteration: int):
        self.vars["n"] = iteration
        yield Op(self.spec.options["op"], self.spec.population, write=self.spec.write is not None)

    def invoke(self, op: Op) -> Outcome:
        import redis
        spec, rng = self.spec, self.ctx.rng
        for name, tpl in spec.let.items():
            self.vars[name] = tpl.render(self.vars, rng)
        args = [str(a) for a in render(spec.options["command"], self.vars, rng)]
        w = spec.write
        extra: dict[str, Any] = {"ledger": w.ledger, "write_op": w.op} if w else {}
        try:
            reply = self.conn.execute_command(*args)
        except (redis.TimeoutError, redis.ConnectionError) as exc:
            # "Error 111 connecting to …", "Timeout connecting to …": the command was never sent
            unsent = "connecting" in str(exc).lower() or "refused" in str(exc).lower()
            status = UNKNOWN if (w and not unsent) else FAIL
            error = "timeout" if isinstance(exc, redis.TimeoutError) and not unsent else \
                f"{type(exc).__name__}: {exc}"[:200]
            return Outcome(status, error=error, id=self._own_id() if status == UNKNOWN else None, **extra)
        except redis.ResponseError as exc:
            return Outcome(FAIL, error=f"ResponseError: {exc}"[:200], **extra)
        out = Outcome(OK, **extra)
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

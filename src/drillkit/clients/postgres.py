"""A PostgreSQL client: one statement per op, acknowledged when COMMIT returned.

Declared as data (``kind: postgres`` in ``x-drillkit.clients`` or a scenario's ``clients:``)::

    loan-writers:
      kind: postgres
      service: db                  # or services: [db, db-replica], or a service with replicas:
                                   # every replica is listed, the read-write one wins (failover)
      database: loans
      user: loans
      password: loans
      statement: INSERT INTO loans (id, reader) VALUES (%(id)s, %(reader)s)
      params: {id: "{uuid}", reader: "{user}"}
      write: {id: var:id, ledger: loans}

``params`` are templates (see :mod:`drillkit.clients.template`), passed to psycopg as query
parameters (never pasted into the SQL); they are also saved as variables, so ``id: var:id`` names
a client-generated id. With ``RETURNING``, the answer's ``body`` is the first returned row as a
mapping (``id: body.id``).

Outcomes: ``ok`` once COMMIT returned; ``fail`` when the connection could not be made (nothing was
sent) or the server refused the statement (an error before COMMIT rolls back); ``unknown`` for a
write whose connection broke after sending, or that did not finish within ``timeout``: the client
abandons it (the connection is cancelled and closed on a side thread) and reconnects for the next op.
With several services, or a service with several replicas (an HA cluster as ``pg`` with
``deploy.replicas: 3``), the connection string lists every replica of every service with
``target_session_attrs=read-write``, so libpq connects to whichever is the primary now.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import drillkit.clients.address as addresses
from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.clients.template import MISSING, Answer, render

__all__ = ["PostgresClient", "conninfo"]


def conninfo(hosts: list[tuple[str, int]], *, database: str, user: str, password: str,
             connect_timeout: float) -> dict[str, Any]:
    """psycopg keyword arguments for one or several hosts (several: the read-write one wins)."""
    kw: dict[str, Any] = dict(host=",".join(h for h, _ in hosts), port=",".join(str(p) for _, p in hosts),
                              dbname=database, user=user, password=password,
                              connect_timeout=max(1, int(round(connect_timeout))),
                              application_name="drillkit", keepalives=1, keepalives_idle=1,
                              keepalives_interval=1, keepalives_count=2,
                              tcp_user_timeout=int(max(1.0, connect_timeout) * 1000))
    if len(hosts) > 1:
        kw["target_session_attrs"] = "read-write"
    return kw


class PostgresClient(Client):
    """Runs the spec's statement, one transaction per op (see the module docstring)."""

    def __init__(self, spec: Any, name: str, index: int = 0):
        super().__init__(name)
        self.spec = spec
        self.index = index
        self.conn = None
        self._worker: ThreadPoolExecutor | None = None
        self.vars: dict[str, Any] = {}

    def open(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.vars = {"user": self.name, "i": self.spec.first + self.index, "n": 0}
        port = self.spec.options["port"]
        self.hosts = [ctx.address(s, port, r) for s in self.spec.options["services"]
                      for r in range(1, _replicas(ctx.env, s) + 1)]
        for host, _ in self.hosts:
            addresses.check_host(ctx.env, host)

    def ops(self, iteration: int):
        self.vars["n"] = iteration
        yield Op(self.spec.options["op"], self.spec.population, write=self.spec.write is not None)

    def _connect(self):
        import psycopg  # deferred: a database driver, only for stacks whose clients speak PostgreSQL
        o = self.spec.options
        self.conn = psycopg.connect(**conninfo(self.hosts, database=o["database"], user=o["user"],
                                               password=o["password"], connect_timeout=self.spec.timeout))

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        """On the worker thread: execute + commit; the first row (as a mapping) or None."""
        conn = self.conn
        with conn.cursor() as cur:
            cur.execute(sql, params)
            row = None
            if cur.description is not None:
                first = cur.fetchone()
                if first is not None:
                    row = {d.name: v for d, v in zip(cur.description, first)}
        conn.commit()
        return row

    def _abandon(self, future: Any = None) -> None:
        """A timed-out op: cancel and close its connection without making the caller wait for it.

        The op may still be inside libpq on the worker thread (a commit waiting for a server that
        does not answer), and ``close()`` frees the connection under it: a segmentation fault of the
        whole process (seen at stop 19, a commit under a partition). So the connection is closed
        only once the op has ended — after the cancel, or after its socket is shut down (the wait
        then returns with an error) — and left to the process's end if it never does."""
        conn, worker = self.conn, self._worker
        self.conn, self._worker = None, None

        def ended(seconds: float) -> bool:
            if future is None:
                return True
            try:
                future.exception(timeout=seconds)
            except FutureTimeout:
                return False
            except BaseException:
                pass
            return True

        def drop() -> None:
            try:
                conn.cancel_safe(timeout=2.0) if hasattr(conn, "cancel_safe") else conn.cancel()
            except Exception:
                pass
            if not ended(3.0):
                try:   # wake the op's wait: the socket reads end of stream, libpq fails the op
                    fd = conn.pgconn.socket
                    sock = socket.socket(fileno=fd)
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    finally:
                        sock.detach()
                except Exception:
                    pass
                if not ended(5.0):
                    return
            try:
                conn.close()
            except Exception:
                pass
            worker.shutdown(wait=False)

        threading.Thread(target=drop, name=f"dk-pg-abandon-{self.name}", daemon=True).start()

    def invoke(self, op: Op) -> Outcome:
        import psycopg  # deferred: a database driver, only for stacks whose clients speak PostgreSQL
        spec, rng = self.spec, self.ctx.rng
        for name, tpl in spec.let.items():
            self.vars[name] = tpl.render(self.vars, rng)
        params = render(spec.options["params"], self.vars, rng)
        self.vars.update(params)
        w = spec.write
        extra: dict[str, Any] = {"ledger": w.ledger, "write_op": w.op} if w else {}
        if self.conn is None or self.conn.closed:
            try:
                self._connect()
            except psycopg.Error as exc:
                self.conn = None
                return Outcome(FAIL, error=f"connect: {_first_line(exc)}", **extra)
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dk-pg-{self.name}")
        future = self._worker.submit(self._run, spec.options["statement"], params)
        try:
            row = future.result(timeout=spec.timeout)
        except FutureTimeout:
            self._abandon(future)
            return Outcome(UNKNOWN if w else FAIL, error="timeout", id=self._own_id(), **extra)
        except psycopg.OperationalError as exc:   # the connection broke: sent or not, we cannot tell
            self._close_quietly()
            return Outcome(UNKNOWN if w else FAIL, error=_first_line(exc), id=self._own_id(), **extra)
        except psycopg.Error as exc:              # refused by the server: rolled back
            try:
                self.conn.rollback()
            except Exception:
                self._close_quietly()
            return Outcome(FAIL, error=_first_line(exc), **extra)
        out = Outcome(OK, **extra)
        if w is not None:
            answer = Answer(status=None, body=row)
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

    def _close_quietly(self) -> None:
        conn, self.conn = self.conn, None
        try:
            if conn is not None:
                conn.close()
        except Exception:
            pass

    def close(self) -> None:
        self._close_quietly()
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None


def _replicas(env: Any, service: str) -> int:
    """How many replicas a service has (every one is a host of the connection string)."""
    spec = getattr(env, "spec", None)
    svc = spec.services.get(service) if spec is not None else None
    return max(1, int(getattr(svc, "replicas", 1) or 1))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]

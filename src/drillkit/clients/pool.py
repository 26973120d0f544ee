"""Run N clients on threads, bounded in count and time, and write what they did to the timeline.

Every invoke becomes a ``probe`` record (population, client, op, ok, status, latency, t_end, node,
error, session, notice). Every acknowledged write becomes a ``write`` record (the users' ledger:
``client, id, op, ledger`` and the op's extra attributes); a write whose outcome is unknown (timed
out, cut off) is recorded too, with ``outcome: "unknown"`` — it may or may not have happened.

Bounds: at most :data:`MAX_CLIENTS` clients per pool; each thread stops by itself after
``max_duration`` seconds even if nobody calls :meth:`ClientPool.stop` (the safety rule: loads
stop by themselves). :meth:`ClientPool.start` returns once every client is ready (opened and, for
journeys with a login, logged in) or the wait ran out: the drill checks :attr:`ClientPool.ready`.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Callable

from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.timeline import Timeline

__all__ = ["ClientPool", "MAX_CLIENTS", "MAX_DURATION", "record_invoke", "invoke_timed"]

MAX_CLIENTS = 500
MAX_DURATION = 900.0       # seconds: a pool never runs longer, whatever it is asked


class ClientPool:
    """``count`` clients made by ``make_client(i)`` (i = 0..count-1), each on its own thread.

    ``think``: mean pause between iterations (each pause is uniform in 0.5..1.5 × think, from the
    client's seeded generator). ``seed``: makes every client's choices reproducible.
    """

    def __init__(self, make_client: Callable[[int], Client], count: int, *, timeline: Timeline,
                 env: Any = None, base_url: str | None = None, think: float = 0.2,
                 max_duration: float = MAX_DURATION, seed: int = 0, name: str = "clients",
                 roles: Callable[[str], tuple[str, int]] | None = None):
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_CLIENTS:
            raise ValueError(f"client count {count!r} outside 1..{MAX_CLIENTS}")
        if not 0 <= think <= 60:
            raise ValueError(f"think time {think!r} s outside 0..60")
        if not 0 < max_duration <= MAX_DURATION:
            raise ValueError(f"max_duration {max_duration!r} s outside (0, {MAX_DURATION:g}]")
        self.name = name
        self.timeline, self.env, self.base_url = timeline, env, base_url
        self.roles = roles             # where a role is now (the stack's resolver), for clients that follow one
        self.think, self.max_duration, self.seed = float(think), float(max_duration), seed
        self.clients: list[Client] = [make_client(i) for i in range(count)]
        for i, c in enumerate(self.clients):
            if not isinstance(c, Client):
                raise TypeError(f"make_client({i}) returned {type(c).__name__}, not a drillkit Client")
            c.name = c.name or f"{name}-{i + 1:03d}"
        self.counts = {OK: 0, FAIL: 0, UNKNOWN: 0, "writes": 0, "unknown_writes": 0}
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._opened: set[int] = set()
        self.open_errors: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, *, wait_ready: float = 60.0) -> "ClientPool":
        """Start every client; return when all are ready or after ``wait_ready`` seconds."""
        for i, c in enumerate(self.clients):
            th = threading.Thread(target=self._run, args=(i, c), name=f"dk-client-{c.name}", daemon=True)
            th.start()
            self._threads.append(th)
        end = time.monotonic() + wait_ready
        while time.monotonic() < end and self.ready < len(self.clients):
            if self._stop.wait(0.05):
                break
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every client after its current invoke, and close it. Idempotent."""
        self._stop.set()
        end = time.monotonic() + timeout
        for th in self._threads:
            th.join(timeout=max(0.1, end - time.monotonic()))

    def __enter__(self) -> "ClientPool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def ready(self) -> int:
        """How many clients are open and ready to work (e.g. logged in)."""
        n = 0
        for i, c in enumerate(self.clients):
            try:
                n += 1 if i in self._opened and c.ready else 0
            except Exception:  # a client's own property failing counts as not ready
                pass
        return n

    @property
    def running(self) -> bool:
        return any(th.is_alive() for th in self._threads)

    # -- one client's thread ---------------------------------------------------------------------
    def _run(self, index: int, client: Client) -> None:
        rng = random.Random(self.seed * 100_003 + index)
        ctx = ClientContext(name=client.name, index=index, rng=rng, timeline=self.timeline, env=self.env,
                            base_url=self.base_url, roles=self.roles)
        deadline = time.monotonic() + self.max_duration
        backoff = 0.1
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    client.open(ctx)
                    self._opened.add(index)
                    break
                except Exception as exc:  # the service may be down right now: try again later
                    self.open_errors[client.name] = f"{type(exc).__name__}: {exc}"[:300]
                    self._stop.wait(backoff)
                    backoff = min(2.0, backoff * 2)
            iteration = 0
            while not self._stop.is_set() and time.monotonic() < deadline and index in self._opened:
                iteration += 1
                self._iterate(client, iteration, deadline)
                pause = rng.uniform(0.5, 1.5) * self.think
                if pause:
                    self._stop.wait(pause)
        finally:
            try:
                client.close()
            except Exception:  # closing a broken connection may fail; nothing to report
                pass

    def _iterate(self, client: Client, iteration: int, deadline: float) -> None:
        gen = client.ops(iteration)
        try:
            op = next(gen)
            while True:
                outcome = self._invoke(client, op)
                if self._stop.is_set() or time.monotonic() >= deadline:
                    gen.close()
                    return
                op = gen.send(outcome)
        except StopIteration:
            return

    def _invoke(self, client: Client, op: Op) -> Outcome:
        outcome, t, t_end = invoke_timed(client, op, self.timeline)
        self.record(client.name, op, outcome, t, t_end)
        return outcome

    def record(self, client: str, op: Op, outcome: Outcome, t: float, t_end: float) -> None:
        """Write one invoke to the timeline: a probe, and a write when the ledger needs it."""
        written = record_invoke(self.timeline, client, op, outcome, t, t_end)
        with self._count_lock:
            self.counts[outcome.status] += 1
            if written:
                self.counts[written] += 1


def invoke_timed(client: Client, op: Op, timeline: Timeline) -> tuple[Outcome, float, float]:
    """``client.invoke(op)`` timed on the timeline's clock; a client that raises has failed its op (a
    write: unknown — it may have happened). Returns (outcome, t, t_end)."""
    t = timeline.now()
    try:
        outcome = client.invoke(op)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"{type(client).__name__}.invoke returned {type(outcome).__name__}, not Outcome")
    except Exception as exc:  # a client that raises: its op failed (a write: may have happened)
        outcome = Outcome(UNKNOWN if op.write else FAIL, error=f"{type(exc).__name__}: {exc}"[:200])
    return outcome, t, timeline.now()


def record_invoke(timeline: Timeline, client: str, op: Op, outcome: Outcome, t: float, t_end: float) -> str | None:
    """Write one invoke to the timeline: a ``probe``, and a ``write`` when the ledger needs it.
    Returns ``"writes"`` (acknowledged), ``"unknown_writes"`` or None."""
    tl = timeline
    error = outcome.error if outcome.status == OK else (outcome.error or outcome.status)
    tl.probe(population=op.population, client=client, op=outcome.op or op.name, ok=outcome.status == OK,
             t=t, t_end=t_end, status=outcome.http_status, node=outcome.node, error=error,
             session=outcome.session, notice=outcome.notice)
    if op.write and outcome.status == OK and outcome.id is not None:
        tl.add("write", client=client, id=str(outcome.id), op=outcome.write_op or op.name,
               ledger=outcome.ledger, **outcome.attrs)
        return "writes"
    if op.write and outcome.status == UNKNOWN:
        tl.add("write", client=client, id=None if outcome.id is None else str(outcome.id),
               op=outcome.write_op or op.name, outcome=UNKNOWN, ledger=outcome.ledger, **outcome.attrs)
        return "unknown_writes"
    return None

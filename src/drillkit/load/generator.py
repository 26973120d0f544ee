"""The open-loop load generator on the client contract: arrivals at the shape's rate, whether or not
earlier ones have been answered.

A slow service does not slow its users down — they keep arriving (Gil Tene's "coordinated omission":
a closed loop that waits for answers would measure a gentler load than the one asked for). Each
arrival is one iteration of a user kind or client (:meth:`~drillkit.clients.Client.ops`: one request
for a one-step kind, list → hold → book for a three-step journey), run by one of at most
``concurrency`` worker threads, each with its own opened client per kind.

What the timeline gets: every invoke is a ``probe`` record of the load's population with three more
fields — ``load`` (the load's label), ``arrival`` (its number) and ``due`` (when it was scheduled to
arrive, timeline seconds). ``t - due`` of an arrival's first request is the time it waited for a free
worker (zero while the generator keeps up). An arrival still unsent ``timeout`` seconds after it was
due is recorded as a probe with ``error: "timeout"`` and ``sent: false`` — the user gave up before
anything happened. Acknowledged writes go to the ledger as with :class:`~drillkit.clients.ClientPool`.
A ``load`` record (``event: start``) carries the shape's phases in timeline seconds; ``event: end``
its counts.

Bounds: at most :data:`~drillkit.load.spec.MAX_CONCURRENCY` workers, ``max_arrivals`` arrivals, and
the shape's duration plus the timeout (never more than 900 s); the generator stops by itself.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.load.phases import phases_of
from drillkit.load.spec import MAX_ARRIVALS, MAX_CONCURRENCY, MAX_LOAD_SECONDS
from drillkit.timeline import Timeline
from drillkit.traffic.shapes import Shape

__all__ = ["OpenLoop", "LoadCounts", "Action"]


@dataclass(frozen=True)
class Action:
    """One thing an arrival can do: a kind's name, how to make its client, and its weight."""

    name: str
    make: Callable[[int], Client]
    weight: float = 1.0


@dataclass
class LoadCounts:
    arrivals: int = 0            # arrivals the shape asked for so far
    started: int = 0             # arrivals a worker started
    never_sent: int = 0          # waited longer than the timeout for a worker: recorded as timed out
    dropped: int = 0             # still waiting when the load was stopped early (not recorded)
    requests: int = 0
    ok: int = 0
    workers: int = 0             # most worker threads started
    lateness_max: float = 0.0    # the scheduler's worst delay behind the shape (seconds)

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


_STOP = object()


class OpenLoop:
    """Fire ``actions`` at ``shape``'s rate (arrivals/s), open loop, bounded; see the module doc."""

    def __init__(self, shape: Shape, actions: list[Action], *, timeline: Timeline, env: Any = None,
                 base_url: str | None = None, population: str = "load", label: str = "load",
                 concurrency: int = 100, timeout: float = 2.0, max_arrivals: int = 50_000, seed: int = 0,
                 arrivals: str = "uniform", base: float | None = None, describe: str = ""):
        if not actions:
            raise ValueError("a load needs at least one action")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency {concurrency} outside 1..{MAX_CONCURRENCY}")
        if not 1 <= max_arrivals <= MAX_ARRIVALS:
            raise ValueError(f"max_arrivals {max_arrivals} outside 1..{MAX_ARRIVALS}")
        if shape.duration > MAX_LOAD_SECONDS:
            raise ValueError(f"a load lasts at most {MAX_LOAD_SECONDS:g} s, not {shape.duration:g} s")
        if arrivals not in ("uniform", "poisson"):
            raise ValueError(f"arrivals must be uniform or poisson, not {arrivals!r}")
        if base_url is not None:
            from drillkit.traffic.http import HttpClient
            HttpClient(base_url)   # refuses any target that is not this machine, before anything starts
        self.shape, self.actions, self.timeline = shape, list(actions), timeline
        self.env, self.base_url = env, base_url
        self.population, self.label = population, label
        self.concurrency, self.timeout, self.max_arrivals = concurrency, float(timeout), max_arrivals
        self.seed, self.arrivals = seed, arrivals
        self.base = base if base is not None else (shape.tick(0.0) or 0.0)
        self.describe = describe
        self.counts = LoadCounts()
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0            # arrivals queued or in service
        self._workers: list[threading.Thread] = []
        self._scheduler: threading.Thread | None = None
        self.t_start: float | None = None    # timeline seconds when the shape's t = 0

    # -- the scheduler ---------------------------------------------------------------------------
    def run(self) -> LoadCounts:
        """Run to the end of the shape (blocking) and return the counts."""
        self._schedule()
        return self.counts

    def start(self) -> "OpenLoop":
        self._scheduler = threading.Thread(target=self._schedule, name=f"dk-load-{self.label}", daemon=True)
        self._scheduler.start()
        return self

    def _schedule(self) -> None:
        tl = self.timeline
        rng = random.Random(self.seed * 1_000_003 + 17)
        weights = [a.weight for a in self.actions]
        start = time.monotonic()
        self.t_start = start - tl.t0
        tl.add("load", t=self.t_start, event="start", label=self.label, population=self.population, base=round(self.base, 6),
               shape=self.describe or type(self.shape).__name__, duration=round(self.shape.duration, 6),
               actions=[a.name for a in self.actions], concurrency=self.concurrency, timeout=self.timeout,
               phases=[p.as_dict(self.t_start) for p in phases_of(self.shape, self.base)])
        c = self.counts
        due = start
        end = start + self.shape.duration
        i = 0
        try:
            while not self._stop.is_set() and due < end - 1e-9 and i < self.max_arrivals:
                # a hair ahead: ten steps of 0.1 s add up to 0.9999999..., and the arrival due at a
                # phase's start must get the new phase's rate, whatever the float value of `start`
                rate = self.shape.tick(due - start + 1e-9)
                if rate is None:
                    break
                if rate <= 0:
                    due += 0.05
                    continue
                now = time.monotonic()
                if due > now and self._stop.wait(due - now):
                    break
                late = time.monotonic() - due
                if late > c.lateness_max:
                    c.lateness_max = late
                kind = rng.choices(range(len(self.actions)), weights)[0] if len(self.actions) > 1 else 0
                with self._lock:   # every worker busy or spoken for: start one more, up to the bound
                    spawn = self._pending >= len(self._workers) and len(self._workers) < self.concurrency
                    self._pending += 1
                if spawn:
                    self._spawn()
                self._queue.put((i, kind, due))
                c.arrivals += 1
                i += 1
                due += rng.expovariate(rate) if self.arrivals == "poisson" else 1.0 / rate
        finally:
            for _ in self._workers:
                self._queue.put(_STOP)
            for th in list(self._workers):
                th.join(timeout=self.timeout * 3 + 10)
            c.workers = len(self._workers)
            tl.add("load", event="end", label=self.label, **c.as_dict())
            self._done.set()

    def _spawn(self) -> None:
        n = len(self._workers) + 1
        th = threading.Thread(target=self._work, args=(n,), name=f"dk-load-{self.label}-w{n}", daemon=True)
        self._workers.append(th)
        th.start()

    # -- one worker ------------------------------------------------------------------------------
    def _work(self, n: int) -> None:
        clients: dict[int, Client] = {}
        iterations: dict[int, int] = {}
        rng = random.Random(self.seed * 100_003 + n)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                i, kind, due = item
                try:
                    self._serve(clients, iterations, rng, n, i, kind, due)
                finally:
                    with self._lock:
                        self._pending -= 1
        finally:
            for client in clients.values():
                try:
                    client.close()
                except Exception:  # a broken connection may fail to close; nothing to report
                    pass

    def _serve(self, clients: dict[int, Client], iterations: dict[int, int], rng: random.Random, n: int,
               i: int, kind: int, due: float) -> None:
        if self._stop.is_set():
            self.counts.dropped += 1
            return
        if time.monotonic() - due > self.timeout:
            self._never_sent(i, kind, due)
            return
        client = clients.get(kind)
        if client is None:
            client = self._open(kind, n, rng)
            if client is None:
                self._never_sent(i, kind, due, error="client could not open")
                return
            clients[kind] = client
        iterations[kind] = iterations.get(kind, 0) + 1
        self._arrive(client, i, due, iterations[kind])

    def _open(self, kind: int, n: int, rng: random.Random) -> Client | None:
        a = self.actions[kind]
        client = a.make(n - 1)
        client.name = client.name or f"{self.label}-{a.name}-w{n:03d}"   # a kind's own naming ({user}) stays
        ctx = ClientContext(name=client.name, index=n - 1, rng=rng, timeline=self.timeline, env=self.env,
                            base_url=self.base_url)
        try:
            client.open(ctx)
            return client
        except Exception as exc:  # the service may refuse connections under load; the arrival fails
            self._last_open_error = f"{type(exc).__name__}: {exc}"[:200]
            try:
                client.close()
            except Exception:
                pass
            return None

    def _arrive(self, client: Client, i: int, due: float, iteration: int) -> None:
        c = self.counts
        c.started += 1
        gen = client.ops(iteration)
        try:
            op = next(gen)
            while True:
                outcome = self._invoke(client, op, i, due)
                if self._stop.is_set():
                    gen.close()
                    return
                op = gen.send(outcome)
        except StopIteration:
            return
        except Exception as exc:  # a client's own bug: the arrival failed, the worker goes on
            t = self.timeline.now()
            self._record(client.name, Op("action", self.population), Outcome(FAIL, error=f"{type(exc).__name__}: {exc}"[:200]),
                         t, t, i, due)

    def _invoke(self, client: Client, op: Op, i: int, due: float) -> Outcome:
        tl = self.timeline
        t = tl.now()
        try:
            outcome = client.invoke(op)
            if not isinstance(outcome, Outcome):
                raise TypeError(f"{type(client).__name__}.invoke returned {type(outcome).__name__}, not Outcome")
        except Exception as exc:  # an op that raises failed (a write: may have happened)
            outcome = Outcome(UNKNOWN if op.write else FAIL, error=f"{type(exc).__name__}: {exc}"[:200])
        self._record(client.name, op, outcome, t, tl.now(), i, due)
        return outcome

    def _record(self, client: str, op: Op, outcome: Outcome, t: float, t_end: float, i: int, due: float,
                sent: bool = True) -> None:
        tl = self.timeline
        ok = outcome.status == OK
        error = outcome.error if ok else (outcome.error or outcome.status)
        rec: dict[str, Any] = dict(t_end=round(t_end, 6), population=self.population, client=client,
                                   op=outcome.op or op.name, ok=ok, status=outcome.http_status,
                                   latency=round(t_end - t, 6), node=outcome.node, error=error,
                                   session=outcome.session, load=self.label, arrival=i,
                                   due=round(due - tl.t0, 6))
        if outcome.notice:
            rec["notice"] = True
        if not sent:
            rec["sent"] = False
        tl.add("probe", t=t, **rec)
        if op.write and outcome.status == OK and outcome.id is not None:
            tl.add("write", client=client, id=str(outcome.id), op=outcome.write_op or op.name,
                   ledger=outcome.ledger, **outcome.attrs)
        elif op.write and outcome.status == UNKNOWN:
            tl.add("write", client=client, id=None if outcome.id is None else str(outcome.id),
                   op=outcome.write_op or op.name, outcome=UNKNOWN, ledger=outcome.ledger, **outcome.attrs)
        with self._lock:
            self.counts.requests += 1
            self.counts.ok += ok

    def _never_sent(self, i: int, kind: int, due: float, error: str = "timeout") -> None:
        """The arrival waited for a worker longer than the timeout: the user gave up unserved."""
        self.counts.never_sent += 1
        t = self.timeline.now()
        name = self.actions[kind].name
        self._record(f"{self.label}-{name}-queue", Op(name, self.population), Outcome(FAIL, error=error),
                     t, t, i, due, sent=False)

    # -- control ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._scheduler is not None and not self._done.is_set()

    def join(self, timeout: float | None = None) -> LoadCounts:
        """Wait until the shape has run out and every arrival is answered (or given up)."""
        if self._scheduler is not None:
            self._scheduler.join(self.shape.duration + self.timeout * 4 + 15 if timeout is None else timeout)
        return self.counts

    def stop(self) -> LoadCounts:
        """Stop now: no new arrivals; requests in flight finish; waiting arrivals are dropped."""
        self._stop.set()
        return self.join(timeout=self.timeout * 4 + 15)

    def __enter__(self) -> "OpenLoop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

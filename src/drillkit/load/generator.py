"""The open-loop load generator on the client contract: arrivals at the shape's rate, whether or not
earlier ones have been answered.

A slow service does not slow its users down — they keep arriving (Gil Tene's "coordinated omission":
a closed loop that waits for answers would measure a gentler load than the one asked for). Each
arrival is one iteration of a user kind or client (:meth:`~drillkit.clients.Client.ops`: one request
for a one-step kind, list → hold → book for a three-step journey), run by one of at most
``concurrency`` workers, each with its own opened client per kind.

How it runs: one event loop (asyncio; uvloop when installed) in the generator's thread schedules the
arrivals and runs the workers. A client that can be awaited (``ainvoke``: the HTTP journeys declared
as data, :class:`~drillkit.clients.HttpJourney`) is run on the loop itself — thousands of users on one
thread, no thread switch per request. Any other client (PostgreSQL, Redis, a plug-in's code) runs as
before on a thread of its worker's own, opened, invoked and closed there only. Arrivals due while
every worker is busy wait, first come first served; the schedule is released in small batches (the
loop wakes about every millisecond) with each arrival's own ``due``.

What the timeline gets: every invoke is a ``probe`` record of the load's population with three more
fields — ``load`` (the load's label), ``arrival`` (its number) and ``due`` (when it was scheduled to
arrive, timeline seconds). ``t - due`` of an arrival's first request is the time it waited for a free
worker (zero while the generator keeps up). An arrival still unsent ``timeout`` seconds after it was
due is recorded as a probe with ``error: "timeout"`` and ``sent: false`` — the user gave up before
anything happened. Acknowledged writes go to the ledger as with :class:`~drillkit.clients.ClientPool`.
A ``load`` record (``event: start``) carries the shape's phases in timeline seconds; ``event: end``
its counts. Records are in memory as they happen; the timeline's file gets them in batches, at least
every 100 ms and when the load ends (:meth:`drillkit.timeline.Timeline.deferred`).

Bounds: at most :data:`~drillkit.load.spec.MAX_CONCURRENCY` workers, ``max_arrivals`` arrivals, and
the shape's duration plus the timeout (never more than 900 s); the generator stops by itself.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.load.phases import phases_of
from drillkit.load.spec import MAX_ARRIVALS, MAX_CONCURRENCY, MAX_LOAD_SECONDS
from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient
from drillkit.traffic.shapes import Shape

__all__ = ["OpenLoop", "LoadCounts", "Action", "new_event_loop"]

FLUSH_EVERY = 0.1   # seconds: the longest the timeline's file lags behind during a load


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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (about twice asyncio's speed per request), asyncio's otherwise."""
    try:
        import uvloop  # deferred: optional; the event loop is faster with it
        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency; a bare install still works
        return asyncio.new_event_loop()


class _Worker:
    """One worker: its clients (one per action, opened on its first arrival of that action) and, if
    one of them can only block, the thread that runs it."""

    __slots__ = ("n", "clients", "iterations", "awaited", "rng", "wake", "thread")

    def __init__(self, n: int, seed: int):
        self.n = n
        self.clients: dict[int, Client] = {}
        self.iterations: dict[int, int] = {}
        self.awaited: set[int] = set()          # actions whose client this worker awaits on the loop
        self.rng = random.Random(seed * 100_003 + n)
        self.wake: asyncio.Future | None = None
        self.thread: ThreadPoolExecutor | None = None


class OpenLoop:
    """Fire ``actions`` at ``shape``'s rate (arrivals/s), open loop, bounded; see the module doc."""

    def __init__(self, shape: Shape, actions: list[Action], *, timeline: Timeline, env: Any = None,
                 base_url: str | None = None, population: str = "load", label: str = "load",
                 concurrency: int = 100, timeout: float = 2.0, max_arrivals: int = 50_000, seed: int = 0,
                 arrivals: str = "uniform", base: float | None = None, describe: str = "",
                 roles: Callable[[str], tuple[str, int]] | None = None):
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
            HttpClient(base_url)   # refuses any target that is not this machine, before anything starts
        self.shape, self.actions, self.timeline = shape, list(actions), timeline
        self.env, self.base_url = env, base_url
        self.roles = roles             # where a role is now (the stack's resolver), for clients that follow one
        self.population, self.label = population, label
        self.concurrency, self.timeout, self.max_arrivals = concurrency, float(timeout), max_arrivals
        self.seed, self.arrivals = seed, arrivals
        self.base = base if base is not None else (shape.tick(0.0) or 0.0)
        self.describe = describe
        self.counts = LoadCounts()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sleeper: asyncio.Future | None = None
        self._waiting: collections.deque = collections.deque()   # arrivals due, no worker free yet
        self._idle: list[_Worker] = []
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task] = []
        self._scheduling = False
        self._scheduler: threading.Thread | None = None
        self.t_start: float | None = None    # timeline seconds when the shape's t = 0

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> LoadCounts:
        """Run to the end of the shape (blocking) and return the counts."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:   # the usual case: no loop runs in this thread, the generator's runs here
            self._run_loop()
            return self.counts
        self.start()           # called from a coroutine: the generator's own loop on its own thread
        return self.join()

    def start(self) -> "OpenLoop":
        self._scheduler = threading.Thread(target=self._run_loop, name=f"dk-load-{self.label}", daemon=True)
        self._scheduler.start()
        return self

    def _run_loop(self) -> None:
        loop = new_event_loop()
        try:
            self._loop = loop
            loop.run_until_complete(self._main())
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._done.set()

    async def _main(self) -> None:
        tl = self.timeline
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        self.t_start = start - tl.t0
        tl.add("load", t=self.t_start, event="start", label=self.label, population=self.population, base=round(self.base, 6),
               shape=self.describe or type(self.shape).__name__, duration=round(self.shape.duration, 6),
               actions=[a.name for a in self.actions], concurrency=self.concurrency, timeout=self.timeout,
               phases=[p.as_dict(self.t_start) for p in phases_of(self.shape, self.base)])
        c = self.counts
        flusher = loop.call_later(FLUSH_EVERY, self._flush_tick)
        try:
            with tl.deferred():
                try:
                    self._scheduling = True
                    await self._schedule(start)
                finally:
                    self._scheduling = False
                    if self._stop.is_set():
                        c.dropped += len(self._waiting)   # stopped early: waiting arrivals are not sent
                        self._waiting.clear()
                    for w in self._idle:                  # idle workers end; busy ones when the queue is empty
                        if w.wake is not None and not w.wake.done():
                            w.wake.set_result(None)
                    self._idle.clear()
                    if self._tasks:
                        await asyncio.wait(self._tasks, timeout=self.timeout * 3 + 10)
                    c.workers = len(self._workers)
                    tl.add("load", event="end", label=self.label, **c.as_dict())
        finally:
            flusher.cancel()

    def _flush_tick(self) -> None:
        self.timeline.flush()
        if not self._done.is_set() and self._loop is not None and not self._loop.is_closed():
            self._loop.call_later(FLUSH_EVERY, self._flush_tick)

    async def _schedule(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(self.seed * 1_000_003 + 17)
        weights = [a.weight for a in self.actions]
        n_actions = len(self.actions)
        poisson = self.arrivals == "poisson"
        tick = self.shape.tick
        stop = self._stop
        c = self.counts
        due = start
        end = start + self.shape.duration
        i = 0
        monotonic = time.monotonic
        while not stop.is_set() and due < end - 1e-9 and i < self.max_arrivals:
            # a hair ahead: ten steps of 0.1 s add up to 0.9999999..., and the arrival due at a
            # phase's start must get the new phase's rate, whatever the float value of `start`
            rate = tick(due - start + 1e-9)
            if rate is None:
                break
            if rate <= 0:
                due += 0.05
                continue
            now = monotonic()
            if due > now:
                fut = self._sleeper = loop.create_future()
                handle = loop.call_later(due - now, _wake, fut)
                try:
                    await fut
                finally:
                    handle.cancel()
                    self._sleeper = None
                if stop.is_set():
                    break
                now = monotonic()
            late = now - due
            if late > c.lateness_max:
                c.lateness_max = late
            kind = rng.choices(range(n_actions), weights)[0] if n_actions > 1 else 0
            self._dispatch((i, kind, due))
            c.arrivals += 1
            i += 1
            due += rng.expovariate(rate) if poisson else 1.0 / rate

    def _dispatch(self, item: tuple[int, int, float]) -> None:
        """To an idle worker; else to a new one, up to the bound; else it waits for the first free."""
        if self._idle:
            w = self._idle.pop()
            fut, w.wake = w.wake, None
            fut.set_result(item)
        elif len(self._workers) < self.concurrency:
            w = _Worker(len(self._workers) + 1, self.seed)
            self._workers.append(w)
            self._tasks.append(self._loop.create_task(self._work(w, item)))
        else:
            self._waiting.append(item)

    # -- one worker ------------------------------------------------------------------------------
    async def _work(self, w: _Worker, item: tuple[int, int, float] | None) -> None:
        waiting = self._waiting
        try:
            while item is not None:
                i, kind, due = item
                if self._stop.is_set():
                    self.counts.dropped += 1
                else:
                    await self._serve(w, i, kind, due)
                if waiting:
                    item = waiting.popleft()
                elif self._scheduling:
                    w.wake = self._loop.create_future()
                    self._idle.append(w)
                    item = await w.wake
                else:
                    item = None
        finally:
            await self._close(w)

    async def _serve(self, w: _Worker, i: int, kind: int, due: float) -> None:
        if time.monotonic() - due > self.timeout:
            self._never_sent(i, kind, due)
            return
        client = w.clients.get(kind)
        if client is None:
            client = self.actions[kind].make(w.n - 1)
            if getattr(client, "ainvoke", None) is not None:
                ok = self._open(client, kind, w)
                w.awaited.add(kind)
            else:
                ok = await self._in_thread(w, self._open, client, kind, w)
            if not ok:
                w.awaited.discard(kind)
                self._never_sent(i, kind, due, error="client could not open")
                return
            w.clients[kind] = client
        iteration = w.iterations[kind] = w.iterations.get(kind, 0) + 1
        if kind in w.awaited:
            await self._arrive_async(client, i, due, iteration)
        else:
            await self._in_thread(w, self._arrive, client, i, due, iteration)

    async def _in_thread(self, w: _Worker, fn: Callable, *args: Any) -> Any:
        """Run a blocking client's part on the worker's own thread (one thread per client, always)."""
        if w.thread is None:
            w.thread = ThreadPoolExecutor(1, thread_name_prefix=f"dk-load-{self.label}-w{w.n}")
        return await self._loop.run_in_executor(w.thread, fn, *args)

    async def _close(self, w: _Worker) -> None:
        def close_all(clients: list[Client]) -> None:
            for client in clients:
                try:
                    client.close()
                except Exception:  # a broken connection may fail to close; nothing to report
                    pass
        clients, w.clients = list(w.clients.values()), {}
        if w.thread is None:
            close_all(clients)
            return
        try:
            await self._loop.run_in_executor(w.thread, close_all, clients)
        finally:
            w.thread.shutdown(wait=False)

    def _open(self, client: Client, kind: int, w: _Worker) -> bool:
        a = self.actions[kind]
        client.name = client.name or f"{self.label}-{a.name}-w{w.n:03d}"   # a kind's own naming ({user}) stays
        ctx = ClientContext(name=client.name, index=w.n - 1, rng=w.rng, timeline=self.timeline, env=self.env,
                            base_url=self.base_url, roles=self.roles)
        try:
            client.open(ctx)
            return True
        except Exception as exc:  # the service may refuse connections under load; the arrival fails
            self._last_open_error = f"{type(exc).__name__}: {exc}"[:200]
            try:
                client.close()
            except Exception:
                pass
            return False

    async def _arrive_async(self, client: Any, i: int, due: float, iteration: int) -> None:
        """One arrival of an awaitable client, on the loop: what :meth:`_arrive` does on a thread."""
        self.counts.started += 1
        tl = self.timeline
        gen = client.ops(iteration)
        try:
            op = next(gen)
            while True:
                t = tl.now()
                try:
                    outcome = await client.ainvoke(op)
                    if not isinstance(outcome, Outcome):
                        raise TypeError(f"{type(client).__name__}.ainvoke returned {type(outcome).__name__}, not Outcome")
                except Exception as exc:  # an op that raises failed (a write: may have happened)
                    outcome = Outcome(UNKNOWN if op.write else FAIL, error=f"{type(exc).__name__}: {exc}"[:200])
                self._record(client.name, op, outcome, t, tl.now(), i, due)
                if self._stop.is_set():
                    gen.close()
                    return
                op = gen.send(outcome)
        except StopIteration:
            return
        except Exception as exc:  # a client's own bug: the arrival failed, the worker goes on
            t = tl.now()
            self._record(client.name, Op("action", self.population), Outcome(FAIL, error=f"{type(exc).__name__}: {exc}"[:200]),
                         t, t, i, due)

    def _arrive(self, client: Client, i: int, due: float, iteration: int) -> None:
        with self._lock:
            self.counts.started += 1
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
        rec: dict[str, Any] = {"kind": "probe", "t": round(t, 6), "t_end": round(t_end, 6),
                               "population": self.population, "client": client, "op": outcome.op or op.name,
                               "ok": ok, "status": outcome.http_status, "latency": round(t_end - t, 6),
                               "node": outcome.node, "error": error, "session": outcome.session,
                               "load": self.label, "arrival": i, "due": round(due - tl.t0, 6)}
        if outcome.notice:
            rec["notice"] = True
        if not sent:
            rec["sent"] = False
        tl.append(rec)
        if op.write:
            if outcome.status == OK and outcome.id is not None:
                tl.add("write", client=client, id=str(outcome.id), op=outcome.write_op or op.name,
                       ledger=outcome.ledger, **outcome.attrs)
            elif outcome.status == UNKNOWN:
                tl.add("write", client=client, id=None if outcome.id is None else str(outcome.id),
                       op=outcome.write_op or op.name, outcome=UNKNOWN, ledger=outcome.ledger, **outcome.attrs)
        with self._lock:
            self.counts.requests += 1
            self.counts.ok += ok

    def _never_sent(self, i: int, kind: int, due: float, error: str = "timeout") -> None:
        """The arrival waited for a worker longer than the timeout: the user gave up unserved."""
        with self._lock:
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
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake_scheduler)
            except RuntimeError:   # the loop has already ended
                pass
        return self.join(timeout=self.timeout * 4 + 15)

    def _wake_scheduler(self) -> None:
        if self._sleeper is not None:
            _wake(self._sleeper)

    def __enter__(self) -> "OpenLoop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)

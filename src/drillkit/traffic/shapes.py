"""Load shapes (locust-style) and an open-loop load generator.

A shape answers one question: at ``t`` seconds into the load, what level should it run at?
``shape.tick(t)`` returns a number — requests (or user actions) per second for the open-loop
:class:`LoadGenerator`, or a user count for a closed-loop driver — or ``None`` when the load is over.
Shapes are pure (no clock, no threads, no randomness): unit-testable and reproducible.

=================  =========================================================================
``Constant``       ``value`` for ``duration`` seconds
``Spike``          ``base``, then ``base x factor`` (default 4: the overload of SCENARIOS.md, incident 3) from
                   ``at`` for ``for_`` seconds, then ``base`` again
``Ramp``           linear from ``start`` to ``end`` over ``duration`` (optionally in ``steps``)
``Steps``          ``start``, ``start + step``, ... every ``every`` seconds, up to ``maximum``
                   (the saturation search of the capacity benchmark)
``MondayBurst``    quiet before opening (``before`` x base), at opening (``at``) a jump to
                   ``base x factor`` that decays back to ``base`` with half-life ``half_life``
``Surge``          ``base`` until ``at``, then a rise within ``rise`` seconds to ``base x factor``
                   (default 20: the surge of SCENARIOS.md, incident 6), held for ``for_`` (default: to the end)
=================  =========================================================================

The generator fires *open loop*: arrivals follow the shape's rate whether or not earlier requests
have been answered (a slow service does not slow its users down — they keep arriving). Each arrival
runs on a bounded worker pool; when every worker is busy the arrival is not sent and is recorded as
a failed probe (``error="not sent: ..."``): the service was too slow for that user. The generator is
bounded in time (``max_duration``, at most 60 s) and in count (``max_requests``) and stops by itself.

An action is ``action(call, i)``: a few hand-written requests (:func:`get`, :func:`post`), or — what
a drill usually wants — one iteration of a user kind of the stack contract (:func:`kind_action`: a
journey declared as data, a plug-in's code-defined kind, a Client class), so the load sends exactly
what the stack's users send and records it the same way.
"""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient, Response

__all__ = ["Shape", "Constant", "Spike", "Ramp", "Steps", "MondayBurst", "Surge", "scaled",
           "LoadGenerator", "LoadResult", "Caller", "get", "post", "kind_action", "KindAction", "percentile",
           "per_second", "QUARTER_OPENING_HOURS"]

# Opening hours of one quarter of a citizen office (SCENARIOS.md, incident 3): 13 weeks x (4 x 8 h + 10 h).
QUARTER_OPENING_HOURS = 13 * (4 * 8 + 10)


def per_second(per_quarter: float, *, drill_seconds_per_quarter: float) -> float:
    """A quarterly volume as a rate in drill time, when one quarter is compressed into
    ``drill_seconds_per_quarter`` seconds of drill (e.g. 25,000 bookings, 3600 s → 6.9/s)."""
    if drill_seconds_per_quarter <= 0:
        raise ValueError("drill_seconds_per_quarter must be positive")
    return per_quarter / drill_seconds_per_quarter


def _positive(name: str, value: float, allow_zero: bool = True) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'≥' if allow_zero else '>'} 0, got {value}")
    return float(value)


class Shape:
    """Base: ``tick(t)`` → level at ``t`` (≥ 0), or ``None`` once ``t ≥ duration``."""

    duration: float

    def level(self, t: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def tick(self, t: float) -> float | None:
        if t < 0:
            t = 0.0
        if t >= self.duration:
            return None
        return max(0.0, float(self.level(t)))

    @property
    def peak(self) -> float:
        """Highest level over the shape (sampled every 10 ms; exact for the piecewise shapes)."""
        n = max(1, int(self.duration * 100))
        return max(self.tick(i * self.duration / n) or 0.0 for i in range(n))

    def expected(self, dt: float = 0.01) -> float:
        """Integral of the level over the duration: the number of arrivals the shape asks for."""
        n = max(1, int(math.ceil(self.duration / dt)))
        step = self.duration / n
        return sum((self.tick((i + 0.5) * step) or 0.0) * step for i in range(n))


@dataclass(frozen=True)
class Constant(Shape):
    value: float
    duration: float

    def __post_init__(self):
        _positive("value", self.value)
        _positive("duration", self.duration, allow_zero=False)

    def level(self, t: float) -> float:
        return self.value


@dataclass(frozen=True)
class Spike(Shape):
    base: float
    duration: float
    at: float
    for_: float
    factor: float = 4.0

    def __post_init__(self):
        for n in ("base", "at", "factor"):
            _positive(n, getattr(self, n))
        _positive("duration", self.duration, allow_zero=False)
        _positive("for_", self.for_, allow_zero=False)

    def level(self, t: float) -> float:
        return self.base * self.factor if self.at <= t < self.at + self.for_ else self.base


@dataclass(frozen=True)
class Ramp(Shape):
    start: float
    end: float
    duration: float
    steps: int | None = None   # None: continuous; n: n flat steps from start to end

    def __post_init__(self):
        _positive("start", self.start)
        _positive("end", self.end)
        _positive("duration", self.duration, allow_zero=False)
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps must be a whole number ≥ 1, got {self.steps!r}")

    def level(self, t: float) -> float:
        frac = t / self.duration
        if self.steps:
            if self.steps == 1:
                return self.start
            frac = min(self.steps - 1, int(frac * self.steps)) / (self.steps - 1)
        return self.start + (self.end - self.start) * frac


@dataclass(frozen=True)
class Steps(Shape):
    start: float
    step: float
    every: float
    maximum: float

    def __post_init__(self):
        _positive("start", self.start)
        _positive("step", self.step, allow_zero=False)
        _positive("every", self.every, allow_zero=False)
        _positive("maximum", self.maximum)
        if self.maximum < self.start:
            raise ValueError(f"maximum {self.maximum} is below start {self.start}")

    @property
    def count(self) -> int:
        return int(math.floor((self.maximum - self.start) / self.step + 1e-9)) + 1

    @property
    def duration(self) -> float:  # type: ignore[override]
        return self.count * self.every

    def index(self, t: float) -> int:
        return min(self.count - 1, int(t // self.every))

    def level(self, t: float) -> float:
        return self.start + self.index(t) * self.step


@dataclass(frozen=True)
class MondayBurst(Shape):
    """Monday 08:00: everybody who waited over the weekend books at once."""

    base: float
    duration: float
    at: float = 0.0              # opening time, seconds into the load
    factor: float = 5.0          # peak = base x factor right at opening
    half_life: float = 2.0       # seconds for the excess over base to halve
    before: float = 0.0          # level before opening, as a fraction of base

    def __post_init__(self):
        for n in ("base", "at", "factor", "before"):
            _positive(n, getattr(self, n))
        _positive("duration", self.duration, allow_zero=False)
        _positive("half_life", self.half_life, allow_zero=False)

    def level(self, t: float) -> float:
        if t < self.at:
            return self.base * self.before
        excess = self.base * (self.factor - 1) * 0.5 ** ((t - self.at) / self.half_life)
        return self.base + excess


@dataclass(frozen=True)
class Surge(Shape):
    """An unannounced campaign: the load goes up by ``factor`` within ``rise`` seconds and stays."""

    base: float
    duration: float
    at: float
    factor: float = 20.0
    rise: float = 1.0
    for_: float | None = None    # None: until the end

    def __post_init__(self):
        for n in ("base", "at", "factor", "rise"):
            _positive(n, getattr(self, n))
        _positive("duration", self.duration, allow_zero=False)
        if self.for_ is not None:
            _positive("for_", self.for_, allow_zero=False)

    def level(self, t: float) -> float:
        if t < self.at or (self.for_ is not None and t >= self.at + self.for_):
            return self.base
        peak = self.base * self.factor
        if self.rise and t < self.at + self.rise:
            return self.base + (peak - self.base) * (t - self.at) / self.rise
        return peak


@dataclass(frozen=True)
class _Scaled(Shape):
    inner: Shape
    k: float

    @property
    def duration(self) -> float:  # type: ignore[override]
        return self.inner.duration

    def level(self, t: float) -> float:
        v = self.inner.tick(t)
        return 0.0 if v is None else v * self.k


def scaled(shape: Shape, k: float) -> Shape:
    """The same shape with every level multiplied by ``k`` (e.g. rates → user counts)."""
    _positive("k", k)
    return _Scaled(shape, float(k))


# --- open-loop generator ---------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


class Caller:
    """What an action gets: ``call(method, path, body)`` sends one request and records it as a probe.

    ``accept`` names statuses that are a correct answer of a healthy service besides 2xx (e.g. 409
    when the slot was taken by someone else); they count as ``ok``.
    """

    def __init__(self, http: HttpClient, timeline: Timeline, population: str, client: str,
                 sink: Callable[[str, float, Response, bool], None], rng: random.Random):
        self.http, self.timeline, self.population, self.client = http, timeline, population, client
        self.rng = rng
        self._sink = sink

    def __call__(self, method: str, path: str, body: Any = None, *, op: str | None = None,
                 accept: tuple[int, ...] = (), auth: bool = False) -> Response:
        tl = self.timeline
        t = tl.now()
        r = self.http.request(method, path, body, auth=auth)
        t_end = tl.now()
        ok = r.ok or (r.status in accept)
        op = op or f"{method} {path}"
        tl.probe(population=self.population, client=self.client, op=op, ok=ok, t=t, t_end=t_end,
                 status=r.status, node=r.node, error=r.error, notice=r.notice)
        self._sink(op, t_end - t, r, ok)
        return r

    @property
    def base_url(self) -> str:
        return f"http://{self.http.host}:{self.http.port}"

    def outcome(self, op: str, latency: float, outcome: Any) -> None:
        """Count a contract client's invoke (a `drillkit.clients.Outcome`, recorded on the timeline by
        the caller) in the generator's result."""
        self._sink(op, latency, Response(outcome.http_status, error=outcome.error), outcome.ok)


Action = Callable[[Caller, int], Any]


class KindAction:
    """One iteration of a user kind per arrival (see :func:`kind_action`). Each worker thread keeps
    its own client, opened on its first arrival and closed by :meth:`close` (the generator calls it
    when the run ends)."""

    def __init__(self, make: Callable[[int], Any], env: Any = None):
        self.make, self.env = make, env
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Any] = []

    def _client(self, call: Caller) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from drillkit.clients.contract import ClientContext
            with self._lock:
                n = len(self._clients)
                client = self.make(n)
                self._clients.append(client)
            client.name = client.name or call.client
            client.open(ClientContext(name=client.name, index=n, rng=call.rng, timeline=call.timeline,
                                      env=self.env, base_url=call.base_url))
            self._local.client = client
        return client

    def __call__(self, call: Caller, i: int) -> None:
        from drillkit.clients.pool import invoke_timed, record_invoke
        client = self._client(call)
        gen = client.ops(i + 1)
        try:
            op = next(gen)
            while True:
                outcome, t, t_end = invoke_timed(client, op, call.timeline)
                record_invoke(call.timeline, client.name, op, outcome, t, t_end)
                call.outcome(outcome.op or op.name, t_end - t, outcome)
                op = gen.send(outcome)
        except StopIteration:
            pass

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for c in clients:
            try:
                c.close()
            except Exception:  # closing a broken connection may fail; nothing to report
                pass


def kind_action(kind: Any, *, env: Any = None, **options: Any) -> KindAction:
    """An action from the stack contract: every arrival runs one iteration of ``kind`` — a user kind's
    name (looked up in ``env``: ``x-drillkit.users`` or the stack plug-in), a
    `drillkit.clients.UserKind` / `CodeKind`, a Client class or a factory ``f(i) -> Client``.
    ``options``: ``timeout`` / ``first`` for the kind. Every invoke is a ``probe`` record of the
    kind's own population, every acknowledged write a ``write`` record, as in a `ClientPool`."""
    from drillkit.clients.kinds import KIND_OPTIONS, factory_for, kind_names, lookup
    from drillkit.errors import ConfigError
    if isinstance(kind, str):
        spec = getattr(env, "spec", None)
        found = lookup(spec, kind, "users")
        if found is None:
            raise ConfigError(f"no user kind {kind!r} in this environment", field="users",
                              fix=f"name one of: {', '.join(kind_names(spec, 'users')) or 'none'}")
        kind = found
    own = {k: v for k, v in options.items() if k in KIND_OPTIONS and v is not None}
    if own:
        kind = kind.with_options(**own)
    make, _ = factory_for(kind)
    return KindAction(make, env)


def get(path: str) -> Action:
    """An action that sends ``GET path`` (``{i}`` in the path becomes the arrival number)."""
    return lambda call, i: call("GET", path.format(i=i), op=f"GET {path}")


def post(path: str, body: Callable[[int, random.Random], Any], accept: tuple[int, ...] = ()) -> Action:
    """An action that sends ``POST path`` with ``body(i, rng)``."""
    return lambda call, i: call("POST", path, body(i, call.rng), op=f"POST {path}", accept=accept)


@dataclass
class LoadResult:
    """What one run of the generator did (all requests of every action, plus skipped arrivals)."""

    duration: float = 0.0
    arrivals: int = 0            # arrivals the shape asked for (sent + skipped)
    sent: int = 0                # actions started
    skipped: int = 0             # arrivals not sent: every worker busy
    requests: int = 0            # HTTP requests made by the actions
    ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)         # of every request, seconds
    ok_latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)          # send time - scheduled time
    by_op: dict[str, list[float]] = field(default_factory=dict)  # latencies by op

    def p(self, q: float, ok_only: bool = False) -> float:
        return percentile(self.ok_latencies if ok_only else self.latencies, q)

    @property
    def rate(self) -> float:
        """Requests answered per second (any status) over the run."""
        return self.requests / self.duration if self.duration else 0.0

    @property
    def ok_rate(self) -> float:
        return self.ok / self.duration if self.duration else 0.0

    def summary(self) -> dict[str, Any]:
        return {"duration_s": round(self.duration, 2), "arrivals": self.arrivals, "sent": self.sent,
                "skipped": self.skipped, "requests": self.requests, "ok": self.ok,
                "rate": round(self.rate, 1), "ok_rate": round(self.ok_rate, 1),
                "p50_ms": round(self.p(0.5) * 1000, 1), "p95_ms": round(self.p(0.95) * 1000, 1),
                "p99_ms": round(self.p(0.99) * 1000, 1), "statuses": dict(sorted(self.statuses.items()))}


class LoadGenerator:
    """Fires ``action`` at the shape's rate (arrivals per second), open loop, bounded.

    ``action(call, i)`` is given a :class:`Caller` bound to a per-worker :class:`HttpClient` and the
    arrival number ``i``; every request it sends is a ``probe`` record of ``population``.
    """

    MAX_DURATION = 60.0

    def __init__(self, base_url: str, timeline: Timeline, shape: Shape, action: Action, *,
                 population: str = "load", workers: int = 32, timeout: float = 2.0,
                 max_duration: float = 10.0, max_requests: int = 20_000, seed: int = 0,
                 record_skipped: bool = True):
        if not 1 <= workers <= 256:
            raise ValueError(f"workers must be 1..256, got {workers}")
        if not 0 < max_duration <= self.MAX_DURATION:
            raise ValueError(f"max_duration must be in (0, {self.MAX_DURATION:g}] s, got {max_duration}")
        if not 0 < max_requests <= 200_000:
            raise ValueError(f"max_requests must be 1..200000, got {max_requests}")
        HttpClient(base_url)  # refuses any target that is not this machine, before anything starts
        self.base_url, self.timeline, self.shape, self.action = base_url, timeline, shape, action
        self.population, self.workers, self.timeout = population, workers, timeout
        self.max_duration, self.max_requests, self.seed = max_duration, max_requests, seed
        self.record_skipped = record_skipped
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._inflight = 0
        self._local = threading.local()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: list[HttpClient] = []

    # -- recording -------------------------------------------------------------------------------
    def _sink(self, op: str, latency: float, r: Response, ok: bool) -> None:
        res = self.result
        key = str(r.status) if r.status is not None else (r.error or "no answer")
        with self._lock:
            res.requests += 1
            res.latencies.append(latency)
            res.by_op.setdefault(op, []).append(latency)
            res.statuses[key] = res.statuses.get(key, 0) + 1
            if ok:
                res.ok += 1
                res.ok_latencies.append(latency)

    def _caller(self) -> Caller:
        c = getattr(self._local, "caller", None)
        if c is None:
            http = HttpClient(self.base_url, timeout=self.timeout)
            with self._lock:
                self._clients.append(http)
                n = len(self._clients)
            rng = random.Random(self.seed * 7919 + n)
            c = self._local.caller = Caller(http, self.timeline, self.population,
                                            f"{self.population}-w{n}", self._sink, rng)
        return c

    def _one(self, i: int) -> None:
        try:
            self.action(self._caller(), i)
        except Exception as exc:  # an action's bug must not kill the worker; record it
            tl = self.timeline
            t = tl.now()
            tl.probe(population=self.population, client="generator", op="action", ok=False, t=t,
                     t_end=t, error=f"action failed: {type(exc).__name__}: {exc}"[:200])
        finally:
            with self._lock:
                self._inflight -= 1

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> LoadResult:
        """Run to the end of the shape (or a bound) and return the result."""
        res = self.result
        start = time.monotonic()
        stop_at = start + self.max_duration
        next_due = start
        i = 0
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="dk-load") as pool:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= stop_at or res.requests + res.skipped >= self.max_requests \
                        or i >= self.max_requests:
                    break
                rate = self.shape.tick(next_due - start)
                if rate is None:
                    break
                if rate <= 0:
                    next_due += 0.05       # nothing to send: look again shortly
                    continue
                if next_due > now:
                    if self._stop.wait(min(next_due - now, stop_at - now)):
                        break
                    continue
                res.arrivals += 1
                res.lateness.append(time.monotonic() - next_due)
                with self._lock:
                    busy = self._inflight >= self.workers
                    if not busy:
                        self._inflight += 1
                if busy:
                    res.skipped += 1
                    if self.record_skipped:
                        t = self.timeline.now()
                        self.timeline.probe(population=self.population, client="generator",
                                            op="arrival", ok=False, t=t, t_end=t,
                                            error=f"not sent: all {self.workers} workers busy")
                else:
                    res.sent += 1
                    pool.submit(self._one, i)
                i += 1
                next_due += 1.0 / rate
            # Requests in flight finish within the client timeout (per request of an action).
        res.duration = time.monotonic() - start
        for c in self._clients:
            c.close()
        close = getattr(self.action, "close", None)
        if callable(close):
            close()
        return res

    def start(self) -> "LoadGenerator":
        self._thread = threading.Thread(target=self.run, name="dk-load-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        return self.join()

    def join(self, timeout: float | None = None) -> LoadResult:
        if self._thread:
            self._thread.join(timeout=timeout if timeout is not None else self.max_duration + self.timeout * 4 + 5)
        return self.result

    def __enter__(self) -> "LoadGenerator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

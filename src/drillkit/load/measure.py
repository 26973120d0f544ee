"""What a load did, read from the timeline alone: arrivals per phase and how each one ended.

An **arrival** is one iteration of a kind started by the open-loop generator (all its ``probe``
records share ``load`` and ``arrival``). It is

- **served** when every request of it succeeded;
- **timed out** when a request got no answer in time, or it waited for a worker past the timeout
  (``sent: false``);
- **shed** when the service refused it: 503 or 429 (or its disruption notice), or a refused
  connection;
- **failed** otherwise (e.g. a 500).

Its **answer time** is from when it was *due* (scheduled) to the end of its last request: what the
user waited, the generator's own wait included (no coordinated omission). Its **queue time** is what
it waited before service began: the generator's wait for a free worker (measured: first request sent
minus due) plus the wait inside the service, which the generator cannot see and *estimates* as the
answer time beyond the median answer time of the load's first phase (today's load), never below 0.

Phases come from the ``load`` record; an arrival belongs to the phase its due time falls in.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from drillkit.timeline import Timeline

__all__ = ["Arrival", "PhaseStats", "LoadRun", "load_runs", "arrivals", "phase_stats", "window_stats",
           "WindowStats", "percentile", "SHED_STATUSES", "run_of"]

SHED_STATUSES = (429, 503)
SHED_ERRORS = ("ConnectionRefusedError",)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass(frozen=True)
class Arrival:
    label: str
    number: int
    due: float
    start: float          # first request sent (or given up)
    end: float            # last answer
    outcome: str          # served | shed | timeout | failed
    requests: int
    sent: bool = True

    @property
    def answer_time(self) -> float:
        return max(0.0, self.end - self.due)

    @property
    def waited(self) -> float:
        """Waited for a worker of the generator (measured)."""
        return max(0.0, self.start - self.due)


@dataclass(frozen=True)
class LoadRun:
    label: str
    population: str
    base: float
    start: float
    end: float | None
    phases: tuple[dict, ...]
    shape: str = ""
    timeout: float | None = None
    counts: dict = field(default_factory=dict)


def load_runs(tl: Timeline) -> list[LoadRun]:
    """Every load of the timeline, in order (a label used twice is two runs)."""
    runs: list[LoadRun] = []
    open_: dict[str, dict] = {}
    for r in tl.of("load"):
        if r.get("event") == "start":
            open_[r["label"]] = r
        elif r.get("event") == "end" and r.get("label") in open_:
            s = open_.pop(r["label"])
            runs.append(_run(s, r))
    runs.extend(_run(s, None) for s in open_.values())
    return sorted(runs, key=lambda x: x.start)


def _run(s: dict, e: dict | None) -> LoadRun:
    counts = {k: v for k, v in (e or {}).items() if k not in ("kind", "t", "event", "label")}
    return LoadRun(s["label"], s.get("population", "load"), float(s.get("base") or 0.0), s["t"],
                   e["t"] if e else None, tuple(s.get("phases") or ()), s.get("shape", ""), s.get("timeout"),
                   counts)


def run_of(tl: Timeline, label: str | None = None) -> LoadRun | None:
    runs = load_runs(tl)
    if label is None:
        return runs[0] if runs else None
    found = [r for r in runs if r.label == label]
    return found[-1] if found else None


def _outcome(probes: list[dict]) -> str:
    if all(p.get("ok") for p in probes):
        return "served"
    bad = next(p for p in probes if not p.get("ok"))
    if bad.get("error") == "timeout" or bad.get("sent") is False:
        return "timeout"
    if bad.get("status") in SHED_STATUSES or bad.get("notice") or bad.get("error") in SHED_ERRORS:
        return "shed"
    return "failed"


def arrivals(tl: Timeline, run: LoadRun) -> list[Arrival]:
    """The arrivals of one run, by due time."""
    groups: dict[int, list[dict]] = defaultdict(list)
    end = run.end if run.end is not None else float("inf")
    for p in tl.of("probe"):
        if p.get("load") == run.label and "arrival" in p and run.start - 1e-6 <= p.get("due", p["t"]) <= end:
            groups[p["arrival"]].append(p)
    out = []
    for n, ps in groups.items():
        ps.sort(key=lambda p: p["t"])
        out.append(Arrival(run.label, n, float(ps[0].get("due", ps[0]["t"])), ps[0]["t"],
                           max(p.get("t_end", p["t"]) for p in ps), _outcome(ps), len(ps),
                           sent=ps[0].get("sent", True)))
    return sorted(out, key=lambda a: a.due)


@dataclass(frozen=True)
class PhaseStats:
    """One phase of one load: what was offered, what came of it, how long users waited."""

    name: str
    start: float
    end: float
    rate: float                  # nominal arrivals/s
    factor: float
    offered: int
    served: int
    shed: int
    timed_out: int
    failed: int
    p50: float | None            # answer time of served arrivals, seconds
    p95: float | None
    queue_p95: float | None      # estimated (see module doc)
    waited_p95: float | None     # measured part: waiting for a generator worker

    @property
    def seconds(self) -> float:
        return max(1e-9, self.end - self.start)

    @property
    def served_share(self) -> float | None:
        return self.served / self.offered if self.offered else None

    @property
    def served_rate(self) -> float:
        return self.served / self.seconds

    @property
    def offered_rate(self) -> float:
        return self.offered / self.seconds

    def as_dict(self) -> dict[str, Any]:
        r = lambda v, n=4: None if v is None else round(v, n)  # noqa: E731
        return {"phase": self.name, "start": r(self.start, 3), "end": r(self.end, 3), "rate": r(self.rate, 3),
                "factor": r(self.factor, 3), "offered": self.offered, "served": self.served, "shed": self.shed,
                "timed_out": self.timed_out, "failed": self.failed, "served_share": r(self.served_share),
                "served_per_s": r(self.served_rate, 3), "p50_s": r(self.p50), "p95_s": r(self.p95),
                "queue_p95_s": r(self.queue_p95), "waited_p95_s": r(self.waited_p95)}


def _stats(name: str, a: float, b: float, rate: float, factor: float, arr: list[Arrival],
           base_median: float | None) -> PhaseStats:
    by: dict[str, int] = defaultdict(int)
    for x in arr:
        by[x.outcome] += 1
    served = [x.answer_time for x in arr if x.outcome == "served"]
    queue = [x.waited + (max(0.0, x.answer_time - x.waited - base_median) if base_median is not None else 0.0)
             for x in arr if x.sent and x.outcome != "timeout"]
    queue += [x.answer_time for x in arr if x.outcome == "timeout" and not x.sent]
    return PhaseStats(name, a, b, rate, factor, len(arr), by["served"], by["shed"], by["timeout"], by["failed"],
                      percentile(served, 0.5), percentile(served, 0.95),
                      percentile(queue, 0.95) if base_median is not None else None,
                      percentile([x.waited for x in arr], 0.95))


def phase_stats(tl: Timeline, run: LoadRun) -> list[PhaseStats]:
    """Per phase of ``run``: offered, served, shed, timed out, answer-time p50/p95, queue time p95."""
    arr = arrivals(tl, run)
    out: list[PhaseStats] = []
    base_median = None
    for k, ph in enumerate(run.phases):
        a, b = ph["start"], ph["end"]
        last = k == len(run.phases) - 1
        inside = [x for x in arr if a - 1e-6 <= x.due < b or (last and x.due >= b)]
        if k == 0:
            served = [x.answer_time for x in inside if x.outcome == "served"]
            base_median = percentile(served, 0.5)
        out.append(_stats(ph["name"], a, b, ph.get("rate", 0.0), ph.get("factor", 0.0), inside, base_median))
    return out


@dataclass(frozen=True)
class WindowStats:
    start: float
    end: float
    requests: int
    ok: int
    p95: float | None            # answer time of every request (failures at their wait)
    p95_ok: float | None         # answer time of the successful ones

    @property
    def availability(self) -> float | None:
        return self.ok / self.requests if self.requests else None


def _answer(p: dict) -> float:
    """What the user waited for this request: from when it was due (load) or sent, to its answer."""
    return max(0.0, p.get("t_end", p["t"]) - p.get("due", p["t"])) if p.get("due") is not None \
        else float(p.get("latency") or 0.0)


def window_stats(probes: Iterable[dict], window: float, step: float, start: float, end: float) -> list[WindowStats]:
    """Sliding windows of ``window`` seconds every ``step`` seconds over requests *answered* in them
    (what a monitor sees at the window's end): count, successes, p95 answer time."""
    ps = sorted(probes, key=lambda p: p.get("t_end", p["t"]))
    ends = [p.get("t_end", p["t"]) for p in ps]
    out: list[WindowStats] = []
    t = start + window
    while t <= end + 1e-9:
        lo, hi = bisect.bisect_left(ends, t - window), bisect.bisect_right(ends, t)
        inside = ps[lo:hi]
        ans = [_answer(p) for p in inside]
        ok = [_answer(p) for p in inside if p.get("ok")]
        out.append(WindowStats(t - window, t, len(inside), len(ok), percentile(ans, 0.95), percentile(ok, 0.95)))
        t += step
    return out

"""The breaking point: step the load up from today's rate until the SLO breaks.

Each step is a constant load of ``rate × factor`` for ``hold`` seconds (its own ``load`` run on the
timeline, label ``×F``), judged on its arrivals after the first ``warmup`` share of the step: held
when at least ``served`` of them were served and the p95 answer time of the served ones is ≤ ``p95``.
The factors are tried in order until one breaks; then ``refine`` bisections between the last factor
that held and the first that broke narrow the point down. Between steps the stack gets ``settle``
seconds to drain. Bounded: at most ``max_steps`` steps and ``max_duration`` seconds in all.

The answer is a ``search`` record on the timeline — the breaking multiple, the last multiple that
held, every step's figures — which the ``breaking_point`` verdict judges against a forecast:
``breaks at ×3.2 of today's load (held at ×2.8); the forecast ×4 is not covered``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from drillkit.load.measure import arrivals, percentile, run_of
from drillkit.traffic.shapes import Constant

__all__ = ["SearchSpec", "StepResult", "SearchResult", "judge_step", "next_factor", "run_search",
           "DEFAULT_FACTORS", "describe_result"]

DEFAULT_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


@dataclass(frozen=True)
class SearchSpec:
    base: float                                  # today's load, arrivals/s
    actions: tuple[tuple[Any, float], ...]
    p95: float | None = 1.0                      # seconds
    served: float = 0.99                         # share of arrivals served
    factors: tuple[float, ...] = DEFAULT_FACTORS
    hold: float = 10.0
    warmup: float = 0.2                          # share of each step not judged
    settle: float = 2.0
    refine: int = 2
    max_steps: int = 12
    max_duration: float = 600.0
    forecast: float | None = None
    population: str = "load"
    concurrency: int = 200
    timeout: float = 2.0
    seed: int = 0
    line: int | None = None

    def describe_slo(self) -> str:
        bits = [f"≥ {self.served:.0%} served"]
        if self.p95 is not None:
            bits.insert(0, f"p95 ≤ {self.p95 * 1000:.0f} ms")
        return " and ".join(bits)


@dataclass(frozen=True)
class StepResult:
    factor: float
    rate: float
    offered: int
    served: int
    p95: float | None
    held: bool

    @property
    def served_share(self) -> float | None:
        return self.served / self.offered if self.offered else None

    def as_dict(self) -> dict[str, Any]:
        return {"factor": round(self.factor, 4), "rate": round(self.rate, 3), "offered": self.offered,
                "served": self.served, "served_share": None if self.served_share is None else round(self.served_share, 4),
                "p95_s": None if self.p95 is None else round(self.p95, 4), "held": self.held}


@dataclass
class SearchResult:
    steps: list[StepResult] = field(default_factory=list)
    stopped: str = ""                        # why it ended early ("max_steps", "max_duration"), "" if not

    @property
    def broke_at(self) -> float | None:
        broken = [s.factor for s in self.steps if not s.held]
        return min(broken) if broken else None

    @property
    def held_at(self) -> float | None:
        b = self.broke_at
        held = [s.factor for s in self.steps if s.held and (b is None or s.factor < b)]
        return max(held) if held else None


def judge_step(offered: int, served: int, served_times: list[float], spec: SearchSpec) -> tuple[bool, float | None]:
    """(held, p95 of the served): held when enough were served fast enough."""
    p95 = percentile(served_times, 0.95)
    if offered == 0:
        return False, p95
    ok = served / offered >= spec.served - 1e-12
    if spec.p95 is not None:
        ok = ok and p95 is not None and p95 <= spec.p95
    return ok, p95


def next_factor(result: SearchResult, spec: SearchSpec) -> float | None:
    """The next factor to try: the list in order until one breaks, then bisection (``refine`` times)."""
    tried = {round(s.factor, 6) for s in result.steps}
    if result.broke_at is None:
        for f in spec.factors:
            if round(f, 6) not in tried:
                return f
        return None
    lo, hi = result.held_at, result.broke_at
    if lo is None:
        return None                              # broke at the first factor: nothing below it to refine
    refined = sum(1 for s in result.steps if s.factor not in spec.factors)
    if refined >= spec.refine:
        return None
    mid = round((lo + hi) / 2, 3)
    return None if round(mid, 6) in tried or hi - lo < 0.05 else mid


def describe_result(result: SearchResult, forecast: float | None) -> tuple[str, bool | None]:
    """The sentence, and whether the forecast is covered (None without a forecast)."""
    b, h = result.broke_at, result.held_at
    top = max((s.factor for s in result.steps), default=None)
    if not result.steps:
        return "no step of the search ran", None
    if b is None:
        text = f"held up to ×{top:g} of today's load (the largest step tried): the breaking point lies beyond"
        covered = None if forecast is None else top >= forecast
    elif h is None:
        text = f"breaks at ×{b:g} of today's load already (the first step tried)"
        covered = None if forecast is None else False
    else:
        text = f"breaks at ×{b:g} of today's load (held at ×{h:g})"
        covered = None if forecast is None else h >= forecast
    if forecast is not None:
        if covered:
            margin = (h if b is not None else top) / forecast
            text += f"; the forecast ×{forecast:g} is covered (margin ×{margin:.2f})"
        elif b is None:
            text += f"; the forecast ×{forecast:g} was not reached by the steps (add larger factors)"
        else:
            text += f"; the forecast ×{forecast:g} is not covered"
    if result.stopped:
        text += f" (search stopped early: {result.stopped})"
    return text, covered


def run_search(spec: SearchSpec, make_load: Callable[[Constant, str], Any], timeline, *,
               progress: Callable[[str], None] = lambda m: None, cancel=None) -> SearchResult:
    """Run the steps (``make_load(shape, label)`` returns an unstarted open loop); write the ``search`` record."""
    result = SearchResult()
    t_end = time.monotonic() + spec.max_duration
    while True:
        f = next_factor(result, spec)
        if f is None:
            break
        if len(result.steps) >= spec.max_steps:
            result.stopped = f"max_steps {spec.max_steps}"
            break
        if time.monotonic() + spec.hold + spec.settle + spec.timeout > t_end:
            result.stopped = f"max_duration {spec.max_duration:g} s"
            break
        if cancel is not None and cancel.is_set():
            result.stopped = "cancelled"
            break
        label = f"×{f:g}"
        rate = spec.base * f
        progress(f"capacity: step {label} ({rate:g}/s for {spec.hold:g} s)")
        load = make_load(Constant(rate, spec.hold), label)
        load.run()
        run = run_of(timeline, label)
        arr = arrivals(timeline, run) if run is not None else []
        cut = (run.start if run else 0.0) + spec.warmup * spec.hold
        judged = [a for a in arr if a.due >= cut]
        served = [a.answer_time for a in judged if a.outcome == "served"]
        held, p95 = judge_step(len(judged), len(served), served, spec)
        step = StepResult(f, rate, len(judged), len(served), p95, held)
        result.steps.append(step)
        share = step.served_share
        progress(f"capacity: {label}: {'held' if held else 'broke'} — "
                 f"{'—' if share is None else f'{share:.1%}'} served, p95 "
                 f"{'—' if p95 is None else f'{p95 * 1000:.0f} ms'}")
        if spec.settle:
            time.sleep(spec.settle)
    sentence, covered = describe_result(result, spec.forecast)
    timeline.add("search", base=round(spec.base, 6), slo=spec.describe_slo(), p95=spec.p95, served=spec.served,
                 forecast=spec.forecast, broke_at=result.broke_at, held_at=result.held_at,
                 steps=[s.as_dict() for s in result.steps], stopped=result.stopped, sentence=sentence,
                 covered=covered)
    return result

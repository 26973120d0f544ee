"""Judging a service level over time: when it broke, when an alert would have fired, when a surge
was absorbed. Pure functions over the timeline's probes (sliding windows, see
:func:`drillkit.load.measure.window_stats`).

- **SLO** (:class:`Slo`): over the last ``window`` seconds, p95 answer time of the successful
  requests ≤ ``p95`` and the share of successful requests ≥ ``availability`` (either may be left
  out). A window with fewer than ``min_requests`` answers is not judged.
- **Alert rule** (:class:`AlertRule`, the early warning a monitoring system would give): p95 answer
  time of every request (failures at what they waited) above ``factor`` × its baseline, continuously
  for ``for_`` seconds. The baseline is the p95 over the drill's steady phase, else over the first
  phase of the first load, else over the first three windows.
- **Lead time** (:func:`lead_time`): when the SLO first broke minus when the alert fired. Positive:
  the alert warned that many seconds ahead; zero or negative: it came with or after the outage; None
  when the alert never fired or the SLO never broke.
- **Absorption** (:func:`absorption`): from the surge's start until the SLO holds again and keeps
  holding for ``stable`` seconds — the start of the first holding window after the last broken one
  (the window's requests, answered since then, met the SLO); 0 when it never broke; None when it was
  not back by the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drillkit.load.measure import WindowStats, _answer, load_runs, percentile, run_of, window_stats
from drillkit.timeline import Timeline

__all__ = ["Slo", "AlertRule", "LeadTime", "Absorption", "slo_broken", "first_break", "alert_fires",
           "baseline_span", "lead_time", "absorption", "STEP"]

STEP = 0.5     # seconds between evaluations (what a monitor scraping every 0.5 s would see)


@dataclass(frozen=True)
class Slo:
    p95: float | None = None            # seconds
    availability: float | None = None   # 0..1
    window: float = 5.0
    min_requests: int = 5

    def describe(self) -> str:
        bits = []
        if self.p95 is not None:
            bits.append(f"p95 ≤ {self.p95 * 1000:.0f} ms")
        if self.availability is not None:
            bits.append(f"≥ {self.availability:.1%} served")
        return " and ".join(bits) + f" over {self.window:g} s"


@dataclass(frozen=True)
class AlertRule:
    factor: float = 2.0
    for_: float = 30.0
    window: float = 10.0
    min_requests: int = 5

    def describe(self) -> str:
        return f"p95 above {self.factor:g}× baseline for {self.for_:g} s"


def slo_broken(w: WindowStats, slo: Slo) -> bool | None:
    """True: broken; False: held; None: too few answers to judge."""
    if w.requests < slo.min_requests:
        return None
    if slo.availability is not None and (w.availability or 0.0) < slo.availability:
        return True
    if slo.p95 is not None and (w.p95_ok is None or w.p95_ok > slo.p95):
        return True
    return False


def first_break(windows: list[WindowStats], slo: Slo) -> float | None:
    return next((w.end for w in windows if slo_broken(w, slo)), None)


def alert_fires(windows: list[WindowStats], rule: AlertRule, baseline: float, after: float = 0.0) -> float | None:
    """When the rule first fires: the end of the first run of over-threshold windows ``for_`` long."""
    threshold = baseline * rule.factor
    run_start: float | None = None
    for w in windows:
        if w.end < after:
            continue
        over = w.requests >= rule.min_requests and w.p95 is not None and w.p95 > threshold
        if not over:
            run_start = None
            continue
        if run_start is None:
            run_start = w.end
        if w.end - run_start >= rule.for_ - 1e-9:
            return w.end
    return None


def baseline_span(tl: Timeline, probes: list[dict], window: float, min_requests: int = 5) -> tuple[float, float] | None:
    """Where the baseline is taken: the steady phase, else the first load's first phase, else the
    first three windows of the population's requests — the first of these with enough answers."""
    spans: list[tuple[float, float]] = [(a, b) for name, a, b in tl.phases() if name == "steady" and b is not None and b > a]
    runs = load_runs(tl)
    if runs and runs[0].phases:
        ph = runs[0].phases[0]
        spans.append((ph["start"], ph["end"]))
    if probes:
        a = min(p["t"] for p in probes)
        spans.append((a, a + 3 * window))
    for a, b in spans:
        if sum(1 for p in probes if a <= p.get("t_end", p["t"]) < b) >= min_requests:
            return a, b
    return None


@dataclass(frozen=True)
class LeadTime:
    lead: float | None                  # broke_at - alert_at
    alert_at: float | None
    broke_at: float | None
    baseline: float | None              # p95 of the baseline span (s)
    span: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        return {"lead_s": r(self.lead), "alert_at": r(self.alert_at), "slo_broke_at": r(self.broke_at),
                "baseline_p95_s": r(self.baseline), "baseline_span": list(self.span) if self.span else None}


def lead_time(tl: Timeline, population: str, rule: AlertRule, slo: Slo, *, step: float = STEP) -> LeadTime:
    probes = tl.probes(population)
    if not probes:
        return LeadTime(None, None, None, None, None)
    end = max(p.get("t_end", p["t"]) for p in probes)
    start = min(p["t"] for p in probes)
    span = baseline_span(tl, probes, rule.window, rule.min_requests)
    base = None
    if span is not None:
        inside = [_answer(p) for p in probes if span[0] <= p.get("t_end", p["t"]) < span[1]]
        base = percentile(inside, 0.95)
    slo_windows = window_stats(probes, slo.window, step, start, end)
    broke = first_break(slo_windows, slo)
    fired = None
    if base is not None and base > 0:
        alert_windows = window_stats(probes, rule.window, step, start, end)
        fired = alert_fires(alert_windows, rule, base, after=span[1] if span else 0.0)
    lead = broke - fired if broke is not None and fired is not None else None
    return LeadTime(lead, fired, broke, base, span)


@dataclass(frozen=True)
class Absorption:
    seconds: float | None               # surge start -> SLO held again (0: never broke; None: not back)
    surge_at: float | None
    back_at: float | None
    broke_at: float | None
    worst: WindowStats | None

    def as_dict(self) -> dict[str, Any]:
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        worst = None
        if self.worst is not None:
            worst = {"end": r(self.worst.end), "availability": r(self.worst.availability), "p95_s": r(self.worst.p95_ok)}
        return {"absorbed_s": r(self.seconds), "surge_at": r(self.surge_at), "back_at": r(self.back_at),
                "slo_broke_at": r(self.broke_at), "worst_window": worst}


def absorption(tl: Timeline, population: str, slo: Slo, *, label: str | None = None, stable: float = 5.0,
               step: float = STEP, until: float | None = None) -> Absorption:
    """Time from the first phase of the load above today's rate until the SLO held again for good."""
    run = run_of(tl, label)
    if run is None:
        return Absorption(None, None, None, None, None)
    surge = next((ph for ph in run.phases if ph.get("factor", 0) > 1.0 + 1e-9), None)
    if surge is None:
        return Absorption(None, None, None, None, None)
    at = surge["start"]
    probes = tl.probes(population)
    end = until if until is not None else max((p.get("t_end", p["t"]) for p in probes), default=at)
    windows = [w for w in window_stats(probes, slo.window, step, at - slo.window + step, end) if w.end > at]
    judged = [(w, slo_broken(w, slo)) for w in windows]
    broken = [w for w, b in judged if b]
    if not broken:
        return Absorption(0.0, at, at, None, None)
    worst = min(broken, key=lambda w: ((w.availability or 0.0), -(w.p95_ok or 1e9)))
    last = max(k for k, (w, b) in enumerate(judged) if b)
    after = judged[last + 1:]
    held = [w for w, b in after if b is False]
    if not held or after[-1][0].end - after[0][0].end < stable - 1e-9:
        return Absorption(None, at, None, broken[0].end, worst)
    back = max(at, after[0][0].start)     # the first window that holds again: the users' view from its start
    return Absorption(back - at, at, back, broken[0].end, worst)

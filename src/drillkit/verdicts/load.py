"""Load verdicts: what an open-loop load (``drill.load``, a scenario's ``load:`` / ``search:``) did
to the users, phase by phase — definitions in :mod:`drillkit.load.measure` and :mod:`drillkit.load.slo`.

=====================  ==========================================================================
``throughput``         served / offered arrivals per phase ≥ ``min`` (throughput held)
``load_p95``           p95 answer time of the served arrivals per phase ≤ ``max``
``shed``               share of arrivals shed (503/429, refused) or timed out per phase ≤ ``max``
``queue_time``         p95 queue time per phase ≤ ``max`` (generator wait measured, service wait estimated)
``scaleout_gain``      served/s of one load over another (5 → 10 instances) grew by ≥ ``min``
``lead_time``          how long before the SLO broke an alert rule on the probe would have fired
``absorption_time``    from a surge's start until the SLO held again, ≤ ``max``
``breaking_point``     the multiple of today's load where the SLO broke, against a forecast
=====================  ==========================================================================
"""

from __future__ import annotations

from drillkit.load.measure import LoadRun, PhaseStats, arrivals, load_runs, percentile, phase_stats, run_of
from drillkit.load.search import SearchResult, StepResult, describe_result
from drillkit.load.slo import AlertRule, Slo, absorption
from drillkit.load.slo import lead_time as _lead_time
from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges

__all__ = ["throughput", "load_p95", "shed", "queue_time", "scaleout_gain", "lead_time", "absorption_time",
           "breaking_point", "load_table"]


def _runs(tl: Timeline, label: str | None) -> list[LoadRun]:
    runs = load_runs(tl)
    return [r for r in runs if label is None or r.label == label]


def _none(name: str, label: str | None, target: str) -> Verdict:
    what = f"load {label!r}" if label else "load"
    return Verdict(name, UNKNOWN, f"{name}: no {what} on the timeline", target=target)


def _phase_name(run: LoadRun, s: PhaseStats, many: bool) -> str:
    n = s.name if s.factor in (0, 1) or "×" in s.name else f"{s.name} ×{s.factor:.2g}"
    return f"{run.label} {n}" if many else n


def _table(tl: Timeline, label: str | None) -> list[tuple[LoadRun, PhaseStats]]:
    return [(run, s) for run in _runs(tl, label) for s in phase_stats(tl, run)]


def load_table(tl: Timeline, label: str | None = None) -> list[dict]:
    """Every phase of every load (or of ``label``) as a dict: the figures the load verdicts judge."""
    return [{"load": run.label, **s.as_dict()} for run, s in _table(tl, label)]


@judges("throughput")
def throughput(tl: Timeline, *, minimum: float = 0.95, label: str | None = None) -> Verdict:
    """Throughput held: in every phase, served arrivals / offered arrivals ≥ ``minimum``.

    Sentence: ``throughput held in 2 of 3 phases: before 100.0 % (10.0/s), spike ×4 71.2 % (28.5 of
    40.0/s), after 99.5 % (target ≥ 95 % served per phase)``."""
    name, target = "throughput", f"≥ {minimum:.0%} served per phase"
    rows = [(r, s) for r, s in _table(tl, label) if s.offered]
    if not rows:
        return _none(name, label, target)
    many = len({r.label for r, _ in rows}) > 1
    parts, low = [], []
    for run, s in rows:
        share = s.served_share
        extra = f" ({s.served_rate:.1f} of {s.offered_rate:.1f}/s)" if share < 0.999 else f" ({s.served_rate:.1f}/s)"
        parts.append(f"{_phase_name(run, s, many)} {share:.1%}{extra}")
        if share < minimum:
            low.append(_phase_name(run, s, many))
    worst = min(s.served_share for _, s in rows)
    held = len(rows) - len(low)
    return Verdict(name, FAIL if low else PASS,
                   f"throughput held in {held} of {len(rows)} phases: {', '.join(parts)} (target {target})",
                   value=round(worst * 100, 2), unit="%", target=target,
                   details={"phases": load_table(tl, label), "below": low})


@judges("load_p95")
def load_p95(tl: Timeline, *, maximum: float, label: str | None = None) -> Verdict:
    """p95 answer time (due → last answer) of the served arrivals, per phase ≤ ``maximum``. A phase
    with arrivals but none served fails (nobody was served at all)."""
    name, target = "load p95", f"p95 ≤ {maximum * 1000:.0f} ms per phase"
    rows = [(r, s) for r, s in _table(tl, label) if s.offered]
    if not rows:
        return _none(name, label, target)
    many = len({r.label for r, _ in rows}) > 1
    parts, over = [], []
    for run, s in rows:
        n = _phase_name(run, s, many)
        if s.p95 is None:
            parts.append(f"{n} none served")
            over.append(n)
        else:
            parts.append(f"{n} {s.p95 * 1000:.0f} ms")
            if s.p95 > maximum:
                over.append(n)
    measured = [s.p95 for _, s in rows if s.p95 is not None]
    worst = max(measured) if measured else None
    return Verdict(name, FAIL if over else PASS,
                   f"p95 answer time per phase: {', '.join(parts)} (target {target})"
                   + (f"; too slow in {', '.join(over)}" if over else ""),
                   value=None if worst is None else round(worst * 1000, 1), unit="ms", target=target,
                   details={"phases": load_table(tl, label), "over": over})


@judges("shed")
def shed(tl: Timeline, *, maximum: float = 0.01, label: str | None = None) -> Verdict:
    """Share of arrivals refused (503/429, the disruption notice, a refused connection) or timed out
    (no answer in time, or never sent because the user gave up waiting), per phase ≤ ``maximum``."""
    name, target = "shed or timed out", f"≤ {maximum:.1%} of arrivals per phase"
    rows = [(r, s) for r, s in _table(tl, label) if s.offered]
    if not rows:
        return _none(name, label, target)
    many = len({r.label for r, _ in rows}) > 1
    parts, over, worst = [], [], 0.0
    for run, s in rows:
        share = (s.shed + s.timed_out) / s.offered
        worst = max(worst, share)
        n = _phase_name(run, s, many)
        parts.append(f"{n} {share:.1%}" + (f" ({s.shed} shed, {s.timed_out} timed out of {s.offered})"
                                             if s.shed or s.timed_out else ""))
        if share > maximum:
            over.append(n)
    return Verdict(name, FAIL if over else PASS,
                   f"arrivals shed or timed out per phase: {', '.join(parts)} (target {target})",
                   value=round(worst * 100, 2), unit="%", target=target,
                   details={"phases": load_table(tl, label), "over": over})


@judges("queue_time")
def queue_time(tl: Timeline, *, maximum: float, label: str | None = None) -> Verdict:
    """p95 queue time per phase ≤ ``maximum``: the generator's wait for a worker (measured) plus the
    wait inside the service, estimated as the answer time beyond the first phase's median."""
    name, target = "queue time", f"p95 ≤ {maximum * 1000:.0f} ms per phase (estimated)"
    rows = [(r, s) for r, s in _table(tl, label) if s.offered and s.queue_p95 is not None]
    if not rows:
        return _none(name, label, target)
    many = len({r.label for r, _ in rows}) > 1
    parts = [f"{_phase_name(r, s, many)} {s.queue_p95 * 1000:.0f} ms" for r, s in rows]
    over = [_phase_name(r, s, many) for r, s in rows if s.queue_p95 > maximum]
    worst = max(s.queue_p95 for _, s in rows)
    return Verdict(name, FAIL if over else PASS,
                   f"queue time per phase (p95; time beyond today's median answer, plus any wait for a "
                   f"generator worker): {', '.join(parts)} (target {target})",
                   value=round(worst * 1000, 1), unit="ms", target=target,
                   details={"phases": load_table(tl, label), "over": over,
                            "measured_part_p95_ms": {(r.label + ' ' + s.name): None if s.waited_p95 is None
                                                     else round(s.waited_p95 * 1000, 1) for r, s in rows}})


def _served_rate(tl: Timeline, label: str) -> tuple[float | None, float | None, int]:
    run = run_of(tl, label)
    if run is None:
        return None, None, 0
    stats = phase_stats(tl, run)
    offered = sum(s.offered for s in stats)
    seconds = sum(s.seconds for s in stats)
    served = sum(s.served for s in stats)
    times = [a.answer_time for a in arrivals(tl, run) if a.outcome == "served"]
    return (served / seconds if seconds else None), percentile(times, 0.95), offered


@judges("scaleout_gain")
def scaleout_gain(tl: Timeline, *, before: str, after: str, minimum: float = 0.2,
                  faster: float | None = None) -> Verdict:
    """Do more instances help? Load ``after`` (e.g. at 10 instances) against load ``before`` (5) of
    the same shape: they help when served arrivals/s grew by ≥ ``minimum`` (0.2 = 20 % more), or —
    with ``faster`` — when the p95 answer time of the served ones fell by ≥ ``faster`` (0.3 = 30 %
    faster: the same load served sooner, for a load the smaller size already served in full).

    Sentence: ``more instances help: 100.0 → 100.0 served/s (+0%), p95 872 → 480 ms (45% faster),
    5 → 10 (target ≥ +20% served/s or ≥ 30% faster)``."""
    name = "scale-out gain"
    target = f"≥ +{minimum:.0%} served/s" + (f" or ≥ {faster:.0%} faster" if faster is not None else "")
    a, pa, oa = _served_rate(tl, before)
    b, pb, ob = _served_rate(tl, after)
    if a is None or b is None or not a:
        missing = before if a is None else after
        return Verdict(name, UNKNOWN, f"scale-out gain unknown: no load {missing!r} with served arrivals",
                       target=target)
    gain = b / a - 1
    quicker = (1 - pb / pa) if pa and pb is not None else None
    helps = gain >= minimum or (faster is not None and quicker is not None and quicker >= faster)
    p = lambda v: "—" if v is None else f"{v * 1000:.0f} ms"  # noqa: E731
    speed = "" if quicker is None else f" ({quicker:.0%} faster)" if quicker >= 0 else f" ({-quicker:.0%} slower)"
    return Verdict(name, PASS if helps else FAIL,
                   f"more instances {'help' if helps else 'do not help'}: {a:.1f} → {b:.1f} served/s "
                   f"({gain:+.0%}), p95 {p(pa)} → {p(pb)}{speed}, {before} → {after} (target {target})",
                   value=round(gain * 100, 1), unit="%", target=target,
                   details={"before": {"label": before, "served_per_s": round(a, 3), "p95_s": pa, "offered": oa},
                            "after": {"label": after, "served_per_s": round(b, 3), "p95_s": pb, "offered": ob},
                            "p95_faster": None if quicker is None else round(quicker, 4)})


@judges("lead_time")
def lead_time(tl: Timeline, *, population: str = "load", alert: AlertRule = AlertRule(), slo: Slo,
              minimum: float = 0.0) -> Verdict:
    """Early warning: the SLO's first break minus when ``alert`` would have fired; ≥ ``minimum`` passes.

    ``—`` (None) when the SLO never broke (nothing to warn of: passes) or the alert never fired before
    the end (fails: the outage came without warning, as on 11 April 2019)."""
    name, target = "lead time", f"alert ≥ {minimum:g} s before the SLO broke"
    lt = _lead_time(tl, population, alert, slo)
    details = {**lt.as_dict(), "rule": alert.describe(), "slo": slo.describe()}
    base = "—" if lt.baseline is None else f"{lt.baseline * 1000:.0f} ms"
    rule = f"alert rule {alert.describe()} (baseline p95 {base})"
    if lt.broke_at is None:
        return Verdict(name, PASS, f"lead time —: the SLO ({slo.describe()}) never broke for {population}; {rule}",
                       target=target, unit="s", details=details)
    if lt.alert_at is None:
        return Verdict(name, FAIL, f"lead time —: the SLO ({slo.describe()}) broke at {lt.broke_at:.1f} s and the "
                       f"{rule} never fired: no early warning", target=target, unit="s", details=details)
    lead = lt.lead
    when = f"{lead:.1f} s before" if lead > 0 else ("as" if lead == 0 else f"{-lead:.1f} s after")
    return Verdict(name, PASS if lead >= minimum else FAIL,
                   f"lead time {lead:.1f} s: the {rule} fired at {lt.alert_at:.1f} s, {when} the SLO "
                   f"({slo.describe()}) broke at {lt.broke_at:.1f} s (target {target})",
                   value=round(lead, 2), unit="s", target=target, details=details)


@judges("absorption_time")
def absorption_time(tl: Timeline, *, slo: Slo, maximum: float | None = None, population: str = "load",
                    label: str | None = None, stable: float = 5.0) -> Verdict:
    """Time until a surge was absorbed: from the start of the load's first phase above today's rate
    until the SLO held again and kept holding for ``stable`` s; 0 when it never broke."""
    name = "absorption time"
    target = f"≤ {maximum:g} s" if maximum is not None else None
    ab = absorption(tl, population, slo, label=label, stable=stable)
    details = {**ab.as_dict(), "slo": slo.describe()}
    if ab.surge_at is None:
        return Verdict(name, UNKNOWN, f"absorption time unknown: no load above today's rate{'' if label is None else ' ' + repr(label)}",
                       target=target, unit="s", details=details)
    tail = f" (target {target})" if target else ""
    if ab.seconds is None:
        return Verdict(name, FAIL, f"surge not absorbed: the SLO ({slo.describe()}) broke at {ab.broke_at:.1f} s, "
                       f"{ab.broke_at - ab.surge_at:.1f} s after the surge began, and did not hold again for "
                       f"{stable:g} s before the end{tail}", target=target, unit="s", details=details)
    if ab.seconds == 0:
        return Verdict(name, PASS, f"surge absorbed at once: the SLO ({slo.describe()}) held throughout{tail}",
                       value=0.0, target=target, unit="s", details=details)
    ok = maximum is None or ab.seconds <= maximum
    return Verdict(name, PASS if ok else FAIL,
                   f"surge absorbed after {ab.seconds:.1f} s: the SLO ({slo.describe()}) broke "
                   f"{ab.broke_at - ab.surge_at:.1f} s after the surge began and held again from "
                   f"{ab.back_at - ab.surge_at:.1f} s{tail}",
                   value=round(ab.seconds, 2), unit="s", target=target, details=details)


@judges("breaking_point")
def breaking_point(tl: Timeline, *, forecast: float | None = None) -> Verdict:
    """The breaking point found by a search (the ``search`` record): the multiple of today's load where
    the SLO broke; passes when the last multiple that held covers ``forecast`` (the search's own
    forecast when not given), or with no forecast when a break was found at all."""
    name = "breaking point"
    recs = list(tl.of("search"))
    if not recs:
        return Verdict(name, UNKNOWN, "breaking point unknown: no search on the timeline")
    r = recs[-1]
    fc = forecast if forecast is not None else r.get("forecast")
    result = SearchResult([StepResult(s["factor"], s["rate"], s["offered"], s["served"], s["p95_s"], s["held"])
                           for s in r.get("steps", [])], r.get("stopped", ""))
    sentence, covered = describe_result(result, fc)
    target = f"holds at ×{fc:g}" if fc is not None else None
    status = PASS if covered else FAIL if covered is False else (PASS if result.steps else UNKNOWN)
    return Verdict(name, status, sentence, value=result.broke_at, unit="×", target=target,
                   details={"held_at": result.held_at, "forecast": fc, "steps": r.get("steps", []),
                            "slo": r.get("slo")})

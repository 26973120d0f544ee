"""Availability judged per user population, and said plainly when the populations fared differently.

The outage of 11 April 2019 (SCENARIOS.md, incident 1) is the reason: new logins failed while clerks already logged in kept
working. One figure for everybody would have hidden it.
"""

from __future__ import annotations

import math

from drillkit.timeline import Timeline
from drillkit.verdicts.availability import percentile
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.spans import covered, failed_runs, fault_spans, human, phase_spans, within

__all__ = ["availability_by_population", "failed_for", "PATTERN_LOW", "PATTERN_HIGH", "DIFFERENCE"]

PATTERN_LOW = 0.50    # one population below this ...
PATTERN_HIGH = 0.95   # ... while another at or above this: the 11 April 2019 pattern
DIFFERENCE = 0.05     # populations "differ" when their availability is this far apart


def failed_for(probes: list[dict], spans: list[tuple[float, float]]) -> float:
    """Total time covered by failed runs, each window on its own (a run never bridges two faults)."""
    runs = []
    for span in spans:
        runs += [(r.start, r.end) for r in failed_runs(within(probes, [span]))]
    return covered(runs)


SLOW = 2.0            # the best population "slow": its p95 at least this many times its p95 before


def _slowdown(tl: Timeline, population: str, spans: list[tuple[float, float]],
              baseline: str | None = None) -> tuple[float, float] | None:
    """(p95 in the window, p95 before it) of a population's answered requests when the window's is
    ≥ SLOW × the one before (the steady state); None when not slower or not measurable. "Before" is
    every answer before the window, or those of the phase ``baseline`` when given."""
    start = min(s for s, _ in spans)
    if not math.isfinite(start):
        return None
    ok = [r for r in tl.probes(population) if r["ok"]]
    if baseline is not None:
        before = [r["latency"] for r in within(ok, phase_spans(tl, baseline))]
    else:
        before = [r["latency"] for r in ok if r["t"] < start]
    during = [r["latency"] for r in within(ok, spans)]
    if len(before) < 5 or len(during) < 5:
        return None
    p_before, p_during = percentile(before, 0.95), percentile(during, 0.95)
    return (p_during, p_before) if p_before > 0 and p_during >= SLOW * p_before else None


@judges("availability_by_population")
def availability_by_population(tl: Timeline, minimums: dict[str, float],
                               phase: str | None = None, baseline: str | None = None) -> list[Verdict]:
    """One verdict per population of ``minimums`` (ratio of successful requests ≥ its minimum), then a
    contrast verdict named ``availability contrast`` when the populations differ by ≥ 5 points.

    The window is every occurrence of ``phase`` if given, else every fault window (an unhealed fault
    lasts to the end), else the whole drill. The contrast names the worst and the best population; when
    the worst is below 50% and the best at or above 95% it says so as the 11 April 2019 pattern:
    ``new logins failed for 41.2 s while existing sessions stayed available (99.1%) — the pattern of
    the 11 April 2019 outage``; when the best population's p95 in the window is ≥ 2× its p95 before
    the window, the sentence says so, as the source did: ``... stayed available (99.1%) but slow (p95
    840 ms, 9.3× the 90 ms before) — ...``. "Before" is every answer before the window, or only those of
    the phase ``baseline`` (e.g. ``"steady"``) when the time between it and the window is itself
    disturbed (a migration under load is no reference for "slow"). The contrast carries the worst status of the populations (fail if any
    population missed its minimum), so a report that shows only it still shows the right colour.

    Per population: ``new-logins: 12.0% of 400 requests succeeded during the fault, failed for 41.2 s,
    p95 latency 35 ms (target ≥ 99.0%)``.
    """
    if phase is not None:
        spans, label = phase_spans(tl, phase), f"during {phase}"
    elif tl.fault_windows():
        spans, label = fault_spans(tl), "during the fault"
    else:
        spans, label = [(-math.inf, math.inf)], "over the whole drill"

    verdicts: list[Verdict] = []
    measured: dict[str, tuple[float, float]] = {}  # population → (ratio, failed for)
    for population, minimum in minimums.items():
        name = f"availability {population} ({label})"
        target = f"≥ {minimum:.1%}"
        probes = within(tl.probes(population), spans)
        if not probes:
            verdicts.append(Verdict(name, UNKNOWN, f"{population}: no requests observed {label}",
                                    unit="ratio", target=target))
            continue
        ok = [r for r in probes if r["ok"]]
        ratio = len(ok) / len(probes)
        down = round(failed_for(probes, spans), 3)
        measured[population] = (ratio, down)
        p95 = percentile([r["latency"] for r in ok], 0.95)
        latency = f", p95 latency {p95 * 1000:.0f} ms" if ok else ", no request answered"
        verdicts.append(Verdict(
            name, PASS if ratio >= minimum else FAIL,
            f"{population}: {ratio:.1%} of {len(probes)} requests succeeded {label}, "
            f"failed for {down:.1f} s{latency} (target {target})",
            value=round(ratio, 4), unit="ratio", target=target,
            details={"requests": len(probes), "ok": len(ok), "failed_for_s": down,
                     "p95_ms": round(p95 * 1000, 1) if ok else None, "window": label}))

    if len(measured) >= 2:
        worst = min(measured, key=lambda p: measured[p][0])
        best = max(measured, key=lambda p: measured[p][0])
        (w_ratio, w_down), (b_ratio, _) = measured[worst], measured[best]
        if b_ratio - w_ratio >= DIFFERENCE:
            pattern = w_ratio < PATTERN_LOW and b_ratio >= PATTERN_HIGH
            slow = _slowdown(tl, best, spans, baseline)
            if pattern:
                but = (f" but slow (p95 {slow[0] * 1000:.0f} ms, {slow[0] / slow[1]:.1f}× the {slow[1] * 1000:.0f} ms "
                       f"before)") if slow else ""
                sentence = (f"{human(worst)} failed for {w_down:.1f} s while {human(best)} stayed "
                            f"available ({b_ratio:.1%}){but} — the pattern of the 11 April 2019 outage")
            else:
                sentence = (f"{human(worst)} fared worse than {human(best)} {label}: {w_ratio:.1%} "
                            f"against {b_ratio:.1%} available ({human(worst)} failed for {w_down:.1f} s)")
            status = FAIL if any(v.failed for v in verdicts) else PASS
            verdicts.append(Verdict(
                "availability contrast", status, sentence,
                value=round(b_ratio - w_ratio, 4), unit="ratio",
                details={"pattern": "11 April 2019" if pattern else None, "worst": worst, "best": best,
                         "window": label,
                         "availability": {p: round(m[0], 4) for p, m in measured.items()},
                         "slowdown": {"p95_s": round(slow[0], 3), "before_p95_s": round(slow[1], 3)} if slow else None,
                         "failed_for_s": {p: m[1] for p, m in measured.items()}}))
    return verdicts

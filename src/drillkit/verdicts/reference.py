"""Verdicts against a reference measured in the same conditions: the stack, not the machine.

A ratio against the quiet steady state ("p95 in the morning at most 3× the one before") or a fixed
share under a rush ("new logins ≥ 90 %") also measures the machine: on a busy CI runner the same load
costs more CPU time, answers queue on the machine's cores, and a sound stack's ratio moves from 1.8× to
3.4× (the 11 April drill, load average 9–16). The same load run on the stack *before the change*, on the
same machine minutes earlier (the phase ``reference``), takes the machine out of the comparison: what the
change did is the difference between the two runs of the same load, and each sentence says both figures
and the margin.

- :func:`slowdown_against` — the median (or another quantile) of a population's answers in ``phase``
  against the same in ``reference`` (the same load before the change): ``existing-sessions' answers
  under the morning load: median 176 ms after the change, 1.0× the 171 ms of the same load before it
  (target ≤ 1.75×)``.
- :func:`reference_minimums` — the availability each population must reach in ``phase``: its minimum,
  or, where the reference itself (the stack before the change, same load, same machine) served less,
  the reference's share less ``points``; below ``floor`` the reference cannot judge anything (the
  machine could not carry the load even before the change): unknown, and the drill says so.
"""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.availability import percentile
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.spans import phase_spans, within

__all__ = ["slowdown_against", "reference_minimums", "REFERENCE"]

REFERENCE = "reference"     # the phase: the same load on the stack before the change
MIN_ANSWERS = 20            # fewer answered requests in a phase: its p95 is not measured


def _answered(tl: Timeline, population: str, phase: str) -> list[float]:
    return [r["latency"] for r in within(tl.probes(population), phase_spans(tl, phase)) if r["ok"]]


@judges("slowdown")
def slowdown_against(tl: Timeline, population: str, *, phase: str, max_ratio: float, reference: str = REFERENCE,
                     load: str = "the same load", quantile: float = 0.5) -> Verdict:
    """The ``quantile`` (default the median) of ``population``'s answered requests in ``phase`` at most
    ``max_ratio`` × the same quantile in ``reference``; unknown when either phase has fewer than
    MIN_ANSWERS answers. The median by default: a busy machine's scheduling hiccups land in the tail
    (the 11 April drill's sound migration, 12 runs: p95 0.56-1.66×, median 0.88-1.08×), a pool that
    queues every request moves the middle (the drifted pool, 7 runs: median 2.55-3.63×, p95 1.74-3.48×)."""
    target = f"≤ {max_ratio:g}× the same load before the change"
    q = "median" if quantile == 0.5 else f"p{quantile * 100:.0f}"
    before, after = _answered(tl, population, reference), _answered(tl, population, phase)
    name = f"slowdown {population}"
    if len(before) < MIN_ANSWERS or len(after) < MIN_ANSWERS:
        return Verdict(name, UNKNOWN, f"{population}' answers under {load}: not measured ({len(before)} answers "
                                      f"before the change, {len(after)} after; at least {MIN_ANSWERS} each)",
                       target=target, details={"answers_before": len(before), "answers_after": len(after)})
    v_before, v_after = percentile(before, quantile) * 1000, percentile(after, quantile) * 1000
    ratio = v_after / v_before if v_before > 0 else float("inf")
    return Verdict(name, FAIL if ratio > max_ratio else PASS,
                   f"{population}' answers under {load}: {q} {v_after:.0f} ms after the change, {ratio:.1f}× the "
                   f"{v_before:.0f} ms of the same load before it (target ≤ {max_ratio:g}×)",
                   value=round(ratio, 2), unit="×", target=target,
                   details={"quantile": quantile, "ms": round(v_after, 1), "reference_ms": round(v_before, 1),
                            "answers": len(after), "reference_answers": len(before)})


def reference_minimums(tl: Timeline, minimums: dict[str, float], *, points: dict[str, float],
                       reference: str = REFERENCE, floor: float = 0.5,
                       load: str = "the same load") -> tuple[dict[str, float], Verdict]:
    """The minimum availability of each population after the change: ``minimums[p]``, lowered to the
    reference's share less ``points[p]`` where the stack before the change, under the same load on the
    same machine, served less. Returns (minimums, the verdict that says the reference and the targets):
    pass when every population's reference reached ``floor``; unknown when one did not (nothing can be
    judged against it) or had no request."""
    spans = phase_spans(tl, reference)
    out: dict[str, float] = {}
    parts, details, lacking = [], {}, []
    for pop, minimum in minimums.items():
        probes = within(tl.probes(pop), spans)
        if not probes:
            lacking.append(f"{pop}: no request")
            out[pop] = minimum
            continue
        share = sum(1 for r in probes if r["ok"]) / len(probes)
        target = min(minimum, share - points.get(pop, 0.0))
        out[pop] = max(0.0, target)
        details[pop] = {"share": round(share, 4), "requests": len(probes), "minimum": round(out[pop], 4)}
        how = "" if target >= minimum else f" (the same load before the change served {100 * share:.1f}%: " \
                                          f"{100 * points.get(pop, 0.0):g} points below it)"
        parts.append(f"{pop} {100 * share:.1f}% of {len(probes)} → target ≥ {100 * out[pop]:.1f}%{how}")
        if share < floor:
            lacking.append(f"{pop} {100 * share:.1f}% < {100 * floor:g}%")
    head = f"{load} before the change (same machine, minutes earlier): "
    if lacking:
        return out, Verdict("reference", UNKNOWN, head + "; ".join(parts + lacking) +
                            " — the stack before the change could not carry the load here and now: nothing "
                            "after it can be judged against it", target=f"≥ {100 * floor:g}% each",
                            details={"populations": details, "lacking": lacking}, kind="reference")
    return out, Verdict("reference", PASS, head + "; ".join(parts), target=f"≥ {100 * floor:g}% each",
                        details={"populations": details}, kind="reference")

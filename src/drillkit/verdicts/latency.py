"""Response times per drill phase: how much slower did answers get while the fault was in play."""

from __future__ import annotations

from collections.abc import Sequence

from drillkit.timeline import Timeline
from drillkit.verdicts.availability import percentile
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.spans import fault_spans, phase_spans, within

__all__ = ["latency_by_phase", "answer_time", "FAULT_PHASES"]

FAULT_PHASES = ("inject", "observe", "recover")  # the fault is in play from injection to recovery


@judges("latency_by_phase")
def latency_by_phase(tl: Timeline, population: str, p95_max: float | None = None,
                     phases: Sequence[str] = ("steady", "inject", "observe", "recover")) -> Verdict:
    """p50 / p95 / p99 of the answered (successful) requests of ``population`` in each phase.

    A phase that occurs several times is pooled. ``p95_max`` is in seconds and applies to the fault
    phases (inject, observe, recover) only: the steady state is the baseline. Failed requests are left
    out (a refused connection is fast, a timeout is the client's limit; availability judges both); a
    fault phase without a single answer is shown, not failed. Unknown when no listed phase has an answer.

    Sentence: ``latency of clerks by phase (p95): steady 35 ms, inject 40 ms, observe 2100 ms, recover
    45 ms (target p95 ≤ 500 ms while the fault is in play)``.
    """
    name = f"latency {population} by phase"
    target = f"p95 ≤ {p95_max * 1000:.0f} ms" if p95_max is not None else None
    tail = f" (target {target} while the fault is in play)" if target else ""
    table: dict[str, dict] = {}
    parts: list[str] = []
    for phase in phases:
        spans = phase_spans(tl, phase)
        if not spans:
            continue
        probes = within(tl.probes(population), spans)
        lat = [r["latency"] for r in probes if r["ok"]]
        row = {"requests": len(probes), "answered": len(lat)}
        if lat:
            row.update({f"p{q}_ms": round(percentile(lat, q / 100) * 1000, 1) for q in (50, 95, 99)})
            parts.append(f"{phase} {row['p95_ms']:.0f} ms")
        else:
            parts.append(f"{phase} no answer")
        table[phase] = row
    measured = {p: row for p, row in table.items() if row["answered"]}
    if not measured:
        return Verdict(name, UNKNOWN,
                       f"latency of {population} by phase unknown: no answered request in "
                       f"{', '.join(phases)}", unit="ms", target=target, details={"phases": table})
    in_fault = {p: row["p95_ms"] for p, row in measured.items() if p in FAULT_PHASES}
    worst = max(in_fault.values()) if in_fault else max(r["p95_ms"] for r in measured.values())
    if p95_max is None:
        status = PASS
    elif not in_fault:
        status = UNKNOWN
    else:
        status = FAIL if worst > p95_max * 1000 else PASS
    over = [p for p, v in in_fault.items() if p95_max is not None and v > p95_max * 1000]
    sentence = f"latency of {population} by phase (p95): {', '.join(parts)}{tail}"
    if over:
        sentence += f"; too slow in {', '.join(over)}"
    return Verdict(name, status, sentence, value=worst, unit="ms", target=target,
                   details={"phases": table, "over": over})


@judges("answer_time")
def answer_time(tl: Timeline, population: str, p95_max: float, *, quantile: float = 0.95) -> Verdict:
    """How long users waited for *any* answer while a fault was in play — failures included.

    A login path that fails fast (a clear 503 after a pool timeout) passes; one that hangs until the
    client gives up fails. ``p95_max`` bounds the ``quantile`` (default p95). Sentence: ``new-logins waited 2.10 s for an answer (p95, failures included)
    while the fault was in play (target ≤ 3 s)``.
    """
    name = f"answer time {population}"
    spans = fault_spans(tl)
    probes = within(tl.probes(population), spans) if spans else []
    target = f"≤ {p95_max:g} s"
    if not probes:
        return Verdict(name, UNKNOWN, f"{population}: no request while a fault was in play", target=target)
    lat = [r["latency"] for r in probes]
    p95 = percentile(lat, quantile)
    q = f"p{quantile * 100:.0f}" if quantile != 0.5 else "median"
    hung = sum(1 for r in probes if r.get("error") == "timeout")
    extra = f"; {hung} of {len(probes)} gave up waiting" if hung else ""
    return Verdict(name, PASS if p95 <= p95_max else FAIL,
                   f"{population} waited {p95:.2f} s for an answer ({q}, failures included) while the "
                   f"fault was in play (target {target}){extra}",
                   value=round(p95, 3), unit="s", target=target,
                   details={"requests": len(probes), "timeouts": hung})

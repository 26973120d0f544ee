"""When users noticed the fault and how long the worst stretch lasted: detection time and outage window.

Both measure from the injection of the first fault on the timeline (or of ``fault_id``). Recovery time
lives in :mod:`drillkit.verdicts.recovery`.
"""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.recovery import first_fault
from drillkit.verdicts.spans import describe_fault, failed_runs, t_end

__all__ = ["detection_time", "outage_window"]


@judges("detection_time")
def detection_time(tl: Timeline, population: str | None = None, max: float | None = None, *,
                   fault_id: str | None = None) -> Verdict:
    """Fault → the first failed request *seen* (answered) after the injection.

    ``population`` None looks at every population and names the one that saw the failure first.
    Requests sent before the fault count if their failure was answered after it. Unknown without a
    fault, or when no request failed after it (there was nothing to detect).

    Sentence: ``detection time 0.35 s for clerks after kill of web/app-1 (target ≤ 1 s)``.
    """
    name = "detection time"
    limit = max
    target = f"≤ {limit:g} s" if limit is not None else None
    w = first_fault(tl, fault_id)
    if w is None:
        return Verdict(name, UNKNOWN, "detection time unknown: no fault on the timeline",
                       unit="s", target=target)
    seen = [r for r in tl.probes(population) if t_end(r) >= w.start]
    failed = [r for r in seen if not r["ok"]]
    if not failed:
        return Verdict(name, UNKNOWN,
                       f"detection time unknown: no request of {population or 'any population'} "
                       f"failed after {describe_fault(w)} ({len(seen)} request(s) observed)",
                       unit="s", target=target, details={"requests": len(seen), "fault_start": w.start})
    first = min(failed, key=t_end)
    value = round(t_end(first) - w.start, 3)
    who = population or first["population"]
    status = PASS if limit is None or value <= limit else FAIL
    return Verdict(name, status,
                   f"detection time {value:.2f} s for {who} after {describe_fault(w)}"
                   + (f" (target {target})" if target else ""),
                   value=value, unit="s", target=target,
                   details={"population": who, "client": first.get("client"), "op": first.get("op"),
                            "error": first.get("error"), "status": first.get("status"),
                            "fault_start": w.start})


@judges("outage_window")
def outage_window(tl: Timeline, population: str, max: float | None = None, *,
                  fault_id: str | None = None) -> Verdict:
    """The longest run of failed requests of ``population`` sent after the fault: from the first
    failure's send to the next success's answer (see :mod:`drillkit.verdicts.spans`).

    A run that never ended is reported as lasting at least until its last failure and fails a target.
    Unknown without a fault or without requests after it; 0.00 s (pass) when nothing failed.

    Sentence: ``outage window 3.20 s for clerks after kill of web/app-1: from +0.40 s to +3.60 s,
    12 failed request(s) (target ≤ 5 s)``.
    """
    name = "outage window"
    limit = max
    target = f"≤ {limit:g} s" if limit is not None else None
    tail = f" (target {target})" if target else ""
    w = first_fault(tl, fault_id)
    if w is None:
        return Verdict(name, UNKNOWN, "outage window unknown: no fault on the timeline",
                       unit="s", target=target)
    after = tl.probes(population, since=w.start)
    if not after:
        return Verdict(name, UNKNOWN,
                       f"outage window unknown: no request of {population} after {describe_fault(w)}",
                       unit="s", target=target)
    runs = failed_runs(after)
    if not runs:
        return Verdict(name, PASS,
                       f"outage window 0.00 s for {population} after {describe_fault(w)}: no request "
                       f"failed ({len(after)} request(s) observed){tail}",
                       value=0.0, unit="s", target=target,
                       details={"requests": len(after), "runs": 0, "fault_start": w.start})
    worst = sorted(runs, key=lambda r: (r.duration, r.open), reverse=True)[0]
    value = round(worst.duration, 3)
    start = worst.start - w.start
    end = worst.end - w.start
    until = (f"past the end of the timeline (last failure answered at +{end:.2f} s)" if worst.open
             else f"+{end:.2f} s")
    if limit is None:
        status = PASS
    else:
        status = FAIL if worst.open or value > limit else PASS
    return Verdict(name, status,
                   f"outage window {'at least ' if worst.open else ''}{value:.2f} s for {population} "
                   f"after {describe_fault(w)}: from +{start:.2f} s to {until}, "
                   f"{worst.failures} failed request(s){tail}",
                   value=value, unit="s", target=target,
                   details={"start": round(start, 3), "end": round(end, 3), "open": worst.open,
                            "failures": worst.failures, "runs": len(runs),
                            "requests": len(after), "fault_start": w.start})

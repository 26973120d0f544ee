"""The error budget a drill burns: failures against what an availability SLO allows."""

from __future__ import annotations

import math

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.recovery import first_fault
from drillkit.verdicts.spans import percent

__all__ = ["error_budget"]


@judges("error_budget")
def error_budget(tl: Timeline, population: str, slo: float, window: float | None = None) -> Verdict:
    """Budget = (1 − ``slo``) × requests of ``population`` in the window; consumed = failures / budget;
    fail above 100%.

    The window is the whole timeline, or with ``window`` (seconds) the ``window`` seconds from the
    first fault's injection (from the first request if there is no fault). Unknown without requests.

    Sentence: ``error budget: 240% consumed by this drill (SLO 99.5%): 12 of 1000 clerks requests
    failed, the budget allowed 5.0``.
    """
    if not 0.0 < slo <= 1.0:
        raise ValueError(f"error_budget: slo must be a ratio in (0, 1], e.g. 0.995 — got {slo!r}")
    name = f"error budget {population}"
    slo_text = f"{slo * 100:.3f}".rstrip("0").rstrip(".") + "%"
    since = until = None
    if window is not None:
        fault = first_fault(tl)
        probes = tl.probes(population)
        start = fault.start if fault is not None else (probes[0]["t"] if probes else 0.0)
        since, until = start, start + window
    probes = tl.probes(population, since=since, until=until)
    where = f" in the {window:g} s window" if window is not None else ""
    if not probes:
        return Verdict(name, UNKNOWN, f"error budget unknown: no {population} requests{where} "
                                      f"(SLO {slo_text})", unit="%", target="≤ 100%")
    failed = sum(1 for r in probes if not r["ok"])
    budget = (1.0 - slo) * len(probes)
    if budget > 0:
        consumed = failed / budget
    else:
        consumed = math.inf if failed else 0.0
    head = (f"error budget: exhausted by this drill (SLO {slo_text} allows no failure)"
            if math.isinf(consumed) else
            f"error budget: {percent(consumed)} consumed by this drill (SLO {slo_text})")
    # (1 - 0.9) * 10 is 0.9999999999999998 in floating point: a budget met exactly is met
    return Verdict(name, PASS if consumed <= 1.0 + 1e-9 else FAIL,
                   f"{head}: {failed} of "
                   f"{len(probes)} {population} requests failed{where}, the budget allowed {budget:.1f}",
                   value=None if math.isinf(consumed) else round(consumed * 100, 1), unit="%",
                   target="≤ 100%",
                   details={"requests": len(probes), "failed": failed, "budget": round(budget, 3),
                            "slo": slo, "since": since, "until": until})

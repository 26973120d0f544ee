"""Recovery time: fault → first of N consecutive successes of the affected population."""

from __future__ import annotations

from drillkit.timeline import FaultWindow, Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict

__all__ = ["recovery_time", "affected_clients", "first_fault"]


def first_fault(tl: Timeline, fault_id: str | None = None) -> FaultWindow | None:
    windows = tl.fault_windows()
    if fault_id:
        windows = [w for w in windows if w.fault_id == fault_id]
    return windows[0] if windows else None


def affected_clients(tl: Timeline, window: FaultWindow, population: str) -> set[str]:
    """Clients whose last answered request before the fault was served by a faulted node."""
    targets = {t.split("/", 1)[-1] for t in window.targets}
    last_node: dict[str, str | None] = {}
    for r in tl.probes(population, until=window.start):
        if r.get("node"):
            last_node[r["client"]] = r["node"]
    return {c for c, n in last_node.items() if n in targets}


def recovery_time(tl: Timeline, *, target: float, population: str, consecutive: int = 3,
                  affected_only: bool = True, fault_id: str | None = None) -> Verdict:
    """Fault → first of ``consecutive`` consecutive successes of the affected population.

    The affected population is the clients last served by the faulted node(s) (all clients of the
    population if none can be told apart). The recovery instant is when the first success of that run
    completed; requests that started before the fault do not count.
    """
    name = "recovery time"
    w = first_fault(tl, fault_id)
    if w is None:
        return Verdict(name, UNKNOWN, "recovery time unknown: no fault on the timeline")
    clients = affected_clients(tl, w, population) if affected_only else set()
    after = [r for r in tl.probes(population, since=w.start) if not clients or r["client"] in clients]
    who = f"{len(clients)} affected {population}" if clients else population
    # The outage starts with the first failure after the fault (a request answered before the fault
    # took effect is not a recovery); with no failure at all, the first successes are the recovery.
    first_failure = next((i for i, r in enumerate(after) if not r["ok"]), None)
    start = first_failure + 1 if first_failure is not None else 0
    run = 0
    for i, r in enumerate(after):
        if i < start:
            continue
        run = run + 1 if r["ok"] else 0
        if run == consecutive:
            first = after[i - consecutive + 1]
            value = round(first["t_end"] - w.start, 3)
            failures = sum(1 for x in after[: i - consecutive + 1] if not x["ok"])
            ok = value <= target
            return Verdict(name, PASS if ok else FAIL,
                           f"recovery time {value:.2f} s for {who} after {w.fault} of "
                           f"{', '.join(w.targets) or 'target'} (target ≤ {target:g} s; "
                           f"{failures} failed request(s) before)",
                           value=value, unit="s", target=f"≤ {target:g} s",
                           details={"population": population, "clients": sorted(clients),
                                    "failures_before": failures, "fault_start": w.start})
    return Verdict(name, FAIL if after else UNKNOWN,
                   f"no recovery seen for {who}: never {consecutive} successes in a row after the fault "
                   f"({len(after)} request(s) observed, target ≤ {target:g} s)",
                   value=None, unit="s", target=f"≤ {target:g} s")

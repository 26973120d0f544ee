#!/usr/bin/env python3
"""Recovery time, old definition against new, on the same timelines (issue 7).

The old definition (until issue 7) merged the requests of the "affected" clients — those last served
by the faulted node — and ended the outage at the first 3 successes in a row *of the mix*. The new one
is per user: the last user hit back (3 successes in a row after its own last failure), any user still
failing = not recovered. Both are computed here from the same timeline files, so the comparison is
not blurred by run-to-run noise. No containers are started.

Usage: .venv/bin/python benchmarks/recovery_old_vs_new.py REPORTS_DIR_OR_TIMELINE.jsonl ...
(e.g. the --drill-report-dir of drill runs: their timelines/*.jsonl are read)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from drillkit.timeline import FaultWindow, Timeline  # noqa: E402
from drillkit.verdicts import recovery_time  # noqa: E402

POPULATIONS = ("existing-sessions", "citizens")


# -- the old definition, verbatim in substance (src/drillkit/verdicts/recovery.py before issue 7) --------

def _affected_clients(tl: Timeline, window: FaultWindow, population: str) -> set[str]:
    targets = {t.split("/", 1)[-1] for t in window.targets}
    last_node: dict[str, str | None] = {}
    for r in tl.probes(population, until=window.start):
        if r.get("node"):
            last_node[r["client"]] = r["node"]
    return {c for c, n in last_node.items() if n in targets}


def old_recovery(tl: Timeline, w: FaultWindow, population: str, *, affected_only: bool,
                 consecutive: int = 3) -> float | None:
    clients = _affected_clients(tl, w, population) if affected_only else set()
    after = [r for r in tl.probes(population, since=w.start) if not clients or r["client"] in clients]
    first_failure = next((i for i, r in enumerate(after) if not r["ok"]), None)
    start = first_failure + 1 if first_failure is not None else 0
    run = 0
    for i, r in enumerate(after):
        if i < start:
            continue
        run = run + 1 if r["ok"] else 0
        if run == consecutive:
            return round(after[i - consecutive + 1]["t_end"] - w.start, 3)
    return None


# -- which fault and which target the drill judged -------------------------------------------------------

def judged(tl: Timeline) -> tuple[FaultWindow | None, float | None]:
    """The fault the drill's own recovery verdict was measured from (its details), else the first fault
    injected after the steady phase; and the verdict's target in seconds."""
    windows = tl.fault_windows()
    target = None
    for v in tl.of("verdict"):
        if v.get("key") == "recovery_time" or v.get("name") == "recovery time":
            m = re.search(r"([\d.]+) s", v.get("target") or "")
            target = float(m.group(1)) if m else None
            start = (v.get("details") or {}).get("fault_start")
            for w in windows:
                if start is not None and abs(w.start - start) < 1e-6:
                    return w, target
    steady_end = next((e for name, _s, e in tl.phases() if name == "steady" and e is not None), None)
    later = [w for w in windows if steady_end is None or w.start >= steady_end - 1e-6]
    return (later or windows or [None])[0], target


def timelines(args: list[str]) -> list[Path]:
    out: list[Path] = []
    for a in args:
        p = Path(a)
        out += sorted(p.rglob("timelines/*.jsonl")) if p.is_dir() else [p]
    return out


def main(argv: list[str]) -> int:
    files = timelines(argv)
    if not files:
        print(__doc__)
        return 2
    print("| drill (run) | population | target | old: affected mix | old: all users' mix | new: last user back "
          "| users hit | new verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for f in files:
        tl = Timeline.load(f)
        w, target = judged(tl)
        if w is None:
            continue
        run = f.parent.parent.name
        for pop in POPULATIONS:
            if not tl.probes(pop):
                continue
            old_aff = old_recovery(tl, w, pop, affected_only=True)
            old_all = old_recovery(tl, w, pop, affected_only=False)
            v = recovery_time(tl, target=target if target is not None else 1e9, population=pop,
                              fault_id=w.fault_id)
            new = ("no outage seen" if v.details.get("outage") is False else
                   "not recovered" if v.value is None and v.details.get("not_back") else
                   "—" if v.value is None else f"{v.value:.2f} s")
            hit = f"{v.details.get('hit', 0)} of {v.details.get('users', 0)}"
            status = v.status if target is not None else "(no target)"
            fmt = (lambda x: "—" if x is None else f"{x:.2f} s")
            print(f"| {tl.header.get('drill', f.stem)} ({run}) | {pop} | "
                  f"{'—' if target is None else f'≤ {target:g} s'} | {fmt(old_aff)} | {fmt(old_all)} | {new} | "
                  f"{hit} | {status} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

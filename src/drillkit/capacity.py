"""``drill capacity SCENARIO``: the breaking point of a stack, as one command.

The scenario's ``search:`` says today's load (rate and actions), the SLO one step must keep and the
factors to try; the command brings the scenario's environment up (or attaches to a ``drill up`` run),
runs the search (the scenario runner's phases, so faults and expectations in the file apply too),
prints every step and the sentence — ``breaks at ×3.5 of today's load (held at ×3); the forecast ×4
is not covered`` — writes the timeline to ``REPORT_DIR/timelines/capacity-<name>.jsonl`` and removes
the environment again (also on Ctrl-C or SIGTERM).

Exit codes as ``drill run``: 0 the forecast is covered (or there is none and every expectation held),
1 it is not (or another expectation failed), 2 a bad file or option, or the lab failed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from drillkit.drill import DrillFailed, drill_run, environment_for, timeline_file
from drillkit.errors import ConfigError, DrillkitError
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario
from drillkit.stack import load_stack

__all__ = ["run_capacity", "step_table"]


def step_table(steps: list[dict]) -> list[str]:
    rows = ["| step | rate | offered | served | p95 | |", "|---|---|---|---|---|---|"]
    for s in steps:
        share = "—" if s.get("served_share") is None else f"{s['served_share']:.1%}"
        p95 = "—" if s.get("p95_s") is None else f"{s['p95_s'] * 1000:.0f} ms"
        rows.append(f"| ×{s['factor']:g} | {s['rate']:g}/s | {s['offered']} | {share} | {p95} | "
                    f"{'held' if s['held'] else 'broke'} |")
    return rows


def run_capacity(path: str, *, forecast: float | None = None, attach: str | None = None,
                 report_dir: str = "reports", say: Callable[[str], None] = print) -> tuple[int, dict[str, Any]]:
    """Run the search of the scenario at ``path``; returns (exit code, result as a dict)."""
    sc = load_scenario(path)
    if sc.search is None:
        raise ConfigError("the scenario has no search: section", file=str(path), field="search",
                          fix="add search: {rate: 10/s, actions: [...], slo: {p95: 1s, served: 0.99}, forecast: 4}")
    if forecast is not None:
        sc = dataclasses.replace(sc, search=dataclasses.replace(sc.search, forecast=forecast))
    out = timeline_file(report_dir, f"capacity-{Path(path).stem}")
    code = 0
    t0 = time.monotonic()
    with environment_for(load_stack(sc.environment, sc.switches), attach=attach, progress=say) as env:
        try:
            with drill_run(env, name=f"capacity {sc.title}", report_dir=report_dir, timeline=out,
                           progress=say, allure_steps=False,
                           meta={"scenario": sc.title, "fault": sc.fault_label, "source": sc.source}) as drill:
                run_scenario(sc, drill)
        except DrillFailed as exc:
            code = 1
            for v in exc.verdicts:
                say(f"drill failed: {v.sentence}")
        tl = drill.timeline
    rec = next((r for r in tl.of("search")), None)
    if rec is None:
        raise DrillkitError("the search wrote no result", fix=f"see the timeline {out}")
    say("")
    for line in step_table(rec["steps"]):
        say(line)
    say("")
    say(f"{sc.environment_name}: {rec['sentence']} (SLO per step: {rec['slo']}; {time.monotonic() - t0:.0f} s)")
    if rec.get("covered") is False:
        code = 1
    return code, {"exit_code": code, "scenario": str(path), "environment": sc.environment_name,
                  "broke_at": rec["broke_at"], "held_at": rec["held_at"], "forecast": rec.get("forecast"),
                  "covered": rec.get("covered"), "sentence": rec["sentence"], "steps": rec["steps"],
                  "timeline": str(out)}


def main(args: Any) -> int:
    """The CLI's ``capacity`` subcommand (``drillkit.cli`` wires its arguments)."""
    code, result = run_capacity(args.scenario, forecast=args.forecast, attach=args.attach,
                                report_dir=args.report_dir,
                                say=(lambda m: print(m, flush=True)) if not args.json else
                                (lambda m: print(m, file=sys.stderr, flush=True)))
    if args.json:
        print(json.dumps(result), flush=True)
    return code

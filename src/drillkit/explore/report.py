"""An exploration as the report pipeline sees it: one `DrillResult` per exploration (its name is the
file's, so history and "what changed" follow it from night to night), carrying the finding's failing
run (its verdicts and timeline give the summary its figures) and, in ``explored``, everything the
explore writers and pages show: the finding, how it was found, the scenario that reproduces it,
intermittent schedules, what was covered, the reset times and the random baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from drillkit.explore.durations import format_elapsed
from drillkit.explore.finding import BaselineResult, Exploration, Failure, Finding, Intermittent
from drillkit.explore.lab import LabRunner
from drillkit.explore.section import Exploring
from drillkit.report.summary import DrillResult

__all__ = ["explored", "drill_result", "outcome_of_exploration"]


def _failure(f: Failure) -> dict[str, Any]:
    out = {"schedule": f.schedule.text, "size": f.schedule.size, "failures": f.failures, "runs": f.runs,
           "rate": round(f.rate, 3), "verdicts": list(f.verdicts), "broken": list(f.broken), "first_run": f.first_run}
    if isinstance(f, Intermittent):
        out["confirmed"] = f.confirmed
        out["sentence"] = f.sentence()
    return out


def _finding(f: Finding, written: Sequence[Path], timeline: Path | None) -> dict[str, Any]:
    return {"schedule": f.schedule.text, "size": f.schedule.size, "first": f.first.text, "first_size": f.first.size,
            "faults": [d.to_fault() for d in f.schedule.faults], "verdicts": list(f.verdicts),
            "broken": list(f.broken), "how": f.how(), "found_run": f.found_run,
            "found_after": round(f.found_after, 1), "shrink_runs": f.shrink_runs,
            "reproduced": list(f.reproduced), "fully_shrunk": f.fully_shrunk,
            "scenario": str(written[0]) if written else None, "copies": [str(p) for p in written[1:]],
            "timeline": str(timeline) if timeline else None}


def baseline_dict(b: BaselineResult) -> dict[str, Any]:
    return {"schedule": b.schedule.text if b.schedule else None, "size": b.size, "found_run": b.found_run,
            "found_after": round(b.found_after, 1) if b.found_after is not None else None,
            "reproduced": list(b.reproduced) if b.reproduced else None, "verdicts": list(b.verdicts),
            "runs": b.coverage.runs, "elapsed": round(b.coverage.elapsed, 1), "stopped": b.stopped,
            "intermittent": [_failure(i) for i in b.intermittent], "sentences": b.sentences()}


def explored(exploring: Exploring, exploration: Exploration, runner: LabRunner, *,
             written: Sequence[Path] = (), baseline: BaselineResult | None = None,
             stopped_by: str | None = None) -> dict[str, Any]:
    """Everything the report shows about one exploration, as plain data (summary.json's ``explored``)."""
    cov = exploration.coverage
    finding = exploration.finding
    run = runner.failing_run(finding.schedule) if finding is not None else None
    return {
        "file": str(exploring.path), "stack": exploring.stack.stack, "environment": exploring.stack.name,
        "switches": dict(exploring.switches), "seed": exploring.vocabulary.seed,
        "vocabulary": exploring.vocabulary.describe(), "options": len(exploring.vocabulary.options),
        "budget": exploring.vocabulary.budget.text(), "stopped": exploration.stopped, "stopped_by": stopped_by,
        "finding": _finding(finding, written, run.timeline if run else None) if finding is not None else None,
        "others": [_failure(o) for o in exploration.others],
        "intermittent": [_failure(i) for i in exploration.intermittent],
        "coverage": {"runs": cov.runs, "schedules": cov.schedules, "elapsed": round(cov.elapsed, 1),
                     "not_judged": cov.not_judged, "kinds": dict(sorted(cov.kinds.items())),
                     "targets": dict(sorted(cov.targets.items())), "faults": dict(sorted(cov.faults.items())),
                     "first_failure_run": exploration.first_failure_run},
        "measured": runner.measured(),
        "sentences": exploration.sentences(),
        "notes": list(exploration.notes),
        "baseline": baseline_dict(baseline) if baseline is not None else None,
    }


def outcome_of_exploration(exploration: Exploration, runner: LabRunner, baseline: BaselineResult | None = None,
                           stopped_by: str | None = None) -> str:
    """The exploration's outcome in the words of every other drill: ``failed`` when a promise broke (a
    finding, a confirmed failure of other promises, an intermittent or unconfirmed failure — each
    a real run that broke it), ``interrupted``, ``not-judged`` / ``broken`` when runs could not be
    judged and nothing failed (``not-judged`` when the steady state was what failed), else
    ``passed`` (every judged run held)."""
    failed = exploration.finding is not None or exploration.others or exploration.intermittent or (
        baseline is not None and (baseline.schedule is not None or baseline.intermittent))
    if failed:
        return "failed"
    if stopped_by or exploration.stopped == "interrupted":
        return "interrupted"
    judged = exploration.coverage.runs - exploration.coverage.not_judged
    if exploration.stopped in ("lab", "flaky") or judged == 0:
        unjudged = [r.outcome for r in runner.runs if r.outcome not in ("passed", "failed")]
        return "not-judged" if unjudged and unjudged[-1] == "not-judged" else "broken"
    return "passed"


def drill_result(exploring: Exploring, exploration: Exploration, runner: LabRunner, data: dict[str, Any],
                 outcome: str) -> DrillResult:
    """The exploration as one drill of the report (name: ``explore <file>``)."""
    finding = exploration.finding
    run = runner.failing_run(finding.schedule) if finding is not None else None
    if run is None:   # no finding: a confirmed failure of other promises, or an intermittent one, shows
        failing = [*exploration.others, *exploration.intermittent]
        run = next((runner.failing_run(f.schedule) for f in failing if runner.failing_run(f.schedule)), None)
    kinds = sorted({d.name for d in finding.schedule.faults}) if finding is not None else []
    fault = "explore" + (f": {' + '.join(kinds)}" if kinds else "")
    title = exploring.scenario.title
    if finding is not None:
        sentences = [f"found: {finding.schedule.text}", *finding.verdicts, finding.how()]
    elif outcome == "failed":
        sentences = [s for s in exploration.sentences() if "failed" in s][:3]
    elif outcome == "passed":
        cov = exploration.coverage
        sentences = [f"nothing failed in {cov.runs} runs of {cov.schedules} schedules ({format_elapsed(cov.elapsed)})"]
    else:
        sentences = list(exploration.notes) or [f"stopped: {exploration.stopped}"]
        if runner.runs and runner.runs[-1].sentences:
            sentences.append(runner.runs[-1].sentences[0])
    result = DrillResult(name=exploring.name, stack=exploring.stack.stack, fault=fault,
                         scenario=f"{title} — explored", outcome=outcome,
                         verdicts=list(run.result.verdicts) if run is not None and run.result is not None else [],
                         timeline_path=run.timeline if run is not None else None,
                         duration=exploration.elapsed, sentences=sentences, explored=data)
    return result

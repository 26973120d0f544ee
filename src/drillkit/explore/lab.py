"""The real `TrialRunner`: each schedule runs as the scenario's ``faults:`` on one environment that
stays up between trials and is reset in between.

A trial is an ordinary drill: the base scenario with the schedule as its faults (`Schedule.to_scenario`)
is validated like any scenario file and run by the scenario runner through the one drill lifecycle
(`drillkit.drill.drill_run` + `drillkit.scenario.runner.run_scenario`), judged by the scenario's
``expect:``. Its outcome becomes the `TrialResult`: ``failed`` (a verdict failed: the broken promises
are the failed verdicts' table keys), ``passed``, or not judged (the steady state did not hold before
any fault, or the lab failed) — a bug in drillkit raises.

Between trials: `Environment.reset` (toxics removed, links up, nodes started, unpaused and healthy)
and then the stack's reset steps (``x-drillkit.reset``), timed on the next trial's timeline; the
time of both is the reset time (`LabRunner.resets`). A trial that handed nodes over to a runbook (a
primary fenced by ``promote-replica``) leaves a stack reset cannot bring back: the next trial gets a
fresh environment (`LabRunner.fresh`).

Each trial's timeline is written under ``<report_dir>/explore/<stack>/``; those of trials that
passed are removed afterwards (dozens of them say nothing a finding needs).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from drillkit.drill import DrillFailed, drill_run, environment_for
from drillkit.errors import ConfigError, DrillkitError, one_line
from drillkit.explore.schedule import Schedule, scenario_yaml
from drillkit.explore.section import SECTIONS, Exploring
from drillkit.explore.trial import TrialResult
from drillkit.lab.environment import Environment
from drillkit.report.summary import DrillResult
from drillkit.scenario.runner import run_scenario
from drillkit.scenario.validate import validate_text

__all__ = ["LabRunner", "TrialRun"]


@dataclass
class TrialRun:
    """One run of the environment, as the runner keeps it."""

    number: int
    schedule: Schedule
    outcome: str                           # passed | failed | not-judged | broken
    result: DrillResult | None
    reset: float | None = None             # seconds: Environment.reset + the stack's reset steps
    fresh: float | None = None             # seconds: a fresh environment instead of a reset
    timeline: Path | None = None
    sentences: tuple[str, ...] = ()


@dataclass
class _Stats:
    values: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        v = self.values
        return {"count": len(v), "median": round(statistics.median(v), 3) if v else None,
                "max": round(max(v), 3) if v else None, "total": round(sum(v), 3)}


class LabRunner:
    """Runs schedules on the exploration's stack (see the module docstring); a context manager that
    removes the environment it brought up (also after Ctrl-C or SIGTERM). ``status``: what happens
    now (the live view's spinner); ``say``: lines worth a line of their own."""

    def __init__(self, exploring: Exploring, *, report_dir: str | Path = "reports", backend: str | None = None,
                 say: Callable[[str], None] = print, status: Callable[[str], None] | None = None,
                 keep_timelines: bool = False):
        self.exploring = exploring
        self.report_dir = Path(report_dir)
        self.backend = backend
        self.say = say
        self.status = status or (lambda text: None)
        self.keep_timelines = keep_timelines
        self.folder = self.report_dir / "explore" / exploring.stack.stack
        self.env: Environment | None = None
        self.runs: list[TrialRun] = []
        self.resets = _Stats()
        self.fresh = _Stats()
        self.startup = _Stats()
        self._envs = contextlib.ExitStack()
        self._clean = False          # the environment has just come up: nothing to reset
        self.interrupted_by: str | None = None   # SIGINT | SIGTERM, when a signal stopped a trial
        self._base = {k: v for k, v in exploring.base.items() if k != "explore"}

    # -- the environment --------------------------------------------------------------------------------
    def __enter__(self) -> "LabRunner":
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("trial-*.jsonl"):   # an earlier exploration's: the numbers start again
            old.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._envs.close()
        self.env = None

    def _up(self) -> float:
        t = time.monotonic()
        self._envs = contextlib.ExitStack()
        self.env = self._envs.enter_context(environment_for(self.exploring.stack, backend=self.backend,
                                                            progress=self.status))
        self._clean = True
        return time.monotonic() - t

    def start(self) -> None:
        """Bring the environment up now (before the first trial), so start-up is not a trial's time."""
        if self.env is None:
            self.say(f"drill: {self.exploring.stack.name}: starting the environment")
            try:
                took = self._up()
            except KeyboardInterrupt as exc:
                self.interrupted_by = "SIGTERM" if "SIGTERM" in str(exc) else "SIGINT"
                raise
            self.startup.values.append(took)
            self.say(f"drill: {self.exploring.stack.name}: up in {took:.0f} s (run {self.env.run_id})")

    def _ready(self) -> tuple[float | None, float | None]:
        """The environment ready for the next trial: (reset seconds, fresh start-up seconds)."""
        if self.env is None:
            took = self._up()
            self.startup.values.append(took)
        if self._clean:
            self._clean = False
            return None, None
        if self.env.left_as_is:
            why = "; ".join(sorted(set(self.env.left_as_is.values())))
            self.say(f"drill: {why}: reset cannot bring that back, so the next trial gets a fresh environment")
            self.close()
            took = self._up()
            self._clean = False
            self.fresh.values.append(took)
            return None, took
        t = time.monotonic()
        self.env.reset()
        return time.monotonic() - t, None

    # -- one trial ---------------------------------------------------------------------------------------
    def scenario_text(self, schedule: Schedule) -> str:
        return scenario_yaml(schedule.to_scenario(self._base))

    def run(self, schedule: Schedule) -> TrialResult:
        try:
            return self._run(schedule)
        except KeyboardInterrupt as exc:   # Ctrl-C or SIGTERM (environment_for turns it into this)
            self.interrupted_by = "SIGTERM" if "SIGTERM" in str(exc) else "SIGINT"
            raise

    def _run(self, schedule: Schedule) -> TrialResult:
        number = len(self.runs) + 1
        try:
            reset, fresh = self._ready()
        except DrillkitError as exc:     # the lab failed to come back: this run is not judged
            self.close()
            sentence = f"lab error before trial {number}: {one_line(str(exc))}"
            self.runs.append(TrialRun(number, schedule, "broken", None, sentences=(sentence,)))
            return TrialResult(False, (sentence,), {"trial": number}, judged=False)
        try:
            scenario = validate_text(self.scenario_text(schedule), self.exploring.path, sections={})
        except ConfigError as exc:   # the engine drew what the validator refuses: drillkit's bug
            raise RuntimeError(f"drill explore drew a schedule the scenario validator refuses: {exc}") from exc
        stack = self.exploring.stack
        name = f"{self.exploring.name} trial {number}"
        timeline = self.folder / f"trial-{number:04d}.jsonl"
        meta = {"stack": stack.stack, "fault": "explore", "scenario": f"trial {number}: {schedule.text}",
                "source": f"drill explore {self.exploring.path}", "nodeid": name}
        self.status(f"trial {number}: {schedule.text}")
        drill = None
        steps_took = 0.0
        try:
            with drill_run(self.env, name=name, report_dir=self.report_dir, meta=meta, timeline=timeline,
                           progress=self._drill_progress(number), allure_steps=False, report=False) as drill:
                if stack.reset is not None and reset is not None:
                    t = time.monotonic()
                    drill.runbook(stack.reset)
                    steps_took = time.monotonic() - t
                run_scenario(scenario, drill)
        except (DrillFailed, DrillkitError):   # how it ended is drill.result's
            pass
        result = drill.result
        if reset is not None:
            reset += steps_took
            self.resets.values.append(reset)
        outcome = result.outcome
        sentences = tuple(result.sentences) or tuple(v.sentence for v in result.verdicts if v.failed)
        run = TrialRun(number, schedule, outcome, result, reset, fresh, timeline, sentences)
        self.runs.append(run)
        if outcome == "passed" and not self.keep_timelines:
            timeline.unlink(missing_ok=True)
            run.timeline = None
        broken = tuple(dict.fromkeys(v.kind or v.name for v in result.verdicts if v.failed))
        details = {"trial": number, "outcome": outcome, "timeline": str(run.timeline) if run.timeline else None,
                   "reset": reset, "fresh": fresh, "duration": round(result.duration, 3)}
        if outcome == "failed":
            return TrialResult(True, sentences, details, broken=broken or ("promise",))
        if outcome == "passed":
            return TrialResult(False, (), details)
        return TrialResult(False, sentences, details, judged=False)

    def _drill_progress(self, number: int) -> Callable[[str], None]:
        def progress(text: str) -> None:
            self.status(f"trial {number}: {text}")
        return progress

    # -- afterwards ------------------------------------------------------------------------------------
    def failing_run(self, schedule: Schedule) -> TrialRun | None:
        """The last run of ``schedule`` that failed (its verdicts and timeline go into the report)."""
        return next((r for r in reversed(self.runs) if r.outcome == "failed" and r.schedule.text == schedule.text),
                    None)

    def measured(self) -> dict[str, Any]:
        """Reset, fresh start-up and trial times, for the report and the benchmark."""
        trials = [r.result.duration for r in self.runs if r.result is not None]
        return {"resets": self.resets.summary(), "fresh_environments": self.fresh.summary(),
                "startup": self.startup.summary(),
                "trial": {"count": len(trials), "median": round(statistics.median(trials), 3) if trials else None,
                          "max": round(max(trials), 3) if trials else None}}

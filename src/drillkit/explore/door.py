"""``drill explore FILE`` as a function: load the exploration, bring its environment up once, search
(and, when asked, run the random baseline in the same budget), write the finding as a scenario
(``<report_dir>/found/<stack>-<n>.yaml``, and a copy in ``write_to``), and report through the one
pipeline — summary, history, Allure, management page — like any drill run.

`run_exploration` is the Python door (``drillkit.explore.run_exploration("explorations/x.yaml")``, or
a scenario given as a mapping); the CLI's ``drill explore`` calls it. The outcome is a
`drillkit.outcome.RunOutcome` with one drill — the exploration — so the exit code and ``--json`` mean
what they mean for ``drill run``: 0 nothing failed, 1 a promise broke (a finding; also an
intermittent one), 2 the lab or the input failed or nothing could be judged, 130/143 interrupted
(what was found so far is kept and written).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from drillkit.errors import ConfigError
from drillkit.explore.baseline import random_baseline
from drillkit.explore.durations import parse_duration
from drillkit.explore.finding import BaselineResult, Exploration
from drillkit.explore.lab import LabRunner
from drillkit.explore.report import drill_result, explored, outcome_of_exploration
from drillkit.explore.schedule import scenario_yaml
from drillkit.explore.search import explore
from drillkit.explore.section import Exploring, base_for, load_exploration
from drillkit.explore.trial import Progress
from drillkit.explore.vocabulary import Budget
from drillkit.lab.engine import client, engine_facts
from drillkit.outcome import DrillOutcome, RunOutcome
from drillkit.report import pipeline

__all__ = ["run_exploration", "parse_budget", "ExploreRun", "DATABASE", "FOUND"]

DATABASE = "explore-db"      # hypothesis' example database, under the report directory
FOUND = "found"              # the findings' scenario files, under the report directory


def parse_budget(text: str, *, origin: str = "--budget") -> Budget:
    """``8m`` (time), ``40`` (trials) or both, ``8m,40``: a `Budget`; `ConfigError` naming ``origin``."""
    time_s: float | None = None
    trials: int | None = None
    parts = [p.strip() for p in re.split(r"[,/ ]+", str(text).strip()) if p.strip()]
    if not parts or len(parts) > 2:
        raise ConfigError(f"{text!r} is not a budget", field=origin,
                          fix="a time (8m, 90s), a number of trials (40), or both (8m,40)")
    for part in parts:
        if re.fullmatch(r"\d+", part):
            if trials is not None or int(part) < 1:
                raise ConfigError(f"{text!r} is not a budget", field=origin, fix="one number of trials ≥ 1, e.g. 40")
            trials = int(part)
            continue
        try:
            seconds = parse_duration(part)
        except ValueError:
            raise ConfigError(f"{part!r} is neither a time nor a number of trials", field=origin,
                              fix="a time (8m, 90s), a number of trials (40), or both (8m,40)") from None
        if time_s is not None or seconds <= 0:
            raise ConfigError(f"{text!r} is not a budget", field=origin, fix="one time longer than 0, e.g. 8m")
        time_s = seconds
    return Budget(time=time_s, trials=trials)


@dataclass
class ExploreRun:
    """What one ``drill explore`` came to: the run (exit code, counts, reports, errors) and the
    exploration's own data (``explored``: the finding, coverage, resets, baseline)."""

    run: RunOutcome
    explored: dict[str, Any] | None = None
    written: list[Path] = field(default_factory=list)
    exploration: Exploration | None = None
    baseline: BaselineResult | None = None

    @property
    def exit_code(self) -> int:
        return self.run.exit_code

    def as_json(self) -> dict[str, Any]:
        return {**self.run.as_json(), "explore": self.explored}


def _scenario_file(scenario: str | os.PathLike | Mapping[str, Any], holder: list[str]) -> Path:
    """A path as it is; a mapping written as a scenario file in the current folder's context (so a
    relative ``environment:`` means what it means there), removed afterwards."""
    if not isinstance(scenario, Mapping):
        return Path(scenario)
    fd, name = tempfile.mkstemp(prefix=".drill-explore-", suffix=".yaml", dir=".")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(scenario_yaml(dict(scenario)))
    holder.append(name)
    return Path(name)


def run_exploration(scenario: str | os.PathLike | Mapping[str, Any], *, budget: Budget | str | None = None,
                    seed: int | None = None, switches: Mapping[str, str] | None = None, baseline: bool = False,
                    write_to: str | os.PathLike | None = None, report_dir: str | os.PathLike = "reports",
                    backend: str | None = None, say: Callable[[str], None] = print,
                    status: Callable[[str], None] | None = None, html: bool = True, pdf: bool = True,
                    keep_results: bool = False) -> ExploreRun:
    """Explore a scenario file (or a scenario given as a mapping, as YAML would say it) — see the
    module docstring. ``budget``/``seed`` override the file's; ``switches`` choose defect variants;
    ``baseline``: also spend the same budget on uniform random schedules (Jepsen's random nemesis),
    side by side; ``say``: lines for people (progress, the finding); ``status``: what happens now."""
    started = time.monotonic()
    temp: list[str] = []
    try:
        path = _scenario_file(scenario, temp)
        if isinstance(budget, str):
            budget = parse_budget(budget)
        exploring = load_exploration(path, switches=switches, budget=budget, seed=seed)
        return _explore(exploring, baseline=baseline, write_to=write_to, report_dir=Path(report_dir),
                        backend=backend, say=say, status=status, html=html, pdf=pdf, keep_results=keep_results,
                        started=started)
    finally:
        for name in temp:
            Path(name).unlink(missing_ok=True)


def _explore(exploring: Exploring, *, baseline: bool, write_to: Any, report_dir: Path, backend: str | None,
             say: Callable[[str], None], status: Callable[[str], None] | None, html: bool, pdf: bool,
             keep_results: bool, started: float) -> ExploreRun:
    v = exploring.vocabulary
    results_dir = report_dir / "allure-results"
    if results_dir.exists() and not keep_results:
        shutil.rmtree(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    say(f"drill: exploring {exploring.path} ({exploring.stack.name}"
        + (f", {', '.join(f'{k}={x}' for k, x in exploring.switches.items())}" if exploring.switches else "") + ")")
    say(f"drill: {v.describe()}")
    run = RunOutcome()
    written: list[Path] = []
    exploration: Exploration | None = None
    base_result: BaselineResult | None = None

    def on_progress(p: Progress) -> None:
        say(f"drill: {p.line()}")

    runner = LabRunner(exploring, report_dir=report_dir, backend=backend, say=say, status=status)
    stopped_by: str | None = None
    with runner:
        try:
            runner.start()
            exploration = explore(v, runner, database=report_dir / DATABASE, progress=on_progress)
            if exploration.stopped == "interrupted":
                stopped_by = runner.interrupted_by or "SIGINT"
            elif baseline:
                say(f"drill: the random baseline, same budget ({v.budget.text()}): uniform schedules, no shrinking")
                base_result = random_baseline(v, runner, progress=on_progress)
                if base_result.stopped == "interrupted":
                    stopped_by = runner.interrupted_by or "SIGINT"
        except KeyboardInterrupt as exc:   # while the environment came up: nothing was tried
            stopped_by = runner.interrupted_by or ("SIGTERM" if "SIGTERM" in str(exc) else "SIGINT")
        if exploration is not None and exploration.finding is not None:   # before the lab goes: Ctrl-C keeps it
            written = _write_finding(exploring, exploration, report_dir, write_to, say)
    run.signal = stopped_by
    run.duration = time.monotonic() - started
    if exploration is None:
        run.errors.append(f"stopped by {stopped_by} before the first trial; nothing was judged")
        return ExploreRun(run)
    for line in exploration.sentences():
        say(f"drill: {line}")
    if base_result is not None:
        for line in base_result.sentences():
            say(f"drill: {line}")
    m = runner.measured()
    if m["resets"]["count"]:
        say(f"drill: reset between trials: median {m['resets']['median']:.2f} s, max {m['resets']['max']:.2f} s "
            f"({m['resets']['count']} resets)" + (f"; {m['fresh_environments']['count']} fresh environment(s), "
                                                  f"median {m['fresh_environments']['median']:.0f} s"
                                                  if m["fresh_environments"]["count"] else ""))
    data = explored(exploring, exploration, runner, written=written, baseline=base_result, stopped_by=stopped_by)
    outcome = outcome_of_exploration(exploration, runner, base_result, stopped_by)
    result = drill_result(exploring, exploration, runner, data, outcome)
    run.drills = [DrillOutcome(name=result.name, outcome=outcome, title=result.scenario, stack=result.stack,
                               fault=result.fault, source=f"drill explore, seed {v.seed}",
                               sentences=list(result.sentences), duration=exploration.elapsed,
                               timeline=str(result.timeline_path) if result.timeline_path else None)]
    _report(result, exploring, report_dir, run, html=html and not stopped_by, pdf=pdf and not stopped_by, say=say)
    if written:
        run.reports["finding"] = str(written[0])
    return ExploreRun(run, data, written, exploration, base_result)


def _write_finding(exploring: Exploring, exploration: Exploration, report_dir: Path, write_to: Any,
                   say: Callable[[str], None]) -> list[Path]:
    finding = exploration.finding
    out = []
    for directory in [report_dir / FOUND, *([Path(write_to)] if write_to else [])]:
        directory.mkdir(parents=True, exist_ok=True)
        path = finding.write(directory, base_for(exploring, directory))
        out.append(path)
    say(f"drill: the finding as a scenario: {out[0]} (reproduce it: drill run {out[0]})")
    for p in out[1:]:
        say(f"drill: a copy for the catalogue: {p}")
    return out


def _report(result: Any, exploring: Exploring, report_dir: Path, run: RunOutcome, *, html: bool, pdf: bool,
            say: Callable[[str], None]) -> None:
    used = {exploring.stack.name: exploring.stack}
    try:
        engine = engine_facts(client(), used)
    except Exception:   # no engine to ask: the facts that need it are left out
        engine = None
    pipeline.finish_session([result], report_dir, alluredir=str(report_dir / "allure-results"), used=used,
                            probe_interval=0.05, root=Path.cwd(), engine=engine)
    summary = report_dir / "summary.json"
    if summary.is_file():
        run.reports["summary"] = str(report_dir / "summary.md")
        run.reports["summary_json"] = str(summary)
    written, errors = pipeline.build_pages(report_dir, html=html, pdf=pdf, progress=say)
    run.reports.update(written)
    run.errors.extend(errors)


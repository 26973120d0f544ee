"""Trials: one schedule run on the stack, judged by its promises, and confirmed.

`TrialRunner` is the seam to the real world: ``run(schedule) -> TrialResult``. The real one runs the
schedule as a scenario on an environment kept up and reset between trials; the unit tests use a
simulated stack. `Trials` spends the budget run by run (every run counts: first runs, confirmations,
shrinking), confirms a failure by running it again (``confirm`` of ``confirm`` runs must fail), and
reports one that does not fail every time as *intermittent* with its rate over ``confirm + 1`` runs —
a real stack is not deterministic, and a schedule that failed once is data, not noise.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from drillkit.explore.durations import format_elapsed
from drillkit.explore.schedule import Schedule
from drillkit.explore.vocabulary import Budget

__all__ = ["TrialResult", "TrialRunner", "Judgement", "Progress", "Coverage", "Trials", "BudgetSpent", "LabTrouble",
           "RunnerCrashed", "LAB_PATIENCE"]

#: runs in a row that could not be judged (lab errors, steady state not met) before an exploration stops
LAB_PATIENCE = 3


@dataclass(frozen=True)
class TrialResult:
    """What one run of a schedule showed. ``failed``: a promise (an ``expect:`` verdict) was broken;
    ``sentences``: the verdicts' sentences; ``broken``: the names of the broken promises (which defect
    it is: shrinking keeps to the same ones, so it does not slip to another defect); ``judged`` False:
    the run could not be judged (lab error, steady state not met) — neither a pass nor a failure;
    ``details``: anything the runner wants to keep (run id, report path)."""

    failed: bool
    sentences: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    broken: tuple[str, ...] = ()
    judged: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentences", tuple(self.sentences))
        object.__setattr__(self, "broken", tuple(self.broken))
        if self.failed and not self.judged:
            raise ValueError("a trial that was not judged cannot have failed")

    @property
    def defect(self) -> tuple[str, ...]:
        """Which defect this is: the broken promises (all failures alike when the runner names none)."""
        return tuple(sorted(set(self.broken))) or ("promise",)


@runtime_checkable
class TrialRunner(Protocol):
    def run(self, schedule: Schedule) -> TrialResult: ...


@dataclass(frozen=True)
class Judgement:
    """A schedule's runs and what they add up to: ``passed``, ``failed`` (confirmed: every one of
    ``confirm`` runs failed), ``intermittent`` (some of ``confirm + 1`` runs failed), ``unconfirmed``
    (failed, but the budget ran out before confirmation) or ``not_judged``."""

    schedule: Schedule
    verdict: str
    results: tuple[TrialResult, ...]
    first_run: int                       # the number of its first run (1 = the exploration's first)
    first_failure_at: float | None = None  # seconds from the start to the end of its first failing run

    @property
    def judged(self) -> tuple[TrialResult, ...]:
        return tuple(r for r in self.results if r.judged)

    @property
    def failures(self) -> int:
        return sum(r.failed for r in self.results)

    @property
    def runs(self) -> int:
        return len(self.judged)

    @property
    def rate(self) -> float:
        return self.failures / self.runs if self.runs else 0.0

    @property
    def failing(self) -> TrialResult | None:
        return next((r for r in self.results if r.failed), None)

    @property
    def defect(self) -> tuple[str, ...]:
        f = self.failing
        return f.defect if f is not None else ()


@dataclass(frozen=True)
class Progress:
    """Told after every run: run k of the budget, the schedule and how it went, the best finding so far."""

    run: int
    budget: Budget
    elapsed: float
    phase: str                  # search | confirm | shrink | baseline
    schedule: Schedule
    result: TrialResult
    best: Schedule | None

    def line(self) -> str:
        of = f"/{self.budget.trials}" if self.budget.trials else ""
        outcome = "failed" if self.result.failed else "passed" if self.result.judged else "not judged"
        best = f"; best so far: {self.best.size} fault(s)" if self.best is not None else ""
        return f"trial {self.run}{of} ({self.phase}, {self.elapsed:.0f} s): {self.schedule.text} — {outcome}{best}"


@dataclass
class Coverage:
    """What was tried: runs, distinct schedules, time, and per kind, target and fault how many runs had it."""

    runs: int = 0
    schedules: int = 0
    elapsed: float = 0.0
    not_judged: int = 0
    kinds: Counter = field(default_factory=Counter)
    targets: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)

    def add(self, schedule: Schedule, result: TrialResult) -> None:
        self.runs += 1
        if not result.judged:
            self.not_judged += 1
        for d in schedule.faults:
            self.kinds[d.name] += 1
            self.targets[d.target.label if d.target is not None else d.name] += 1
            self.faults[d.label] += 1

    def sentences(self) -> list[str]:
        out = [f"{self.runs} runs of {self.schedules} schedules in {format_elapsed(self.elapsed)}"
               + (f", {self.not_judged} not judged" if self.not_judged else "")]
        if self.kinds:
            out.append("runs per kind: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())))
            out.append("runs per target: " + ", ".join(f"{k} {n}" for k, n in sorted(self.targets.items())))
        return out


class BudgetSpent(BaseException):
    """The budget allows no further run. A BaseException so that hypothesis, which treats an
    Exception as the test failing, lets it through: the search stops where it is."""


class RunnerCrashed(BaseException):
    """The runner (or the progress callback) raised: a bug or a dead lab, not a finding. A BaseException
    so that hypothesis does not take it for a failing schedule and shrink it, calling the runner again
    and again; `explore` and `random_baseline` raise the original exception."""

    def __init__(self, original: BaseException):
        super().__init__(repr(original))
        self.original = original


class LabTrouble(BaseException):
    """Several runs in a row could not be judged: the lab, not the stack, is failing."""

    def __init__(self, sentences: tuple[str, ...]):
        super().__init__("; ".join(sentences))
        self.sentences = sentences


class Trials:
    """Runs schedules on a `TrialRunner` within a budget, confirms failures, counts and tells progress.
    ``clock`` is any monotonic seconds function (tests pass a fake one)."""

    def __init__(self, runner: TrialRunner, budget: Budget, *, confirm: int = 2,
                 clock: Callable[[], float] = time.monotonic, progress: Callable[[Progress], None] | None = None):
        self.runner = runner
        self.budget = budget
        self.confirm = confirm
        self.clock = clock
        self.progress = progress
        self.started = clock()
        self.runs = 0
        self.longest = 0.0
        self.phase = "search"
        self.best: Schedule | None = None
        self.coverage = Coverage()
        self.trace: list[str] = []
        self.unjudged_in_a_row = 0
        self.last_unjudged: tuple[str, ...] = ()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def can_run(self) -> bool:
        """Whether one more run fits: within the trials, and — judged by the longest run so far — it
        would end within the time."""
        if self.budget.trials is not None and self.runs >= self.budget.trials:
            return False
        if self.budget.time is not None and self.elapsed + self.longest > self.budget.time:
            return False
        return True

    def run(self, schedule: Schedule) -> TrialResult:
        if not self.can_run():
            raise BudgetSpent()
        begun = self.clock()
        try:
            result = self.runner.run(schedule)
            if not isinstance(result, TrialResult):
                raise TypeError(f"TrialRunner.run returned {type(result).__name__}, not a TrialResult")
        except Exception as exc:
            raise RunnerCrashed(exc) from exc
        self.longest = max(self.longest, self.clock() - begun)
        self.runs += 1
        self.trace.append(schedule.text)
        self.coverage.add(schedule, result)
        self.coverage.elapsed = self.elapsed
        if self.progress is not None:
            try:
                self.progress(Progress(self.runs, self.budget, self.elapsed, self.phase, schedule, result, self.best))
            except Exception as exc:
                raise RunnerCrashed(exc) from exc
        if result.judged:
            self.unjudged_in_a_row = 0
        else:
            self.unjudged_in_a_row += 1
            self.last_unjudged = result.sentences
            if self.unjudged_in_a_row >= LAB_PATIENCE:
                raise LabTrouble(result.sentences)
        return result

    def judge(self, schedule: Schedule, *, on_partial: Callable[[Judgement], None] | None = None) -> Judgement:
        """Run the schedule and confirm a failure (see the module docstring). When the budget runs out
        midway, ``on_partial`` gets what is known (``unconfirmed`` after a failure) before
        `BudgetSpent` goes on up."""
        results: list[TrialResult] = []
        first_run = self.runs + 1
        first_failure_at: float | None = None
        outer = self.phase
        try:
            while True:
                judged = [r for r in results if r.judged]
                failures = sum(r.failed for r in judged)
                if judged and not judged[0].failed:
                    return Judgement(schedule, "passed", tuple(results), first_run)
                if judged and failures == len(judged) == self.confirm:
                    return Judgement(schedule, "failed", tuple(results), first_run, first_failure_at)
                if len(judged) == self.confirm + 1:
                    return Judgement(schedule, "intermittent", tuple(results), first_run, first_failure_at)
                if len(results) - len(judged) >= LAB_PATIENCE:
                    return Judgement(schedule, "not_judged", tuple(results), first_run)
                if judged:
                    self.phase = "confirm"
                result = self.run(schedule)
                if not results:
                    self.coverage.schedules += 1
                results.append(result)
                if result.failed and first_failure_at is None:
                    first_failure_at = self.elapsed
        except BudgetSpent:
            if on_partial is not None and any(r.failed for r in results):
                on_partial(Judgement(schedule, "unconfirmed", tuple(results), first_run, first_failure_at))
            raise
        finally:
            self.phase = outer

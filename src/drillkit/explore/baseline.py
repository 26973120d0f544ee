"""The random baseline: what Jepsen's random nemesis does — uniform random schedules from the same
vocabulary, within the same budget, no shrinking. Failures are confirmed by the same rule as the
guided search's, so "trials to the first confirmed failure" means the same on both sides of a
benchmark; the size of that first failing schedule is what shrinking would have saved.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from drillkit.explore.finding import BaselineResult, Intermittent
from drillkit.explore.schedule import Schedule
from drillkit.explore.trial import BudgetSpent, Judgement, LabTrouble, Progress, RunnerCrashed, Trials, TrialRunner
from drillkit.explore.vocabulary import Pick, Vocabulary

__all__ = ["random_baseline", "uniform_schedule"]


def uniform_schedule(vocabulary: Vocabulary, rng: random.Random) -> Schedule:
    """1..max_faults faults (as many of each size), each option, variant, time and duration uniform;
    laid out by the same rules as the guided search's draws (`Vocabulary.schedule`)."""
    picks = []
    for _ in range(rng.randint(1, vocabulary.max_faults)):
        option = rng.randrange(len(vocabulary.options))
        picks.append(Pick(option, rng.randrange(len(vocabulary.options[option].variants)),
                          rng.randint(0, vocabulary.at_steps), rng.randint(0, vocabulary.duration_steps)))
    users = [(kind, rng.randint(lo, hi)) for kind, (lo, hi) in vocabulary.users.items()]
    return vocabulary.schedule(picks, users)


def random_baseline(vocabulary: Vocabulary, runner: TrialRunner, *, clock: Callable[[], float] = time.monotonic,
                    progress: Callable[[Progress], None] | None = None, seed: int | None = None) -> BaselineResult:
    """Run uniform random schedules until the first confirmed failure or the end of the budget."""
    rng = random.Random(vocabulary.seed if seed is None else seed)
    trials = Trials(runner, vocabulary.budget, confirm=vocabulary.confirm, clock=clock, progress=progress)
    trials.phase = "baseline"
    intermittent: list[Judgement] = []
    found: Judgement | None = None
    stopped = "budget"
    while True:
        try:
            j = trials.judge(uniform_schedule(vocabulary, rng), on_partial=intermittent.append)
        except BudgetSpent:
            break
        except LabTrouble:
            stopped = "lab"
            break
        except KeyboardInterrupt:
            stopped = "interrupted"
            break
        except RunnerCrashed as exc:
            raise exc.original from None
        if j.verdict == "intermittent":
            intermittent.append(j)
        if j.verdict == "failed":
            found, stopped = j, "found"
            break
    trials.coverage.elapsed = trials.elapsed
    failing = found.failing if found is not None else None
    offset = next((i for i, r in enumerate(found.results) if r.failed), 0) if found is not None else 0
    return BaselineResult(
        stack=vocabulary.stack, seed=vocabulary.seed if seed is None else seed, schedule=found.schedule if found else None,
        verdicts=failing.sentences if failing else (), found_run=found.first_run + offset if found else None,
        found_after=found.first_failure_at if found else None,
        reproduced=(found.failures, found.runs) if found else None,
        intermittent=tuple(Intermittent.of(j) for j in intermittent), coverage=trials.coverage, stopped=stopped)

"""The guided search: find a schedule that breaks the promises, confirm it, shrink it — with hypothesis.

Three hypothesis runs, each ``@given`` over a test body that judges the drawn schedule (`Trials`):

1. **find** — ``@given(schedules(vocabulary))``, drawn by the guide (`guide`: schedules planned to
   cover fault pairs, handed to hypothesis as a backend) after hypothesis has replayed its example
   database (earlier findings first). The body raises when a schedule's failure is *confirmed*
   (``confirm`` of ``confirm`` runs fail). Rounds with the next seed follow until the budget is spent
   or nothing new is left to draw.
2. **shrink** — ``@given(subschedules(vocabulary, found))``: the schedules the finding may shrink to
   (faults dropped, milder kinds on the same targets, earlier, shorter, fewer users), its first test
   case the finding itself; hypothesis' shrinker walks it down. The body raises only for a confirmed
   failure of the *same* promises, so shrinking does not slip to another defect nor towards an
   intermittent one. Shrinking inside the finding, not across the whole vocabulary, keeps the runs it
   costs small (a run of a real stack is a minute).
3. **record** — the smallest schedule drawn once more in the vocabulary's own strategy, so hypothesis
   saves it to the example database (no run: every judgement is kept by its canonical schedule, and
   replays, like hypothesis' own final replay, cost nothing and cannot turn out flaky).

Settings are set in full (``deadline=None``, ``derandomize=False``, every health check suppressed, no
*explain* phase, ``report_multiple_bugs=False``, quiet), so a ``CI`` profile or a user's default
profile changes nothing; ``@seed`` makes generation reproducible and the ``database`` setting is
applied over it (``@seed`` alone switches the database off). The budget is honoured on every run,
shrinking included: when it is spent, the body raises `BudgetSpent` (a BaseException, which hypothesis
lets through) and the smallest confirmed failing schedule so far is the finding, marked not fully
shrunk.

``generation="hypothesis"`` runs hypothesis alone instead (its own generation and its shrinker over
the whole vocabulary, in one ``@given``) — the comparison that shows what the guide adds.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable, Iterator

from hypothesis import HealthCheck, Phase, Verbosity, given, reject, seed, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Flaky, HypothesisException

from drillkit.explore.finding import Exploration, Failure, Finding, Intermittent
from drillkit.explore.guide import Guide, planned_backend
from drillkit.explore.schedule import Schedule
from drillkit.explore.strategies import choices, locate_picks, schedules, subschedule_choices, subschedules
from drillkit.explore.trial import (LAB_PATIENCE, BudgetSpent, Judgement, LabTrouble, Progress, RunnerCrashed, Trials,
                                    TrialRunner)
from drillkit.explore.vocabulary import Vocabulary

__all__ = ["explore", "database_path", "hypothesis_settings", "GENERATIONS"]

GENERATIONS = ("guided", "hypothesis")
#: a find round draws this many examples when only a time budget bounds the search
ROUND_EXAMPLES = 1000
#: a later round draws at least this many, so that one without a new schedule means none is left
MIN_ROUND_EXAMPLES = 100
_FIND = (Phase.explicit, Phase.reuse, Phase.generate)
_ALL = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)   # no explain: it
_SHRINK = (Phase.generate, Phase.shrink)                                          # runs variations


class _Broken(AssertionError):
    """The body's failure: a confirmed failure of the promises being shrunk."""


def database_path(directory: str | Path, vocabulary: Vocabulary) -> Path:
    """Where the example database of this vocabulary lives under ``directory`` (one per vocabulary:
    a choice sequence means another schedule in another vocabulary)."""
    return Path(directory) / f"{vocabulary.stack}-{vocabulary.digest}"


def hypothesis_settings(max_examples: int, database: ExampleDatabase | None, *, backend: str = "hypothesis",
                        phases: tuple[Phase, ...] = _ALL) -> settings:
    """Every setting that matters, explicit: nothing is taken from the loaded profile (``CI`` sets
    derandomize and drops the database; a user may have registered others)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=database,
        derandomize=False,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        stateful_step_count=50,
        backend=backend,
    )


@contextlib.contextmanager
def _no_shrink_clock() -> Iterator[None]:
    """Hypothesis stops shrinking after 300 s of wall time (``MAX_SHRINKING_SECONDS``, left
    monkeypatchable in hypothesis' engine for those who need to keep shrinking). A run of a real
    stack takes a minute: the exploration's own budget decides instead."""
    try:
        from hypothesis.internal.conjecture import engine  # deferred: hypothesis' internals, may move
    except ImportError:  # pragma: no cover - another hypothesis layout: its limit stays
        yield
        return
    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if old is None:  # pragma: no cover
        yield
        return
    engine.MAX_SHRINKING_SECONDS = 10 ** 9
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old


class _Search:
    def __init__(self, vocabulary: Vocabulary, trials: Trials, database: ExampleDatabase | None,
                 guide: Guide | None):
        self.vocabulary = vocabulary
        self.trials = trials
        self.database = database
        self.guide = guide
        self.judged: dict[str, Judgement] = {}
        self.defect: tuple[str, ...] | None = None     # the promises the finding breaks
        self.first: Judgement | None = None
        self.best: Judgement | None = None
        self.runs_at_confirmation = 0
        self.intermittent: dict[str, Judgement] = {}
        self.others: dict[tuple[str, ...], Judgement] = {}
        self.unconfirmed: Judgement | None = None
        self.recording = False        # record(): nothing new is run

    # -- hypothesis' test body -------------------------------------------------------------------------
    def body(self, schedule: Schedule) -> None:
        j = self.judged.get(schedule.text)
        if j is None and self.recording:   # hypothesis' own simplest example, never run: not needed
            return
        if j is None:
            j = self.trials.judge(schedule, on_partial=self._partial)
            self.judged[schedule.text] = j
            if self.guide is not None:
                self.guide.observe(schedule)
            self._note(j)
        if j.verdict == "not_judged":
            reject()
        if j.verdict == "failed" and j.defect == self.defect:
            raise _Broken(schedule.text)

    def _partial(self, j: Judgement) -> None:
        self.unconfirmed = j

    def _note(self, j: Judgement) -> None:
        if j.verdict == "intermittent":
            self.intermittent[j.schedule.text] = j
        if j.verdict != "failed":
            return
        if self.defect is None:
            self.defect = j.defect
            self.first = self.best = j
            self.runs_at_confirmation = self.trials.runs
            self.trials.phase = "shrink"
        if j.defect == self.defect:
            if j.schedule.sort_key < self.best.schedule.sort_key:
                self.best = j
            self.trials.best = self.best.schedule
        else:
            known = self.others.get(j.defect)
            if known is None or j.schedule.sort_key < known.schedule.sort_key:
                self.others[j.defect] = j

    def _given(self, strategy, number: int, max_examples: int, database: ExampleDatabase | None,
               backend: str, phases: tuple[Phase, ...]) -> bool:
        """One hypothesis run; True when it ended on the body's failure."""
        test = given(strategy)(self.body)
        test = seed(self.vocabulary.seed * 1_000_003 + number)(test)
        test = hypothesis_settings(max_examples, database, backend=backend, phases=phases)(test)   # over @seed
        try:
            test()
        except _Broken:
            return True
        return False

    # -- the three runs ---------------------------------------------------------------------------------
    def find(self, number: int) -> bool:
        budget = self.vocabulary.budget
        max_examples = ROUND_EXAMPLES
        if budget.trials is not None:   # the budget stops it anyway; a later round still draws enough
            max_examples = budget.trials - self.trials.runs   # to tell "nothing new left" from "few left"
            if number > 0:
                max_examples = max(max_examples, MIN_ROUND_EXAMPLES)
        strategy = schedules(self.vocabulary)
        if self.guide is None:
            return self._given(strategy, number, max_examples, self.database, "hypothesis", _ALL)
        with planned_backend(self.guide.plan) as backend:
            return self._given(strategy, number, max_examples, self.database, backend, _FIND)

    def shrink(self) -> bool:
        found = self.best.schedule
        plan = subschedule_choices(self.vocabulary, found)
        with planned_backend(lambda: list(plan)) as backend:
            return self._given(subschedules(self.vocabulary, found), 0, 10 ** 6, None, backend, _SHRINK)

    def record(self) -> None:
        """Draw the smallest schedule in the vocabulary's strategy once, so that hypothesis saves it
        to the database (its judgement is kept: no run)."""
        if self.database is None or self.best is None:
            return
        schedule = self.best.schedule
        plan = choices(self.vocabulary, locate_picks(self.vocabulary, schedule), [n for _, n in schedule.users])
        self.recording = True
        try:
            with planned_backend(lambda: list(plan)) as backend:   # 2: hypothesis draws its simplest example first
                self._given(schedules(self.vocabulary), 0, 2, self.database, backend, (Phase.generate,))
        finally:
            self.recording = False


def explore(vocabulary: Vocabulary, runner: TrialRunner, *, database: str | Path | None = None,
            clock: Callable[[], float] = time.monotonic, progress: Callable[[Progress], None] | None = None,
            generation: str = "guided") -> Exploration:
    """Search the vocabulary for a schedule that breaks the promises, within its budget.

    ``runner`` runs one schedule (see `TrialRunner`); ``database``: a directory (under the report
    directory) where hypothesis keeps the failing examples it found, replayed first next time — one
    database per vocabulary inside it (`database_path`); ``clock``: monotonic seconds; ``progress``:
    called after every run; ``generation``: ``guided`` or ``hypothesis`` (see the module docstring).
    Stops at the first confirmed failure once it is shrunk (or the budget is spent); intermittent
    schedules met on the way are reported with their rate."""
    if generation not in GENERATIONS:
        raise ValueError(f"generation must be one of {', '.join(GENERATIONS)}, not {generation!r}")
    trials = Trials(runner, vocabulary.budget, confirm=vocabulary.confirm, clock=clock, progress=progress)
    db = DirectoryBasedExampleDatabase(str(database_path(database, vocabulary))) if database is not None else None
    guide = Guide(vocabulary, vocabulary.seed) if generation == "guided" else None
    search = _Search(vocabulary, trials, db, guide)
    stopped, notes, fully_shrunk = "budget", [], False
    with _no_shrink_clock():
        try:
            number = 0
            while True:
                tried = len(search.judged)
                if search.find(number):
                    break
                if search.best is not None or len(search.judged) == tried or not trials.can_run():
                    break
                number += 1
            if search.best is None:
                stopped = "exhausted" if trials.can_run() else "budget"
            elif guide is None:
                stopped, fully_shrunk = "found", True     # hypothesis shrank it in the same run
            else:
                if not search.shrink():   # pragma: no cover - the finding itself is its first test case
                    notes.append("hypothesis ended the shrinking without the finding failing")
                stopped, fully_shrunk = "found", True
        except BudgetSpent:
            stopped = "budget"
        except LabTrouble as exc:
            stopped = "lab"
            notes.append(f"stopped: {LAB_PATIENCE} runs in a row could not be judged"
                         + (f" ({exc.sentences[0]})" if exc.sentences else ""))
        except KeyboardInterrupt:
            stopped = "interrupted"
        except RunnerCrashed as exc:
            raise exc.original from None
        except Flaky as exc:   # cannot happen while judgements are kept; never crash the search on it
            stopped = "found" if search.best is not None else "flaky"
            notes.append(f"hypothesis found the results inconsistent ({type(exc).__name__}); "
                         "the schedules involved are reported with their rates")
        except HypothesisException as exc:   # e.g. Unsatisfiable: nothing could be judged
            stopped = "lab" if trials.coverage.not_judged else "exhausted"
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            notes.append(f"hypothesis stopped: {type(exc).__name__}: {first_line}")
        if search.best is not None:
            search.record()
    return _result(vocabulary, search, stopped, fully_shrunk, notes)


def _result(vocabulary: Vocabulary, search: _Search, stopped: str, fully_shrunk: bool,
            notes: list[str]) -> Exploration:
    trials = search.trials
    trials.coverage.elapsed = trials.elapsed
    finding = None
    if search.best is not None:
        best, first = search.best, search.first
        failing = best.failing
        finding = Finding(
            schedule=best.schedule, first=first.schedule, verdicts=failing.sentences, broken=failing.broken,
            found_run=first.first_run + _first_failing_offset(first), found_after=first.first_failure_at or 0.0,
            shrink_runs=trials.runs - search.runs_at_confirmation, reproduced=(best.failures, best.runs),
            fully_shrunk=fully_shrunk and stopped == "found", seed=vocabulary.seed, stack=vocabulary.stack)
    intermittent = [Intermittent.of(j) for j in search.intermittent.values()]
    if search.unconfirmed is not None:
        intermittent.append(Intermittent.of(search.unconfirmed))
    failure_runs = [j.first_run + _first_failing_offset(j) for j in search.judged.values() if j.failures]
    if search.unconfirmed is not None:
        failure_runs.append(search.unconfirmed.first_run + _first_failing_offset(search.unconfirmed))
    return Exploration(
        stack=vocabulary.stack, seed=vocabulary.seed, finding=finding, intermittent=tuple(intermittent),
        others=tuple(Failure.of(j) for j in search.others.values()), coverage=trials.coverage,
        stopped=stopped, first_failure_run=min(failure_runs, default=None), notes=tuple(notes),
        trace=tuple(trials.trace))


def _first_failing_offset(j: Judgement) -> int:
    """Runs before its first failing one (runs that could not be judged come first)."""
    return next((i for i, r in enumerate(j.results) if r.failed), 0)

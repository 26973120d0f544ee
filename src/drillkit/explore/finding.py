"""What an exploration hands back: a finding (the verdicts' sentences, the smallest confirmed failing
schedule, how it was reached, and a scenario that reproduces it with ``drill run``), the schedules
that failed only sometimes (with their rate), and what was covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from drillkit.explore.durations import format_elapsed
from drillkit.explore.schedule import Schedule, next_found_path, scenario_yaml
from drillkit.explore.trial import Coverage, Judgement

__all__ = ["Finding", "Failure", "Intermittent", "Exploration", "BaselineResult"]


def _faults(n: int) -> str:
    return f"{n} fault" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Finding:
    """A confirmed failure, shrunk as far as the budget allowed."""

    schedule: Schedule                 # the smallest confirmed failing schedule
    first: Schedule                    # as it was first found
    verdicts: tuple[str, ...]          # the verdicts' sentences of the smallest schedule's failing run
    broken: tuple[str, ...]
    found_run: int                     # the trial (run) in which it first failed
    found_after: float                 # seconds from the start to the end of that run
    shrink_runs: int                   # runs spent after the first confirmation
    reproduced: tuple[int, int]        # (failed, runs) of the smallest schedule
    fully_shrunk: bool
    seed: int
    stack: str = "stack"
    note: str = ""

    def how(self) -> str:
        """``found in trial 17 after 6 min 12 s; shrunk from 4 faults to 2 in 9 runs; reproduced 2 of 2``."""
        parts = [f"found in trial {self.found_run} after {format_elapsed(self.found_after)}"]
        if self.schedule != self.first:
            parts.append(f"shrunk from {_faults(self.first.size)} to {self.schedule.size} in {self.shrink_runs} runs")
        elif self.fully_shrunk:
            parts.append(f"already minimal ({self.shrink_runs} runs tried smaller ones)")
        parts.append(f"reproduced {self.reproduced[0]} of {self.reproduced[1]}")
        if not self.fully_shrunk:
            parts.append("not fully shrunk: the budget ran out" + (f" ({self.note})" if self.note else ""))
        return "; ".join(parts)

    def header(self) -> list[str]:
        return [f"Found by drill explore (seed {self.seed}): {self.how()}.",
                f"Schedule: {self.schedule.text}",
                *(f"Verdict: {s}" for s in self.verdicts),
                "Reproduce: drill run <this file>"]

    def scenario(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The base scenario with this schedule: ``drill run`` reproduces the finding."""
        out = self.schedule.to_scenario(base)
        title = str(base.get("scenario") or f"{self.stack} explored")
        head = {"scenario": f"{title} — found by drill explore: {self.schedule.text}",
                "source": f"drill explore, seed {self.seed}, trial {self.found_run}"
                          + (f"; {out['source']}" if out.get("source") else "")}
        return {**head, **{k: v for k, v in out.items() if k not in head}}

    def yaml(self, base: Mapping[str, Any]) -> str:
        return scenario_yaml(self.scenario(base), self.header())

    def write(self, directory: str | Path, base: Mapping[str, Any]) -> Path:
        """``<directory>/<stack>-<n>.yaml`` (``reports/found/`` by convention), the next free n."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = next_found_path(directory, self.stack)
        path.write_text(self.yaml(base), encoding="utf-8")
        return path

    def sentences(self) -> list[str]:
        return [f"finding: {self.schedule.text}", f"  {self.how()}", *(f"  verdict: {s}" for s in self.verdicts)]


@dataclass(frozen=True)
class Failure:
    """A schedule that failed, with its runs: a confirmed failure of other promises than the finding's
    (reported beside it, not shrunk), or the base of an intermittent one."""

    schedule: Schedule
    failures: int
    runs: int
    verdicts: tuple[str, ...]
    broken: tuple[str, ...]
    first_run: int

    @classmethod
    def of(cls, j: Judgement, **extra: Any) -> "Failure":
        failing = j.failing
        return cls(j.schedule, j.failures, j.runs, failing.sentences if failing else (),
                   failing.broken if failing else (), j.first_run, **extra)

    @property
    def rate(self) -> float:
        return self.failures / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class Intermittent(Failure):
    """A schedule that failed some of its runs but not all: reported with its rate, never as minimal.
    ``confirmed`` False: it failed once and the budget ran out before it was run again."""

    confirmed: bool = True

    @classmethod
    def of(cls, j: Judgement, **extra: Any) -> "Intermittent":
        return super().of(j, confirmed=j.verdict == "intermittent", **extra)

    def sentence(self) -> str:
        what = "intermittent" if self.confirmed else "unconfirmed: the budget ran out before it was run again"
        return (f"{self.schedule.text}: failed {self.failures} of {self.runs} runs ({self.rate:.0%}) — {what}, "
                f"not a minimal finding" + (f"; {self.verdicts[0]}" if self.verdicts else ""))


@dataclass(frozen=True)
class Exploration:
    """The result of `explore`: the finding (or None), intermittent schedules, confirmed failures of
    other promises met on the way (not shrunk), what was covered and why it stopped: ``found``,
    ``budget`` (a finding is then marked not fully shrunk), ``exhausted`` (no new schedule left to
    draw), ``interrupted`` (Ctrl-C: what was found so far is kept), ``lab`` (runs in a row could not be
    judged), ``flaky`` (hypothesis found results inconsistent; cannot happen while judgements are
    kept, handled so that it never crashes the search)."""

    stack: str
    seed: int
    finding: Finding | None
    intermittent: tuple[Intermittent, ...]
    others: tuple[Failure, ...]
    coverage: Coverage
    stopped: str
    first_failure_run: int | None = None
    notes: tuple[str, ...] = ()
    trace: tuple[str, ...] = field(default=(), repr=False)   # the schedule of every run, in order

    @property
    def runs(self) -> int:
        return self.coverage.runs

    @property
    def elapsed(self) -> float:
        return self.coverage.elapsed

    @property
    def clean(self) -> bool:
        return self.finding is None and not self.intermittent and not self.others

    def sentences(self) -> list[str]:
        out: list[str] = []
        if self.finding is not None:
            out.extend(self.finding.sentences())
        for o in self.others:
            out.append(f"also failed (other promises, not shrunk): {o.schedule.text}: "
                       f"{'; '.join(o.verdicts) or ', '.join(o.broken)}")
        out.extend(i.sentence() for i in self.intermittent)
        if self.finding is None and not self.others:
            out.append("nothing failed" + ("" if not self.intermittent else " every time")
                       + f" ({self.stopped})")
        out.extend(self.coverage.sentences())
        out.extend(self.notes)
        return out


@dataclass(frozen=True)
class BaselineResult:
    """The random baseline: uniform schedules from the same vocabulary in the same budget, no
    shrinking; the first confirmed failure and its size."""

    stack: str
    seed: int
    schedule: Schedule | None          # the first confirmed failing schedule
    verdicts: tuple[str, ...]
    found_run: int | None              # the trial (run) in which it first failed
    found_after: float | None
    reproduced: tuple[int, int] | None
    intermittent: tuple[Intermittent, ...]
    coverage: Coverage
    stopped: str

    @property
    def size(self) -> int | None:
        return self.schedule.size if self.schedule is not None else None

    def sentences(self) -> list[str]:
        if self.schedule is None:
            head = [f"random baseline: nothing failed ({self.stopped})"]
        else:
            head = [f"random baseline: {self.schedule.text}",
                    f"  found in trial {self.found_run} after {format_elapsed(self.found_after or 0)}; "
                    f"{_faults(self.schedule.size)}, not shrunk; reproduced {self.reproduced[0]} of {self.reproduced[1]}"]
        return head + [i.sentence() for i in self.intermittent] + self.coverage.sentences()

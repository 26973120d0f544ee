"""Guided generation: which schedule to try next, and how hypothesis gets to draw it.

Measured on the simulated stack (tests/unit/test_explore_guided.py), hypothesis' own generation finds
a defect that takes two overlapping faults *later* than uniform random schedules: it is built to
find small inputs early, and draws one-fault schedules half of the time. Defects of distributed
systems are combinations (Jepsen, Mallory, Filibuster), so the guide plans every schedule to cover
*pairs* of faults not yet seen active together: each of up to ``max_faults`` options is chosen
greedily for the new pairs it adds (an unordered pair not yet seen counts twice, the other order of a
known pair once), their windows laid out so that they all overlap (each starts while the earlier
ones are still active) — or, when faults may not overlap, so that each follows the previous one.
Once every pair has been seen in both orders the next generation starts over with new times.
Sampling pairs without replacement, where a random nemesis samples them with replacement.

Hypothesis still does everything else: the guide's plan is handed to it through a `PrimitiveProvider`
(hypothesis' interface for alternative backends), which answers the strategy's integer draws from
the plan (`strategies.choices`). So every planned schedule is an ordinary hypothesis example —
recorded as its choice sequence, saved to the database when it fails, and shrunk by hypothesis'
shrinker (which draws with hypothesis' own provider).
"""

from __future__ import annotations

import contextlib
import itertools
import random
from typing import Any, Callable, Iterator

from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS, PrimitiveProvider

from drillkit.explore.schedule import Schedule
from drillkit.explore.strategies import choices
from drillkit.explore.vocabulary import Pick, Vocabulary

__all__ = ["Guide", "planned_backend"]

_ATTEMPTS = 50          # plans tried for one not run before (5 while none was found last time)
_names = itertools.count(1)


class Guide:
    """Plans schedules that cover pairs of options not yet seen together (see the module docstring).
    ``observe`` tells it what actually ran (after layout, drops, database replays and shrinking)."""

    def __init__(self, vocabulary: Vocabulary, seed: int):
        self.vocabulary = vocabulary
        self.rng = random.Random(seed)
        self.labels = [o.label for o in vocabulary.options]
        n = len(self.labels)
        # which options may be active together (a node cannot be killed twice at once, ...)
        self.compatible = [[i != j and not (vocabulary.options[i].footprint & vocabulary.options[j].footprint)
                            for j in range(n)] for i in range(n)]
        self.together: set[frozenset[str]] = set()
        self.ordered: set[tuple[str, str]] = set()
        self.tried_options: dict[str, int] = {label: 0 for label in self.labels}
        self.tried: set[str] = set()
        self.generation = 1
        self.plans = 0
        self.stuck = False      # the last plan found no schedule that had not run: few may be left

    # -- what ran ----------------------------------------------------------------------------------------
    def observe(self, schedule: Schedule) -> None:
        self.tried.add(schedule.text)
        faults = schedule.faults
        for d in faults:
            if d.label in self.tried_options:
                self.tried_options[d.label] += 1
        for a, b in itertools.combinations(faults, 2):   # sorted by start: a starts first (or with b)
            if a.label == b.label or not (a.overlaps(b) or not self.vocabulary.overlap and a.end <= b.at):
                continue
            self.together.add(frozenset({a.label, b.label}))
            self.ordered.add((a.label, b.label))
            if a.at == b.at:
                self.ordered.add((b.label, a.label))

    # -- what to run next -------------------------------------------------------------------------------
    def gain(self, chosen: list[int], candidate: int) -> int:
        c = self.labels[candidate]
        total = 0
        for i in chosen:
            a = self.labels[i]
            if frozenset({a, c}) not in self.together:
                total += 2
            elif (a, c) not in self.ordered:
                total += 1
        return total

    def open_pairs(self, option: int) -> int:
        a = self.labels[option]
        return sum(2 if frozenset({a, b}) not in self.together else int((a, b) not in self.ordered)
                   for j, b in enumerate(self.labels) if self.compatible[option][j])

    def _best(self, scored: list[tuple[Any, int]]) -> int:
        top = max(s for s, _ in scored)
        return self.rng.choice([i for s, i in scored if s == top])

    def options(self) -> list[int]:
        """Options for the next schedule, in the order they start."""
        v = self.vocabulary
        n = len(v.options)
        k = min(v.max_faults, n)
        if k == 1 or not any(self.open_pairs(i) for i in range(n)):
            if k > 1:   # every pair seen in both orders: a new generation, with new times
                self.together.clear()
                self.ordered.clear()
                self.generation += 1
            else:       # one fault per schedule: the least tried option
                return [self._best([(-self.tried_options[self.labels[i]], i) for i in range(n)])]
        chosen = [self._best([((self.open_pairs(i), -self.tried_options[self.labels[i]]), i) for i in range(n)])]
        while len(chosen) < k:
            scored = [(self.gain(chosen, i), i) for i in range(n)
                      if i not in chosen and (not v.overlap or all(self.compatible[i][j] for j in chosen))
                      and self._fits(chosen, i)]
            if not scored:
                break
            chosen.append(self._best(scored))
        return chosen

    def _fits(self, chosen: list[int], candidate: int) -> bool:
        v = self.vocabulary
        if v.max_nodes is None or not v.overlap:
            return True
        down = set(v.options[candidate].down).union(*(v.options[i].down for i in chosen))
        return len(down) <= v.max_nodes

    def picks(self, order: list[int]) -> list[Pick]:
        """Times for the options: all overlapping, each starting while the earlier ones are active
        (or one after another when the vocabulary does not overlap faults)."""
        v, rng = self.vocabulary, self.rng
        out: list[Pick] = []
        if not v.overlap:
            room = max(0, v.at_steps // max(1, len(order)))
            for i in order:
                out.append(Pick(i, rng.randrange(len(v.options[i].variants)), rng.randint(0, room),
                                rng.randint(0, v.duration_steps)))
            return out
        shortest = v.duration[0] / v.step            # the shortest for, in steps
        start, ends = 0, []
        for n, i in enumerate(order):
            d = rng.randint(0, v.duration_steps)
            if n == 0:
                start = rng.randint(0, v.at_steps)
            else:   # a step from start on, while every earlier fault is still active
                later = [t for t in range(start, v.at_steps + 1) if t < min(ends)]
                start = rng.choice(later) if later else start
            ends.append(start + d + shortest)
            out.append(Pick(i, rng.randrange(len(v.options[i].variants)), start, d))
        return out

    def plan(self) -> list[int]:
        """The choices of the next schedule (see `strategies.choices`), one not run before if possible."""
        v = self.vocabulary
        self.plans += 1
        for _ in range(5 if self.stuck else _ATTEMPTS):
            drawn = self.picks(self.options())
            users = [self.rng.randint(lo, hi) for lo, hi in v.users.values()]
            schedule = v.schedule(drawn, list(zip(v.users, users, strict=True)))
            if schedule.text not in self.tried:
                self.stuck = False
                break
        else:
            self.stuck = True
        self.tried.add(schedule.text)
        return choices(v, drawn, users)


class _PlannedProvider(PrimitiveProvider):
    """Answers the strategy's integer draws from a plan, a new plan per test case."""

    lifetime = "test_function"
    plan: Callable[[], list[int]]    # set on the subclass made for one use (`planned_backend`)

    def __init__(self, conjecturedata: Any, /) -> None:
        super().__init__(conjecturedata)
        self._plan: list[int] = []
        self._next = 0
        self._rng = random.Random(0)

    def per_test_case_context_manager(self) -> contextlib.AbstractContextManager:
        @contextlib.contextmanager
        def planned() -> Iterator[None]:
            self._plan, self._next = type(self).plan(), 0
            yield
        return planned()

    def draw_integer(self, min_value: int | None = None, max_value: int | None = None, *,
                     weights: dict[int, float] | None = None, shrink_towards: int = 0) -> int:
        if self._next < len(self._plan):
            value = self._plan[self._next]
            self._next += 1
        else:   # the strategy asked for more than was planned (should not happen): the smallest
            value = shrink_towards
        if min_value is not None:
            value = max(value, min_value)
        if max_value is not None:
            value = min(value, max_value)
        return value

    # the schedule strategy draws integers only; these keep the provider complete
    def draw_boolean(self, p: float = 0.5) -> bool:
        return self._rng.random() < p

    def draw_float(self, *, min_value: float = float("-inf"), max_value: float = float("inf"),
                   allow_nan: bool = True, smallest_nonzero_magnitude: float = 0.0) -> float:
        return min(max(0.0, min_value), max_value)

    def draw_string(self, intervals: Any, *, min_size: int = 0, max_size: int = 0) -> str:
        return chr(intervals[0]) * min_size if min_size else ""

    def draw_bytes(self, min_size: int = 0, max_size: int = 0) -> bytes:
        return bytes(min_size)


@contextlib.contextmanager
def planned_backend(plan: Callable[[], list[int]]) -> Iterator[str]:
    """Register a hypothesis backend whose test cases draw ``plan()``'s choices (the guide's plan, or
    one fixed schedule's); yields its name for ``settings(backend=...)``, removes it afterwards."""
    name = f"drillkit-explore-{next(_names)}"
    AVAILABLE_PROVIDERS[name] = type("PlannedProvider", (_PlannedProvider,), {"plan": staticmethod(plan)})
    try:
        yield name
    finally:
        AVAILABLE_PROVIDERS.pop(name, None)

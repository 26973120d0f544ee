"""A simulated stack for the explore engine's unit tests: no Docker, no sleeps.

`SimulatedStack` is a `TrialRunner` whose defect fires on a known combination of faults, so a test
knows what the search must find and what the shrunk schedule must be. Each run advances a
`FakeClock` by a stack's usual overhead (bring-up reset, steady state, recover) plus the schedule's
length, so time budgets are exercised without waiting.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from drillkit.explore import Link, Role, Schedule, Service, Topology, TrialResult

OVERHEAD = 30.0   # seconds of a run besides its schedule (reset, steady state, recover)

SHOP = Topology(
    "shop",
    services=(Service("app", 2, zones=("zone-a", "zone-b"), net_admin=True), Service("db"), Service("cache")),
    links=(Link("app-db", ("app",), "db"), Link("app-cache", ("app",), "cache")),
)

# a database pair with a role and the runbook that heals its loss
PAIR = Topology(
    "pair",
    services=(Service("app", 2, net_admin=True), Service("db"), Service("db-replica")),
    links=(Link("app-db", ("app",), "db"), Link("replication", ("db-replica",), "db")),
    roles=(Role("primary", ("db", "db-replica"), heal="promote-replica"),),
)

# the kinds of the simulated tests: 12 options on SHOP
KINDS = ("kill", "pause", "partition", "latency")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def has(schedule: Schedule, name: str, target: str) -> list:
    return [d for d in schedule.faults if d.name == name and d.target is not None and d.target.label == target]


def partition_overlapping_kill(schedule: Schedule) -> bool:
    """The two-cause defect: app cut off from db while db is killed (writes acknowledged in the cut
    are lost when the old primary is gone)."""
    return any(p.overlaps(k) for p in has(schedule, "partition", "app|db") for k in has(schedule, "kill", "db"))


def kill_of_cache(schedule: Schedule) -> bool:
    """The single-cause defect: sessions live only in the cache."""
    return bool(has(schedule, "kill", "cache"))


def never(schedule: Schedule) -> bool:
    return False


class SimulatedStack:
    """Fails a run when ``defect(schedule)``; with ``every`` > 1 the defect fires only on the 1st,
    (every+1)th, ... run of a schedule (``every=3``: fails 1 of 3 — an intermittent defect)."""

    def __init__(self, clock: FakeClock, defect: Callable[[Schedule], bool], *, every: int = 1,
                 broken: tuple[str, ...] = ("writes_lost",),
                 sentence: str = "writes lost: 3 of 120 acknowledged writes missing (expected 0)"):
        self.clock = clock
        self.defect = defect
        self.every = every
        self.broken = broken
        self.sentence = sentence
        self.runs: list[Schedule] = []
        self.seen: Counter = Counter()

    def run(self, schedule: Schedule) -> TrialResult:
        self.runs.append(schedule)
        self.seen[schedule.text] += 1
        self.clock.now += OVERHEAD + schedule.end
        if self.defect(schedule) and (self.seen[schedule.text] - 1) % self.every == 0:
            return TrialResult(True, [self.sentence], broken=self.broken, details={"run": len(self.runs)})
        return TrialResult(False, ["writes lost: 0 of 120 (expected 0)"], details={"run": len(self.runs)})

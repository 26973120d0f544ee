"""What a scenario file may say — its keys and expectations — and what it becomes once checked: the
plain data (`Scenario`, `FaultStep`, ...) the runner executes and the pytest plugin labels. (User
kinds, their populations and sessions come from the environment: `drillkit.scenario.traffic`.)

Kept apart from the checking code (`validate`) so docs, tests and the validator read one source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit.faults.base import Fault
from drillkit.stack.target import Target
from drillkit.verdicts.table import VERDICTS

__all__ = ["TOP_KEYS", "REQUIRED_TOP", "FAULT_KEYS", "TARGET_KEYS", "REPEAT_KEYS", "GUARD_KEYS", "SETTLE_KEYS",
           "STEADY_KEYS", "PROBE_KEYS", "RUNBOOK_ENTRY_KEYS", "SEVERITIES", "EXPECTATIONS",
           "RECOVERY_KEYS", "Scenario", "FaultStep", "Occurrence", "Guard", "RecoveryExpectation",
           "Expectation", "RunbookEntry", "Expectations", "Settle", "MAX_FAULTS", "MAX_OBSERVE", "MAX_SCHEDULE",
           "MAX_STEADY", "MAX_RECOVER", "MAX_SETTLE", "MAX_TRAFFIC"]

# Bounds (docs/scenarios.md, "Bounds"): what one drill may ask for, checked before anything starts
MAX_FAULTS = 1000             # faults injected in one scenario, every repetition counted
MAX_OBSERVE = 86400.0         # observe: at most 24 h
MAX_SCHEDULE = 86400.0        # from the start of inject to the end of observe: at most 24 h
MAX_STEADY = 3600.0           # steady_state.duration
MAX_RECOVER = 3600.0          # recover
MAX_SETTLE = 3600.0           # settle (its time; a condition has its own deadline)
MAX_TRAFFIC = 1000            # users and clients of a scenario, all kinds together

TOP_KEYS = {
    "scenario": "one sentence: what is rehearsed (the Allure story)",
    "source": "where it comes from (SCENARIOS.md incident, service-standard criterion)",
    "description": "free text",
    "environment": "environments/<name>, or a compose.yaml path relative to the scenario file",
    "switches": "defect switches of the environment, or any ${NAME} its Compose file uses, e.g. {sessions: node-local}",
    "severity": "blocker | critical | normal | minor | trivial",
    "users": "synthetic users per kind, e.g. {clerks: 20}: kinds of x-drillkit.users, or defined here",
    "clients": "protocol clients, e.g. {writers: 5}: x-drillkit.clients, or defined here (kind: postgres|redis)",
    "probe": "the fine-grained probe: {interval, path}, or false for none",
    "steady_state": "hypothesis checked before anything is broken: {duration, availability}",
    "gate": "what must hold before the first fault, after the steady state: gates of x-drillkit.gates by name, or "
            "wait_until checks written here; one that does not hold makes the drill not judged",
    "faults": "the schedule: a list of faults with kind, target, at, for, repeat",
    "observe": "how long to watch after the last injection",
    "recover": "how long to watch after everything healed",
    "guards": "abort conditions: stop the schedule early and heal",
    "max_nodes": "blast radius: most nodes faulted at the same time",
    "expect": "the verdicts: " + ", ".join(VERDICTS) + " (docs/verdicts.md)",
    "ground_truth": "readers of what the stack holds, by name, e.g. {writes: {kind: sql, on: db, query: ...}}",
    "settle": "before the stack's data is read: a time after the traffic stopped (2s), or {time, until: a wait_until condition}",
    "runbook": "runbooks run in the schedule: a list of {at | after, run | steps}",
    "load": "open-loop load from the start of inject: {shape, rate, factor, at, for, duration, actions}, or a list run one after another",
    "search": "breaking-point search: {rate, actions, slo: {p95, served}, factors, hold, forecast}",
    "findings": "what the timeline shows that no verdict asked about (docs/verdicts.md, Findings): report "
                "(default), fail (critical and warning findings fail the drill), critical, or a list of kinds",
    "explore": "what `drill explore` may try: kinds, targets, exclude, max_faults, at, for, budget, seed, ... "
               "(docs/explore.md); `drill run` ignores it",
}
REQUIRED_TOP = ("scenario", "environment")   # and faults:, unless a load:, search: or explore: is the drill

FAULT_KEYS = {"kind", "target", "at", "for", "repeat", "heal"}   # anything else: the kind's attributes
TARGET_KEYS = {"service", "replica", "zone", "random", "seed", "role"}
RUNBOOK_ENTRY_KEYS = {"at", "after", "run", "steps", "name"}
OUTSIDE_RUN_KEYS = {"container", "container_name", "environment", "run", "host", "image", "id"}
REPEAT_KEYS = {"every", "times"}
GUARD_KEYS = {"population", "availability_below", "for"}
STEADY_KEYS = {"duration", "availability"}
PROBE_KEYS = {"interval", "path"}
SETTLE_KEYS = {"time", "until"}
RECOVERY_KEYS = {p.name for p in VERDICTS["recovery_time"].params}

PROBE_POPULATION = "probe"

SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")

# expect key -> what it judges; the table itself is drillkit.verdicts.table.VERDICTS
EXPECTATIONS = {key: kind.summary for key, kind in VERDICTS.items()}


@dataclass(frozen=True)
class Occurrence:
    """One inject..heal window of a fault step; ``end`` None = heal when observe ends."""

    step: "FaultStep"
    number: int          # 1.. within a repeated step
    start: float
    end: float | None

    def describe(self) -> str:
        rep = f" #{self.number}" if self.step.times > 1 else ""
        return f"{self.step.kind} {self.step.target or ''}".strip() + rep


@dataclass(frozen=True)
class FaultStep:
    index: int
    kind: str
    target: Target | None
    params: dict[str, Any]
    at: float
    duration: float | None          # `for:`; None = until observe ends
    every: float | None = None
    times: int = 1
    line: int | None = None
    heal: Any = "start"             # "start" | "none" | a drillkit.stack.runbook.Runbook (YAML `heal:`)
    fault: Fault | None = None      # the fault as validation built it; the runner injects its renewals

    def occurrences(self) -> list[Occurrence]:
        out = []
        for k in range(self.times):
            start = self.at + k * (self.every or 0.0)
            out.append(Occurrence(self, k + 1, start,
                                  None if self.duration is None else start + self.duration))
        return out


@dataclass(frozen=True)
class RunbookEntry:
    """A runbook in the schedule: at ``at`` s from the start of inject, or right after each
    injection of ``faults[after]``."""

    index: int
    runbook: Any                    # drillkit.stack.runbook.Runbook
    at: float | None = None
    after: int | None = None
    line: int | None = None

    def describe(self) -> str:
        when = f"at {self.at:g} s" if self.at is not None else f"after faults[{self.after}]"
        return f"runbook {self.runbook.name} {when}"


@dataclass(frozen=True)
class Settle:
    """``settle:``: before the stack's data is read, ``time`` seconds after the traffic stopped,
    then until ``until`` (a drillkit.stack.gate.Gate) holds, if given."""

    time: float = 0.0
    until: Any = None
    line: int | None = None


@dataclass(frozen=True)
class Guard:
    population: str
    availability_below: float
    window: float                   # `for:` seconds
    line: int | None = None

    def describe(self) -> str:
        return (f"{self.population} availability below {self.availability_below:.0%} "
                f"for {self.window:g} s")


@dataclass(frozen=True)
class RecoveryExpectation:
    population: str = "existing-sessions"
    max: float = 5.0
    consecutive: int = 3
    tolerance: float = 0.02


@dataclass(frozen=True)
class Expectation:
    """One ``expect`` entry: a key of the verdict table and its parsed parameters."""

    key: str
    params: dict[str, Any]
    line: int | None = None


@dataclass(frozen=True)
class Expectations:
    """The scenario's ``expect`` section, in file order (see ``drillkit.verdicts.table``)."""

    items: tuple[Expectation, ...] = ()

    def get(self, key: str) -> dict[str, Any] | None:
        return next((e.params for e in self.items if e.key == key), None)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    # the first four verdicts by name (older callers and tests read these)
    @property
    def recovery_time(self) -> RecoveryExpectation | None:
        p = self.get("recovery_time")
        return None if p is None else RecoveryExpectation(**p)

    @property
    def sessions_lost(self) -> int | None:
        p = self.get("sessions_lost")
        return None if p is None else p["max"]

    @property
    def writes_lost(self) -> int | None:
        p = self.get("writes_lost")
        return None if p is None else p["max"]

    @property
    def availability(self) -> dict[str, float]:
        p = self.get("availability")
        return {} if p is None else dict(p["minimums"])


@dataclass(frozen=True)
class Scenario:
    file: Path
    title: str
    environment: str                      # what `load_environment` accepts (a resolved compose path)
    environment_name: str
    stack: str
    source: str = ""
    description: str = ""
    switches: dict[str, str] = field(default_factory=dict)
    severity: str = "normal"
    probe: dict[str, Any] | None = field(default_factory=dict)       # None = no probe
    steady_duration: float = 0.0
    steady_availability: dict[str, float] = field(default_factory=dict)
    faults: tuple[FaultStep, ...] = ()
    observe: float = 0.0
    recover: float = 0.0
    guards: tuple[Guard, ...] = ()
    max_nodes: int | None = None
    expect: Expectations = field(default_factory=Expectations)
    traffic: tuple[Any, ...] = ()                 # users: and clients: (clients.scenario.Traffic), in file order
    session_populations: tuple[str, ...] = ()     # populations whose users hold sessions
    gates: tuple[Any, ...] = ()                   # drillkit.stack.gate.Gate: checked before the first fault
    runbook: tuple[RunbookEntry, ...] = ()
    ground_truth: dict[str, Any] = field(default_factory=dict)   # name -> drillkit.stack.truth.ReaderSpec
    load: tuple[Any, ...] = ()                    # drillkit.load.LoadSpec, run one after another from inject
    search: Any = None                            # drillkit.load.search.SearchSpec
    findings: Any = "report"                      # report | fail | critical | [finding kinds]
    settle: Settle | None = None                  # before the ground truth is read (None: at once)
    explore: Any = None                           # the explore: section as written (YAML with lines), or None
    sections: dict[str, Any] = field(default_factory=dict)   # what a door's section check made of its
                                                             # section (validate_file(..., sections=))

    @property
    def load_duration(self) -> float:
        """Seconds from the start of inject until every load has run out."""
        return sum(spec.duration for spec in self.load)

    # -- the schedule --------------------------------------------------------------------------
    def occurrences(self) -> list[Occurrence]:
        return sorted((o for s in self.faults for o in s.occurrences()), key=lambda o: (o.start, o.step.index))

    @property
    def last_injection(self) -> float:
        return max((o.start for o in self.occurrences()), default=0.0)

    @property
    def schedule_end(self) -> float:
        """Seconds from the start of inject to the end of observe (when open faults heal); at least
        until the loads have run out."""
        return max(self.last_injection + self.observe, self.load_duration)

    @property
    def fault_label(self) -> str:
        """The Allure feature: the fault kinds, in schedule order."""
        kinds: list[str] = []
        for s in self.faults:
            if s.kind not in kinds:
                kinds.append(s.kind)
        if self.load:
            kinds.append("load " + " + ".join(dict.fromkeys(spec.shape_name for spec in self.load)))
        if self.search is not None:
            kinds.append("breaking-point search")
        return " + ".join(kinds) or "none"

    @property
    def exploration_only(self) -> bool:
        """An ``explore:`` section and nothing to run by itself (no faults, load or search): a file for
        ``drill explore``, not a drill."""
        return self.explore is not None and not self.faults and not self.load and self.search is None

    def marker_kwargs(self) -> dict[str, Any]:
        return {"environment": self.environment, "switches": dict(self.switches), "stack": self.stack,
                "fault": self.fault_label, "scenario": self.title, "severity": self.severity}

"""A validated scenario: plain data the runner executes and the pytest plugin labels.

`load_scenario(path)` is the only way in: it reads and checks the whole file (see `validate`) and
raises `ConfigError` — one line with file:line, field and fix — before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit.faults.base import Target

__all__ = ["Scenario", "FaultStep", "Occurrence", "Guard", "RecoveryExpectation", "Expectation", "RunbookEntry", "Expectations",
           "load_scenario", "looks_like_scenario"]


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
    heal: Any = "start"             # "start" | "none" | a drillkit.runbook.Runbook (YAML `heal:`)

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
    runbook: Any                    # drillkit.runbook.Runbook
    at: float | None = None
    after: int | None = None
    line: int | None = None

    def describe(self) -> str:
        when = f"at {self.at:g} s" if self.at is not None else f"after faults[{self.after}]"
        return f"runbook {self.runbook.name} {when}"


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
    """One ``expect`` entry: a key of the verdict registry and its parsed parameters."""

    key: str
    params: dict[str, Any]
    line: int | None = None


@dataclass(frozen=True)
class Expectations:
    """The scenario's ``expect`` section, in file order (see ``drillkit.verdicts.registry``)."""

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
    runbook: tuple[RunbookEntry, ...] = ()
    ground_truth: dict[str, Any] = field(default_factory=dict)   # name -> drillkit.truth.ReaderSpec
    load: tuple[Any, ...] = ()                    # drillkit.load.LoadSpec, run one after another from inject
    search: Any = None                            # drillkit.load.search.SearchSpec

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

    def marker_kwargs(self) -> dict[str, Any]:
        return {"environment": self.environment, "switches": dict(self.switches), "stack": self.stack,
                "fault": self.fault_label, "scenario": self.title, "severity": self.severity}


def looks_like_scenario(path: Path) -> bool:
    """Under a `scenarios` folder, or a YAML file with a top-level `scenario:` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if "scenarios" in path.parts[:-1]:
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    import re
    return re.search(r"^scenario\s*:", head, re.M) is not None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; `ConfigError` (one line) on the first problem."""
    from drillkit.scenario.validate import validate_file
    return validate_file(Path(path))

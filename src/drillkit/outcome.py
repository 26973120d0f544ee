"""What a `drill run` comes to: its exit code and the machine-readable result (`drill run --json`).

The exit code says who has to act: 0 nobody, 1 the stack's owners (a drill found a defect), 2 whoever
runs the lab or wrote the input (the run could not judge the stack), 3 drillkit's maintainers, and
130/143 nobody (the run was stopped; everything was torn down). When several apply, the one that makes
the run least trustworthy wins: 130/143 > 3 > 2 > 1 > 0. A run that found a defect *and* broke keeps
both in its JSON counts.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ExitCode", "EXIT_CODES", "DrillOutcome", "RunOutcome", "exit_code_for", "result_word", "OUTCOMES",
           "OUTCOME_WORDS", "JUDGED", "held_of"]

# How a drill can end — the same five words (and skipped) in every channel: console, --json,
# Allure, JUnit, summary, management page and history. Only "passed" is green.
OUTCOMES = ("passed", "failed", "not-judged", "broken", "interrupted", "skipped")
OUTCOME_WORDS = {"passed": "held", "failed": "defect found", "not-judged": "not judged",
                 "broken": "lab error", "interrupted": "interrupted", "skipped": "skipped"}
JUDGED = ("passed", "failed")          # the stack was judged: held or a defect


def held_of(outcome: str) -> bool | None:
    """True held, False a defect, None not judged (not-judged, broken, interrupted, skipped)."""
    return {"passed": True, "failed": False}.get(outcome)


class ExitCode(enum.IntEnum):
    HELD = 0          # every drill held
    DEFECT = 1        # at least one drill found a defect (a verdict failed); the lab worked
    LAB_OR_INPUT = 2  # the lab, a tool or the input failed: a drill could not be judged
    INTERNAL = 3      # drillkit itself failed (a bug); the traceback is in the run's log
    INTERRUPTED = 130  # Ctrl-C (SIGINT); every fault healed, every object removed
    TERMINATED = 143   # SIGTERM (e.g. a cancelled CI job); every fault healed, every object removed


# The table the README and `drill run --help` show (kept here so both say the same).
EXIT_CODES: list[tuple[int, str]] = [
    (ExitCode.HELD, "every drill held"),
    (ExitCode.DEFECT, "a drill found a defect in the stack (a verdict failed); the lab worked"),
    (ExitCode.LAB_OR_INPUT, "the stack could not be judged: a drill's steady state did not hold before "
                            "any fault (not judged), the lab failed (lab error), a file or option is "
                            "wrong, no Docker engine, no drill found, or the report could not be built"),
    (ExitCode.INTERNAL, "drillkit itself failed (a bug); see reports/drill-run.log"),
    (ExitCode.INTERRUPTED, "interrupted by Ctrl-C; faults healed and the lab removed"),
    (ExitCode.TERMINATED, "stopped by SIGTERM (a cancelled CI job); faults healed and the lab removed"),
]

_RESULT_WORDS = {ExitCode.HELD: "held", ExitCode.DEFECT: "defect", ExitCode.LAB_OR_INPUT: "lab-error",
                 ExitCode.INTERNAL: "internal-error", ExitCode.INTERRUPTED: "interrupted",
                 ExitCode.TERMINATED: "interrupted"}

# pytest's own exit statuses (pytest.ExitCode) as plain numbers, so this module needs no pytest
_PYTEST_OK, _PYTEST_FAILED, _PYTEST_INTERRUPTED, _PYTEST_INTERNAL, _PYTEST_USAGE, _PYTEST_NO_TESTS = range(6)


def result_word(code: int) -> str:
    """One word for CI logic and the JSON: held, defect, lab-error, internal-error, interrupted
    (`RunOutcome.result` says input-error where only the input was wrong)."""
    try:
        return _RESULT_WORDS[ExitCode(code)]
    except ValueError:
        return "lab-error"


@dataclass
class DrillOutcome:
    """One drill as the run saw it (from the event stream, completed from summary.json)."""

    name: str
    outcome: str = "broken"           # one of OUTCOMES
    title: str = ""
    stack: str = ""
    fault: str = ""
    severity: str = ""
    source: str = ""
    sentences: list[str] = field(default_factory=list)   # failed verdicts, or the lab error in one line
    duration: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] | None = None     # what nobody asked about; None: not examined
    timeline: str | None = None

    @property
    def held(self) -> bool | None:
        """True held, False a defect, None not judged (not-judged, broken, interrupted, skipped)."""
        return held_of(self.outcome)


@dataclass
class RunOutcome:
    """The whole run: drills, errors outside any drill, the pytest status, how it ended."""

    drills: list[DrillOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # lab and tooling errors outside any drill
    input_errors: list[str] = field(default_factory=list)  # a file or option that is wrong
    pytest_status: int | None = None
    signal: str | None = None                           # "SIGINT" | "SIGTERM" when stopped
    duration: float = 0.0
    reports: dict[str, str | None] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in OUTCOMES}
        for d in self.drills:
            out[d.outcome] = out.get(d.outcome, 0) + 1
        return out

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.counts, self.pytest_status, errors=self.errors + self.input_errors,
                             signal=self.signal)

    @property
    def result(self) -> str:
        """The exit code's word; ``input-error`` when only the input was wrong (the lab is fine)."""
        code = self.exit_code
        c = self.counts
        if code == ExitCode.LAB_OR_INPUT and self.input_errors and not self.errors and not c["broken"]:
            return "input-error"
        if code == ExitCode.LAB_OR_INPUT and c["not-judged"] and not (self.errors or self.input_errors
                                                                       or c["broken"]):
            return "not-judged"
        return result_word(code)

    def merge_summary(self, summary: Mapping[str, Any] | None) -> None:
        """Add figures and verdicts from ``summary.json``; a drill only the summary knows is added."""
        if not summary:
            return
        by_name = {d.name: d for d in self.drills}
        for row in summary.get("drills", []):
            d = by_name.get(row.get("name"))
            if d is None:
                d = DrillOutcome(name=row.get("name", "?"), outcome=row.get("outcome", "broken"))
                self.drills.append(d)
                by_name[d.name] = d
            d.stack = d.stack or row.get("stack") or ""
            d.fault = d.fault or row.get("fault") or ""
            d.title = d.title or row.get("scenario") or ""
            d.figures = row.get("figures") or {}
            d.verdicts = row.get("verdicts") or []
            d.findings = row.get("findings")
            d.timeline = row.get("timeline")
            if not d.sentences:
                d.sentences = [v.get("sentence", "") for v in d.verdicts if v.get("status") == "fail"]

    def as_json(self) -> dict[str, Any]:
        code = self.exit_code
        return {
            "exit_code": code,
            "result": self.result,
            "counts": self.counts,
            "duration": round(self.duration, 1),
            "stopped_by": self.signal,
            "errors": list(self.input_errors) + list(self.errors),
            "reports": dict(self.reports),
            "drills": [{**asdict(d), "held": d.held, "duration": round(d.duration, 3)} for d in self.drills],
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2, default=str, ensure_ascii=False)


def exit_code_for(counts: Mapping[str, int], pytest_status: int | None, *, errors: Iterable[str] = (),
                  signal: str | None = None) -> int:
    """The exit code of a run, by precedence (see the module docstring)."""
    if signal == "SIGTERM":
        return ExitCode.TERMINATED
    if signal or counts.get("interrupted", 0):
        return ExitCode.INTERRUPTED
    if pytest_status == _PYTEST_INTERNAL:
        return ExitCode.INTERNAL
    ran = sum(counts.get(k, 0) for k in ("passed", "failed", "not-judged", "broken"))
    if (list(errors) or counts.get("broken", 0) or counts.get("not-judged", 0) or ran == 0
            or pytest_status in (_PYTEST_INTERRUPTED, _PYTEST_USAGE, _PYTEST_NO_TESTS)):
        return ExitCode.LAB_OR_INPUT
    if counts.get("failed", 0):
        return ExitCode.DEFECT
    if pytest_status not in (None, _PYTEST_OK, _PYTEST_FAILED):
        return ExitCode.LAB_OR_INPUT
    return ExitCode.HELD


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

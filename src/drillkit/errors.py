"""One exception family for everything drillkit reports to a user.

Every message says what was wrong, where (file:line, service, key) and how to fix it, in one line.
"""

from __future__ import annotations

__all__ = [
    "DrillkitError",
    "ConfigError",
    "DockerUnavailable",
    "LabError",
    "HealthCheckFailed",
    "ImageBuildError",
    "FaultError",
    "BlastRadiusError",
    "LinkError",
    "SteadyStateNotMet",
    "DrillInterrupted",
    "one_line",
]


class DrillkitError(Exception):
    """Base of every error drillkit raises on purpose; the CLI prints it as one line, no traceback."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:  # one line, with the fix appended
        if self.fix:
            return f"{self.message} — fix: {self.fix}"
        return self.message


class ConfigError(DrillkitError):
    """Bad declarative input (Compose file, scenario, option). Raised before anything starts."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None, fix: str | None = None):
        self.file, self.line, self.field = file, line, field
        where = ""
        if file:
            where = f"{file}:{line}" if line else str(file)
        if field:
            where = f"{where}: {field}" if where else field
        super().__init__(f"{where}: {message}" if where else message, fix=fix)


class DockerUnavailable(DrillkitError):
    """No Docker engine answers."""


class LabError(DrillkitError):
    """The lab itself (not the stack under test) failed: a lab/infrastructure error."""


class HealthCheckFailed(LabError):
    """A service did not become healthy within its deadline; carries its last log lines."""

    def __init__(self, message: str, *, service: str, logs: str = "", fix: str | None = None):
        self.service = service
        self.logs = logs
        super().__init__(message, fix=fix)


class ImageBuildError(LabError):
    """An image could not be built or the offline base could not be created."""


class LinkError(LabError):
    """The Toxiproxy server refused or did not answer a request."""


class SteadyStateNotMet(DrillkitError):
    """Before any fault was injected, the stack did not do what the drill expects of it (its steady
    state failed, a gate did not open, its users could not start): the drill is *not judged* — no
    fault was tried, so nothing is said about the fault — never a defect found by the fault."""

    def __init__(self, why: str, *, sentences: list[str] | None = None, fix: str | None = None):
        self.why = why
        self.sentences = sentences or [why]
        super().__init__(f"not judged: steady state not met — no fault injected: {why}",
                         fix=fix or "make the stack healthy before the drill (an environment faulted by hand, "
                                    "a replica not in sync yet?), then run it again")


class DrillInterrupted(DrillkitError):
    """Ctrl-C or SIGTERM (a cancelled CI job) ended a drill before its verdicts: every fault is healed
    and the lab removed, and the drill is *interrupted* — never held, never a defect."""

    def __init__(self, signal: str = "SIGINT", *, phase: str = ""):
        self.signal = signal
        where = f" during {phase}" if phase else ""
        super().__init__(f"interrupted by {signal}{where}: the drill did not finish, nothing was judged; "
                         "faults healed and the lab removed")


class FaultError(DrillkitError):
    """A fault could not be injected or healed. A failed heal fails the drill loudly."""


class BlastRadiusError(FaultError):
    """A fault was aimed at an object outside the current run, or at more nodes than the drill allows."""


def one_line(text: str, limit: int = 400) -> str:
    """An error as a person reads it, in one line: for a pytest failure the ``E  ...`` lines of its
    report (the message, not the traceback), else the last line; at most ``limit`` characters."""
    lines = [l.strip() for l in str(text).strip().splitlines() if l.strip()]
    errors = [l[1:].strip() for l in lines if l.startswith("E ")]
    line = " ".join(errors) if errors else (lines[-1] if lines else "")
    return line[:limit]

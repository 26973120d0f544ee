"""What a checker returns: pass / fail / unknown, a value, and a sentence a manager can read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Verdict", "PASS", "FAIL", "UNKNOWN"]

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass(frozen=True)
class Verdict:
    name: str                    # "recovery time", "sessions lost", ...
    status: str                  # PASS | FAIL | UNKNOWN
    sentence: str                # "recovery time 1.4 s (target < 5.0 s)"
    value: float | int | None = None
    unit: str = ""
    target: str | None = None    # the expectation as text, e.g. "< 5.0 s" or "= 0"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

"""What a checker returns: pass / fail / unknown, a value, and a sentence a manager can read."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, TypeVar

__all__ = ["Verdict", "PASS", "FAIL", "UNKNOWN", "judges"]

F = TypeVar("F", bound=Callable[..., Any])

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
    kind: str = ""               # the table key (= YAML expect key) of the checker that judged it

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judges(kind: str) -> Callable[[F], F]:
    """Stamp the verdict(s) a checker returns with ``kind`` (its table key), so reports find the
    figures of the verdicts a drill asked for without matching sentences."""
    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            if isinstance(out, Verdict):
                return out if out.kind else replace(out, kind=kind)
            return [v if v.kind else replace(v, kind=kind) for v in out]
        return wrapper  # type: ignore[return-value]
    return deco

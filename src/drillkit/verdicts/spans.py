"""Time spans the checkers share: fault and phase windows, runs of failed requests, and the few
phrases every sentence uses (which fault, which population, a percentage).

A *failed run* is a maximal sequence of failed requests of one population, ordered by when they were
sent. It starts when its first failed request was sent and ends when the next successful request was
answered (``t_end``) — the moment users could see the service work again. A run that no success
follows is *open*: it lasts at least until its last failure was answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from drillkit.timeline import FaultWindow, Timeline

__all__ = ["FailedRun", "failed_runs", "fault_spans", "phase_spans", "within", "covered",
           "describe_fault", "human", "percent", "t_end"]

Span = tuple[float, float]


@dataclass(frozen=True)
class FailedRun:
    start: float          # when the run's first failed request was sent
    end: float            # when the next success was answered (open: when the last failure was)
    failures: int
    open: bool            # no success followed before the end of the timeline

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


def t_end(r: dict[str, Any]) -> float:
    """When a request was answered (older records without ``t_end``: when it was sent)."""
    end = r.get("t_end")
    return r["t"] if end is None else end


def failed_runs(probes: Sequence[dict[str, Any]]) -> list[FailedRun]:
    """Failed runs of ``probes`` (already one population, ordered by ``t``)."""
    runs: list[FailedRun] = []
    first: dict[str, Any] | None = None
    last_end, n = 0.0, 0
    for r in probes:
        if not r["ok"]:
            if first is None:
                first, last_end, n = r, t_end(r), 0
            n += 1
            last_end = max(last_end, t_end(r))
        elif first is not None:
            runs.append(FailedRun(first["t"], max(first["t"], t_end(r)), n, False))
            first = None
    if first is not None:
        runs.append(FailedRun(first["t"], last_end, n, True))
    return runs


def covered(spans: Iterable[Span]) -> float:
    """Total time covered by ``spans`` (overlaps counted once)."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(spans):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def fault_spans(tl: Timeline) -> list[Span]:
    """(start, end) of every fault; a fault never healed lasts to the end of the timeline."""
    end = tl.end
    return [(w.start, w.end if w.end is not None else max(end, w.start)) for w in tl.fault_windows()]


def phase_spans(tl: Timeline, phase: str) -> list[Span]:
    """(start, end) of every occurrence of ``phase``; one never ended lasts to the end of the timeline."""
    end = tl.end
    return [(s, e if e is not None else max(end, s)) for name, s, e in tl.phases() if name == phase]


def within(probes: Iterable[dict[str, Any]], spans: Sequence[Span]) -> list[dict[str, Any]]:
    """The requests sent inside any of ``spans`` (start inclusive, end exclusive)."""
    return [r for r in probes if any(s <= r["t"] < e for s, e in spans)]


def describe_fault(w: FaultWindow) -> str:
    """'kill of web/app-1' — the same words recovery_time uses."""
    return f"{w.fault} of {', '.join(w.targets) or 'target'}"


def human(population: str) -> str:
    """A population as words: 'new-logins' → 'new logins'."""
    return population.replace("-", " ").replace("_", " ")


def percent(ratio: float) -> str:
    """0.98 → '98%', 0.975 → '97.5%', 2.4 → '240%' (one decimal, none when it is zero)."""
    text = f"{ratio * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"

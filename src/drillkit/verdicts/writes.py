"""Acknowledged writes: the users' ledger against what the stack holds after recovery."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict

__all__ = ["writes_lost"]


def writes_lost(tl: Timeline, *, what: str = "writes", expected: int = 0) -> Verdict:
    """Missing = acknowledged but not held (lost writes; their time span is the RPO)."""
    name = "acknowledged writes lost"
    ledger = tl.writes()
    truth = tl.ground_truth(what)
    if truth is None:
        return Verdict(name, UNKNOWN, "acknowledged writes lost unknown: the stack's data was not read back")
    if not ledger:
        return Verdict(name, UNKNOWN, "acknowledged writes lost unknown: no write was acknowledged")
    held = set(map(str, truth.get("ids", [])))
    missing = [w for w in ledger if w["id"] not in held]
    n = len(missing)
    span = (max(w["t"] for w in missing) - min(w["t"] for w in missing)) if missing else 0.0
    rpo = f"; they span {span:.2f} s (RPO)" if missing else ""
    return Verdict(name, PASS if n <= expected else FAIL,
                   f"acknowledged writes lost: {n} of {len(ledger)} (expected {expected}){rpo}",
                   value=n, unit="writes", target=f"≤ {expected}",
                   details={"missing": [w["id"] for w in missing][:50], "acknowledged": len(ledger),
                            "rpo_seconds": round(span, 3)})

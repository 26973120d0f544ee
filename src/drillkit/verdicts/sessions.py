"""Session survival: a session the service accepted before and refused later is a session lost."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges

__all__ = ["sessions_lost"]


@judges("sessions_lost")
def sessions_lost(tl: Timeline, *, population: str = "existing-sessions", expected: int = 0) -> Verdict:
    name = "sessions lost"
    probes = tl.probes(population)
    holders = {r["client"] for r in probes if r.get("session") == "valid"}
    lost = {r["client"] for r in probes if r.get("session") == "rejected"}
    if not holders:
        return Verdict(name, UNKNOWN, "sessions lost unknown: no user ever worked on a session",
                       target=f"≤ {expected}")
    n, total = len(lost), len(holders | lost)
    ok = n <= expected
    return Verdict(name, PASS if ok else FAIL,
                   f"sessions lost: {n} of {total} (expected {expected if expected else 0})",
                   value=n, unit="sessions", target=f"≤ {expected}",
                   details={"lost": sorted(lost), "users": total})

"""Drafts lost: work a user had entered, that the service had accepted, gone later while the user's
session still held — the half-filled multi-step form of SCENARIOS.md, incident 4 ("running sessions
must move from the old to the new version without losing data users have already entered").

A client marks such a request with ``session: "draft-lost"`` on its probe record (e.g. a draft that
answered 201 and, one step later, 404/410). A draft that went with a refused session is a session
lost (:mod:`drillkit.verdicts.sessions`), not counted here twice.
"""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges

__all__ = ["drafts_lost", "DRAFT_LOST"]

DRAFT_LOST = "draft-lost"      # the probe's ``session`` when accepted form state is gone


@judges("drafts_lost")
def drafts_lost(tl: Timeline, *, population: str = "existing-sessions", expected: int = 0) -> Verdict:
    """Requests of ``population`` that found accepted form state gone (``session: draft-lost``), ≤ ``expected``.
    Unknown when no user of the population ever worked on a session (nothing could be lost)."""
    name = "drafts lost"
    probes = tl.probes(population)
    if not any(r.get("session") == "valid" for r in probes):
        return Verdict(name, UNKNOWN, "drafts lost unknown: no user ever worked on a session",
                       target=f"≤ {expected}")
    lost = [r for r in probes if r.get("session") == DRAFT_LOST]
    users = sorted({r["client"] for r in lost})
    n = len(lost)
    return Verdict(name, PASS if n <= expected else FAIL,
                   f"drafts lost: {n}" + (f" ({len(users)} user{'s' if len(users) != 1 else ''})" if n else "")
                   + f" (expected {expected})",
                   value=n, unit="drafts", target=f"≤ {expected}",
                   details={"users": users, "first": (lost[0].get("error") if lost else None)})

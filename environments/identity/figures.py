"""A figure of the identity stack that data cannot declare: logins done for nobody.

Everything drills need about identity is data in compose.yaml's ``x-drillkit`` (user kinds ``logins``
and ``pin-requests``, ground truths ``logins`` and ``pin-resets``): it needs no plug-in. This module
computes one figure from a drill's timeline, for tests and benchmarks that want it.

``wasted_logins(tl)``
    successful logins the service recorded (the ground truth ``logins``, read back after the drill)
    that no client received (``POST /login`` probes answered 200). Under a surge with
    ``db_pool=no-timeout`` the service works off requests whose clients had already given up
    (SCENARIOS.md, incident 6: "the server went KO").
"""

from __future__ import annotations

from typing import Any

__all__ = ["wasted_logins"]


def wasted_logins(tl: Any) -> int | None:
    """Successful logins the service recorded that no client received (None: ``logins`` not read back)."""
    truth = tl.ground_truth("logins")
    if truth is None:
        return None
    received = sum(1 for p in tl.probes() if p.get("op") == "POST /login" and p.get("status") == 200)
    return max(0, len(truth.get("ids", [])) - received)

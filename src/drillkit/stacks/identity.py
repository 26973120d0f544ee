"""The identity stack (environments/identity): ground truth read straight from its database.

``record_ground_truth`` writes:

``{"kind": "ground-truth", "what": "pin-resets", "ids": [...]}``
    every replacement-PIN request the database holds: ``writes_lost(tl, what="pin-resets")`` and
    ``duplicates(tl, "pin-resets")`` compare it with the ``write`` records ``op="pin-reset"``.
``{"kind": "ground-truth", "what": "logins", "ids": [...], "ok": n, "refused": n, "by_node": {...}}``
    the audit rows of successful logins (``ids`` are the login row ids) and counts. Logins the
    service completed but no client received (``ok`` minus the successful ``POST /login`` probes)
    are work done for users who had already given up: the ``db_pool=no-timeout`` KO.
"""

from __future__ import annotations

from typing import Any

from drillkit.lab.environment import Environment
from drillkit.timeline import Timeline

__all__ = ["psql", "stored_pin_requests", "login_counts", "record_ground_truth", "wasted_logins"]


def psql(env: Environment, sql: str, *, service: str = "db", replica: int = 1) -> list[str]:
    out = env.exec(env.node(service, replica),
                   ["psql", "-h", "127.0.0.1", "-U", "identity", "-d", "identity", "-At", "-F", "|",
                    "-c", sql])
    return [line for line in out.splitlines() if line.strip()]


def stored_pin_requests(env: Environment) -> list[str]:
    return psql(env, "SELECT id FROM pin_resets ORDER BY id")


def login_counts(env: Environment) -> dict[str, Any]:
    rows = psql(env, "SELECT coalesce(node, '?'), ok, count(*) FROM logins GROUP BY 1, 2 ORDER BY 1, 2")
    out: dict[str, Any] = {"ok": 0, "refused": 0, "by_node": {}}
    for line in rows:
        node, ok, n = line.split("|")
        key = "ok" if ok == "t" else "refused"
        out[key] += int(n)
        out["by_node"].setdefault(node, {"ok": 0, "refused": 0})[key] += int(n)
    return out


def _timeline(drill_or_timeline: Any) -> Timeline:
    return drill_or_timeline if isinstance(drill_or_timeline, Timeline) else drill_or_timeline.timeline


def record_ground_truth(drill_or_timeline: Any, env: Environment) -> dict[str, Any]:
    tl = _timeline(drill_or_timeline)
    pins = stored_pin_requests(env)
    logins = login_counts(env)
    ok_ids = psql(env, "SELECT id FROM logins WHERE ok ORDER BY id")
    tl.add("ground-truth", what="pin-resets", ids=pins)
    return tl.add("ground-truth", what="logins", ids=ok_ids, **logins)


def wasted_logins(tl: Timeline) -> int | None:
    """Successful logins the service recorded that no client received (None: not read back)."""
    truth = tl.ground_truth("logins")
    if truth is None:
        return None
    received = sum(1 for p in tl.probes() if p.get("op") == "POST /login" and p.get("status") == 200)
    return max(0, int(truth.get("ok", 0)) - received)

"""Login path degraded: the identity service's database link slows down (600 ms per round trip), so
every login holds one of identity's few DB connections for long and the pools fill up. Existing
sessions do not need the central login and must keep working; new logins fail or slow down — but
with an answer, not a hang.

Traces to SCENARIOS.md incident 1 (11 April 2019): users already logged in kept working while new
logins were impossible; a single availability figure would have hidden it, so both populations are
measured apart.
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.link import Latency

EXISTING, NEW_LOGINS = "existing-sessions", "new-logins"

# Half of the new logins get *some* answer within this while they cannot succeed. 24 newcomers are
# more than identity's pools hold (2 nodes x 4 connections): with a pool timeout the waiting ones get
# a 503 after ~2 s; without one they wait until the registry gives up on identity (5 s).
NEWCOMERS = 24
ANSWER_TARGET_S = 3.5


@pytest.mark.drill("registry", fault="login path degraded",
                   scenario="login path degraded: existing sessions keep working, new logins fail fast",
                   source="incident 1: registry outage of 11 April 2019 — new logins impossible",
                   severity="critical")
def test_registry_login_path_degraded(drill):
    """Slow identity's DB link: existing sessions ≥ 99% available, new logins answered (median ≤ 3.5 s)."""
    with drill.phase("steady"):
        drill.users("clerks", 10)
        drill.users("newcomers", NEWCOMERS, timeout=10.0)   # a fresh login every time: new-logins
        drill.wait(3.0)
        drill.check(V.availability(drill.timeline, population=EXISTING, minimum=0.99, label="steady state"),
                    V.availability(drill.timeline, population=NEW_LOGINS, minimum=0.9, label="steady state"))
    with drill.phase("inject"):
        slow_db = drill.inject(Latency(link="identity-db", latency=600))
    with drill.phase("observe"):
        drill.wait(10.0)
    with drill.phase("recover"):
        drill.heal(slow_db)
        drill.wait(2.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.check(
            *V.availability_by_population(drill.timeline, {EXISTING: 0.99}),
            V.answer_time(drill.timeline, NEW_LOGINS, p95_max=ANSWER_TARGET_S, quantile=0.5),
            V.sessions_lost(drill.timeline),
        )

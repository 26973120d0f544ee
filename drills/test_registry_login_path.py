"""Login path degraded: the identity service's database freezes. Existing sessions do not need the
central login and must keep working; new logins fail — but fast, with a clear answer, not a hang.

Traces to SCENARIOS.md incident 1 (11 April 2019): users already logged in kept working while new
logins were impossible; a single availability figure would have hidden it, so both populations are
measured apart.
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.base import Target
from drillkit.faults.process import Pause
from drillkit.traffic.users import EXISTING, NEW_LOGINS

ANSWER_TARGET_S = 6.0   # a new login gets *some* answer within this (p95), even while it cannot succeed


@pytest.mark.drill("registry", fault="login path degraded",
                   scenario="login path degraded: existing sessions keep working, new logins fail fast",
                   severity="critical")
def test_registry_login_path_degraded(drill):
    """Freeze identity's database: existing sessions ≥ 99% available, new logins answered within 6 s."""
    with drill.phase("steady"):
        drill.clerks(10)
        drill.newcomers(8, timeout=10.0)
        drill.wait(3.0)
        drill.check(V.availability(drill.timeline, population=EXISTING, minimum=0.99, label="steady state"),
                    V.availability(drill.timeline, population=NEW_LOGINS, minimum=0.9, label="steady state"))
    with drill.phase("inject"):
        freeze = drill.inject(Pause(Target("identity-db")))
    with drill.phase("observe"):
        drill.wait(10.0)
    with drill.phase("recover"):
        drill.heal(freeze)
        drill.wait(2.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.check(
            *V.availability_by_population(drill.timeline, {EXISTING: 0.99}),
            V.answer_time(drill.timeline, NEW_LOGINS, p95_max=ANSWER_TARGET_S),
            V.sessions_lost(drill.timeline),
        )

"""Registry zone outage: every node of one zone goes at once — the power loss on one floor of a
citizen office (SCENARIOS.md, incident 2), or a lost data centre. The other zone carries the service.
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.zone import ZoneKill

EXISTING = "existing-sessions"
RECOVERY_TARGET_S = 4.0    # as the node kill: one 1.5-s client timeout per clerk hit (sound: 1.9 s measured)


@pytest.mark.drill("registry", fault="zone outage", scenario="registry zone outage: the other zone carries the service",
                   source="incident 2: power loss on one floor of a citizen office",
                   severity="critical")
def test_registry_zone_outage(drill):
    """Kill zone-a (app-1, app-2) under 20 working clerks: zone-b carries them, nothing lost."""
    with drill.phase("steady"):
        drill.users("clerks", 20)
        drill.probe()
        drill.wait(2.0)
        drill.check(V.availability(drill.timeline, population=EXISTING, minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        outage = drill.inject(ZoneKill(zone="zone-a"))
    with drill.phase("observe"):
        drill.wait(6.0)
    with drill.phase("recover"):
        drill.heal(outage)
        drill.wait(1.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.ground_truth("writes")
        drill.check(
            V.recovery_time(drill.timeline, target=RECOVERY_TARGET_S, population=EXISTING),
            V.sessions_lost(drill.timeline),
            V.writes_lost(drill.timeline),
        )

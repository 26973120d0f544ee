"""The node-kill and zone-outage drills on swarmlab, for either backend (run with --drill-backend).

Not collected with the suite (no test_ prefix): tests/lab/test_swarm_backend.py runs this file as
users run drills, once on the sound stack (both pass) and once with lb_health=slow (both fail: the
dead replica stays in rotation, every other request fails while the fault lasts). On Swarm a zone outage is the zone's whole host killed.
"""

from pathlib import Path

import pytest
from lab_support import serving_from  # tests/lab, on the path through its conftest

from drillkit import verdicts as V
from drillkit.faults.process import Kill
from drillkit.faults.zone import ZoneKill
from drillkit.stack.target import Target

SWARMLAB = str(Path(__file__).with_name("compose.yaml"))
RECOVERY_TARGET_S = 3.0
MIN_AVAILABILITY = 0.85   # sound: the lb takes a dead replica out in ~0.5 s of a 6 s fault


def run(drill, fault) -> None:
    with drill.phase("steady"):
        serving_from(drill.env, {"web-1", "web-2"})   # the lb's checks passed
        drill.probe(path="/")
        drill.wait(2.0)
        drill.check(V.availability(drill.timeline, population="probe", minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        f = drill.inject(fault)
    with drill.phase("observe"):
        drill.wait(6.0)
    with drill.phase("recover"):
        drill.heal(f)
        drill.wait(1.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        window = drill.timeline.fault_windows()[0]
        drill.check(
            V.recovery_time(drill.timeline, target=RECOVERY_TARGET_S, population="probe"),
            # a dead replica left in rotation fails every other request until it is back
            V.availability(drill.timeline, population="probe", minimum=MIN_AVAILABILITY, since=window.start,
                           until=window.end, label="while the fault lasted"),
        )


@pytest.mark.drill(SWARMLAB, fault="node kill", scenario="swarmlab node kill: the other replica carries it",
                   severity="critical")
def test_swarmlab_node_kill(drill):
    """Kill web-1 under a 50 ms probe through the lb: recovery within 3 s."""
    run(drill, Kill(Target("web", replica=1)))


@pytest.mark.drill(SWARMLAB, fault="zone outage", scenario="swarmlab zone outage: the other zone carries it",
                   severity="critical")
def test_swarmlab_zone_outage(drill):
    """Lose zone-a (web-1; on Swarm its whole host): recovery within 3 s."""
    run(drill, ZoneKill(zone="zone-a"))

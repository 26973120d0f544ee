"""Booking instance kill under steady citizen traffic: one of the five instances dies while citizens
book the earliest free appointments. No booking acknowledged to a citizen may be lost, and no slot
may be booked twice (SCENARIOS.md incident 3: no double booking and no lost booking, ever).
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.process import Kill
from drillkit.stack.target import Target

CITIZENS = "citizens"

RECOVERY_TARGET_S = 3.0


@pytest.mark.drill("booking", fault="node kill", scenario="booking instance kill: no lost and no double bookings",
                   source="incident 3: booking overload — no booking lost, none twice",
                   severity="critical")
def test_booking_instance_kill(drill):
    """Kill booking app-2 under 20 citizens: recovery within 3 s, no booking lost, none twice."""
    with drill.phase("steady"):
        drill.users("citizens", 20, think=0.1)   # x-drillkit.users.citizens of the booking compose.yaml
        drill.probe()
        drill.wait(2.0)
        drill.check(V.availability(drill.timeline, population=CITIZENS, minimum=0.98, label="steady state"))
    with drill.phase("inject"):
        kill = drill.inject(Kill(Target("app", replica=2)))
    with drill.phase("observe"):
        drill.wait(6.0)
    with drill.phase("recover"):
        drill.heal(kill)
        drill.wait(1.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.ground_truth("bookings")         # active bookings and their slots
        drill.ground_truth("booking-ids")      # every booking row, cancelled ones too
        drill.check(
            V.recovery_time(drill.timeline, target=RECOVERY_TARGET_S, population=CITIZENS),
            V.writes_lost(drill.timeline, what="booking-ids", ledger="bookings"),
            V.double_bookings(drill.timeline),
        )

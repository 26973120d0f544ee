"""Booking at ×4 quarter demand (SCENARIOS.md incident 3): the system was sized for 25,000 bookings a
quarter and got 100,000; more hardware did not help, because the product took one global lock around
every allocation. Does doubling the instances help at ×4?

Today's demand: the quarter's 25,000 bookings compressed 1000 : 1 into 1000 s of drill = 25 citizens
a second (each lists free slots of an office and day, holds one, books it); ×4 = 100 citizens a
second, open loop — citizens keep arriving whether or not the ones before them were served. The same
load runs for 6 s on the five instances, then — the stack scaled to ten with ``env.scale`` — again.
More instances help when the ten serve ≥ 10 % more citizens a second, or the same citizens ≥ 30 %
faster (p95). ``allocation: restricted`` (the product restriction) serialises every allocation: ten
instances serve no more and no faster, and the drill fails saying so.

Uses only the stack contract's doors: the user kind ``citizens-any-day`` by name (booking's
``x-drillkit.users``: any day of the quarter, so the allocation, not contention for one slot, is
measured), ``env.scale``, the load verdicts.
"""

import pytest

from drillkit.verdicts import load as L

TODAY = 25_000 / 1000            # citizens/s: 25,000 bookings a quarter, 1000 : 1
FACTOR = 4                       # the 2023 overload
SECONDS = 6.0


# The incident's slow vendor code: 50 ms of it in every allocation, while the request holds one of its
# instance's database connections (1 per instance here): an instance allocates for ~9 citizens a
# second, five for ~45 — today's 25 fit, ×4 does not.
SLOW_VENDOR = {"VENDOR_COST_MS": "50", "DB_POOL_SIZE": "1"}


@pytest.mark.drill("booking", switches=SLOW_VENDOR, fault="load ×4 + scale-out", scenario="booking at ×4 quarter demand: do more instances help?",
                   source="incident 3: booking overload ×4, more hardware did not help (product restriction)",
                   severity="critical")
def test_booking_x4_scaleout(drill):
    load = {"shape": "constant", "rate": TODAY * FACTOR, "duration": SECONDS, "timeout": 10.0, "concurrency": 400}
    with drill.phase("steady"):
        assert len(drill.env.nodes["app"]) == 5
    with drill.phase("inject"):
        drill.load(load, "citizens-any-day", label="5 instances", population="citizens")
        drill.env.scale("app", 10)          # the lab adds five instances; the LB takes them in by name
        drill.wait(2.0)                     # its health checks (250 ms, rise 2) let them in
        drill.load(load, "citizens-any-day", label="10 instances", population="citizens")
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.check(L.scaleout_gain(drill.timeline, before="5 instances", after="10 instances", minimum=0.10,
                                    faster=0.30))

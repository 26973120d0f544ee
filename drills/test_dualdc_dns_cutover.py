"""DNS round-robin across two data centres, during a cutover: one data centre lost, then a fault in one
protocol path of the new servers (SCENARIOS.md, incident 5: the mail migration at an authority).

Two mail servers per generation, one in each data centre (zone-a, zone-b), behind a round-robin DNS
name and no load balancer: the new servers under ``mail``, the old ones still under ``mail-old``. The
clients decide what a lost data centre means: the switch ``clients`` says whether the organisation's
mail clients resolve the name on every request and retry another address (``retry``, sound) or
resolve it once and keep one address (``cache``, the defect). Per population the drill reports
availability and recovery per user: retrying clients are back after one lost request; caching
clients who got the lost data centre's address are not, for the whole outage.

The second fault breaks the new servers' shared-mailbox path (a reset on the link to the store):
no address of ``mail`` escapes it, while users still on the old name keep their shared mailboxes —
what running old and new in parallel during a cutover buys.
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.link import ResetPeer
from drillkit.faults.zone import ZoneKill

RECOVERY_TARGET_S = 3.0    # a retrying client loses one request: one 1-s timeout, then the other address
OUTAGE_S = 5.0             # zone-a lost for this long
PATH_FAULT_S = 3.0         # the new servers' shared-mailbox path broken for this long
USERS, OLD_NAME_USERS = 8, 4
KIND_OF_SWITCH = {"retry": "retrying", "cache": "caching"}   # switch `clients` -> the plug-in's user kind


@pytest.mark.drill("dualdc", fault="data-centre loss behind DNS round-robin",
                   scenario="DNS round-robin across two data centres: a data centre lost during a cutover",
                   source="incident 5: mail migration, two servers with DNS round-robin in two data centres",
                   severity="critical")
def test_dualdc_dns_cutover(drill):
    """Lose zone-a under mail clients of the chosen kind, then break the new servers' shared path."""
    kind = KIND_OF_SWITCH[drill.env.spec.chosen["clients"]]
    shared = f"{kind}-shared"
    with drill.phase("steady"):
        drill.users(kind, USERS)
        drill.users("old-name", OLD_NAME_USERS)
        drill.wait(2.0)
        drill.check(V.availability(drill.timeline, population=kind, minimum=0.99, label="steady state"),
                    V.availability(drill.timeline, population=shared, minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        outage = drill.inject(ZoneKill(zone="zone-a"))
    with drill.phase("observe"):
        drill.wait(OUTAGE_S)
    with drill.phase("recover"):
        drill.heal(outage)
        drill.wait(1.0)
    with drill.phase("inject"):
        path_fault = drill.inject(ResetPeer(link="new-store"))
        drill.wait(PATH_FAULT_S)
    with drill.phase("recover"):
        drill.heal(path_fault)
        drill.wait(2.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        tl = drill.timeline
        lost, broken = (next((w.start, w.end) for w in tl.fault_windows() if w.fault_id == f.fault_id)
                        for f in (outage, path_fault))
        drill.check(
            # the data centre lost: what the chosen clients experienced
            V.recovery_time(tl, target=RECOVERY_TARGET_S, population=kind, fault_id=outage.fault_id),
            V.availability(tl, population=kind, since=lost[0], until=lost[1], label="zone-a lost"),
            V.recovery_time(tl, target=RECOVERY_TARGET_S, population="old-name", fault_id=outage.fault_id),
            # the new servers' shared path broken: no address of the new name escapes it, the old name does
            V.availability(tl, population=shared, since=broken[0], until=broken[1], label="new servers' path broken"),
            V.availability(tl, population="old-name-shared", minimum=0.95, since=broken[0], until=broken[1],
                           label="new servers' path broken"),
        )


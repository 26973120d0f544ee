"""Database primary loss with the runbook's promotion executed and timed: the primary dies while
clerks register moves; the operator's runbook (environments/registry/runbook/promote-replica.md,
executed by `promote_replica`) promotes the streaming replica and repoints the apps. The recovery
time includes the procedure. Moves acknowledged to clerks must all be on the new primary: with
synchronous replication nothing is lost (RPO = 0); an asynchronous replica loses what it had not
received yet, and the drill says how much and over which time span.

The replication link goes through Toxiproxy with 200 ms of latency, as between two data centres:
the replica is always a little behind, as a real remote replica is. The primary's data centre is lost
with its network: the replication link goes down the moment the primary dies, so WAL still on the
wire never arrives.
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.base import Target
from drillkit.faults.link import LinkDown, Latency
from drillkit.faults.process import Kill
from drillkit.stacks.registry import promote_replica, stored_move_ids
from drillkit.traffic.users import EXISTING

RECOVERY_TARGET_S = 30.0   # fault -> clerks work again, runbook included


@pytest.mark.drill("registry", fault="database primary loss",
                   scenario="database primary loss: runbook promotion, nothing acknowledged lost",
                   source="incident 5: a database across two data centres loses its primary",
                   severity="critical")
def test_registry_db_failover(drill):
    """Kill the primary under writing clerks, run the runbook: recovery ≤ 30 s, RPO 0 (sync)."""
    with drill.phase("steady"):
        drill.inject(Latency(link="replication", latency=200))
        drill.clerks(20, write_every=2)
        drill.wait(3.0)
        drill.check(V.availability(drill.timeline, population=EXISTING, minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        drill.inject(LinkDown(link="replication"))
        primary_loss = drill.inject(Kill(Target("db")))
    with drill.phase("recover"):
        steps = promote_replica(drill.env)
        drill.timeline.note("runbook promote-replica: " + ", ".join(f"{k} {v}" for k, v in steps.items()))
        drill.wait(3.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.record_ground_truth("writes", stored_move_ids(drill.env, service="db-replica"))
        drill.check(
            V.recovery_time(drill.timeline, target=RECOVERY_TARGET_S, population=EXISTING,
                            fault_id=primary_loss.fault_id),
            V.writes_lost(drill.timeline),
        )

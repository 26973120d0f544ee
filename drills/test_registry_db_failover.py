"""Database primary loss with the runbook's promotion executed and timed: the primary's data centre
drifts away, then dies, while clerks register moves; the operator's runbook
(environments/registry/runbook/promote-replica.md, as data: `x-drillkit.runbooks.promote-replica` of
the registry's compose.yaml) fences the old primary, promotes the standby, moves its sequences ahead,
repoints the apps and waits until the lb has them UP. The recovery time includes the procedure. Moves
acknowledged to clerks must all be on the new primary (the ground truth `writes`, read on whichever
database holds the role `primary`).

The schedule makes the verdict the same every run: the replication link (through Toxiproxy, 200 ms
of latency as between two data centres) is cut for CUT_S seconds while clerks keep writing — the
standby's data centre drifts away — and the primary is lost *before* the link comes back.

- replication: sync (sound): while the link is cut, commits wait for the standby and time out (503
  after the app's 5 s deadline; the clerk gave up after 2 s): those writes were never acknowledged
  (unknown outcomes, not lost). Nothing acknowledged is lost, every run (RPO = 0).
- replication: async (defect): every write acknowledged during the cut exists only on the lost
  primary: hundreds are lost, every run.

The old primary is never started again: its fault heals by the runbook
(`heal=drill.runbook_heal("promote-replica")`), so neither the drill's end nor the lab's reset brings
it back beside the promoted standby. The drill ends by checking that exactly one database holds the
role `primary`.
"""

import pytest

from drillkit import verdicts as V
from drillkit.errors import LabError
from drillkit.faults.link import Latency, LinkDown
from drillkit.faults.process import Kill
from drillkit.stack.target import Target

EXISTING = "existing-sessions"

RECOVERY_TARGET_S = 30.0   # fault -> clerks work again, runbook included
CUT_S = 5.0                # replication cut while clerks keep writing, before the primary is lost


@pytest.mark.drill("registry", fault="database primary loss",
                   scenario="database primary loss: runbook promotion, nothing acknowledged lost",
                   source="incident 5: a database across two data centres loses its primary",
                   severity="critical")
def test_registry_db_failover(drill):
    """Cut replication, lose the primary, run the runbook: recovery ≤ 30 s, RPO 0 (sync)."""
    with drill.phase("steady"):
        drill.inject(Latency(link="replication", latency=200))
        drill.users("busy-clerks", 20)                      # clerks registering a move every 2nd time
        drill.wait(3.0)
        drill.check(V.availability(drill.timeline, population=EXISTING, minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        cut = drill.inject(LinkDown(link="replication"))       # the standby's data centre drifts away
        drill.wait(CUT_S)                                       # clerks keep writing
        primary_loss = drill.inject(Kill(Target("db"), heal=drill.runbook_heal("promote-replica")))  # then the primary dies
    with drill.phase("recover"):
        drill.heal(primary_loss)                                # the runbook: fence, promote, ..., lb up
        drill.heal(cut)                                         # the link back: nobody streams over it now
        drill.wait(5.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.ground_truth("writes")                            # on the role primary: the promoted standby
        running_as_primary = [n.name for n in drill.role_nodes("primary")]
        drill.timeline.note(f"databases running as primary: {', '.join(running_as_primary) or 'none'}")
        if running_as_primary != ["db-replica"]:
            raise LabError(f"after the failover {running_as_primary or 'no database'} run as primary, "
                           "expected db-replica alone", fix="the old primary must stay down (heal by runbook)")
        drill.check(
            V.recovery_time(drill.timeline, target=RECOVERY_TARGET_S, population=EXISTING,
                            fault_id=primary_loss.fault_id),
            V.writes_lost(drill.timeline),
        )

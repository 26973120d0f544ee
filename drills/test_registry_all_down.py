"""All registry backends down: when no app node is left, users must see a disruption notice — what
is wrong and whom to call — at the entry point, not a connection error (the service standard's
criterion "show users that there is a disruption", SCENARIOS.md).
"""

import pytest

from drillkit import verdicts as V
from drillkit.faults.process import Kill
from drillkit.stack.target import Target

NOTICE_SHARE = 0.95   # of the requests that failed while the service was down
PATIENCE_S = 5.0      # a person waits this long for a page; HAProxy first retries the dead nodes (1 s connect timeout)


@pytest.mark.drill("registry", fault="all backends down", scenario="all registry backends down: disruption notice shown",
                   source="service standard, criterion 11: show users that there is a disruption",
                   severity="normal")
def test_registry_all_backends_down(drill):
    """Kill all four app nodes: ≥ 95% of the failed requests get the disruption notice page."""
    with drill.phase("steady"):
        drill.probe(timeout=PATIENCE_S)
        drill.wait(2.0)
        drill.check(V.availability(drill.timeline, population="probe", minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        down = drill.inject(Kill(Target("app")))
    with drill.phase("observe"):
        drill.wait(4.0)
    with drill.phase("recover"):
        drill.heal(down)
        drill.wait(1.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.check(V.disruption_notice(drill.timeline, population="probe", minimum=NOTICE_SHARE))

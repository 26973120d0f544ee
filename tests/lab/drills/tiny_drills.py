"""The smallest drills there are, for the CI script's own end-to-end test (tests/lab/test_ci_script.py).

Not named test_*.py: `drill test` never collects them; `drill run tests/lab/drills/tiny_drills.py::…`
runs them by name. The tiny environment is two web replicas; its entry point is replica 1's port.
"""

import os
from pathlib import Path

import pytest

from drillkit import verdicts as V
from drillkit.faults.process import Kill
from drillkit.stack.target import Target

TINY = str(Path(__file__).resolve().parents[1] / "environments" / "tiny" / "compose.yaml")
# The probe's timeout: 2 s, not 0.5 s. Under a CI job beside the suite's CPU-hog tests the tiny web
# answered at p95 466 ms, one probe timed out after the heal, and the drill that holds said "not
# recovered" (stop 19, gitlab-ci-local). A killed replica refuses at once: the defect still fails.
PROBE_TIMEOUT = 2.0


def _kill_drill(drill, replica: int, seconds: float, recovery_target: float, minimum: float = 0.5) -> None:
    with drill.phase("steady"):
        drill.probe("/", timeout=PROBE_TIMEOUT)
        drill.wait(1.0)
    with drill.phase("inject"):
        kill = drill.inject(Kill(Target("web", replica=replica)))
    with drill.phase("observe"):
        drill.wait(seconds)
    with drill.phase("recover"):
        drill.heal(kill)
        drill.wait(1.0)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.check(V.recovery_time(drill.timeline, target=recovery_target, population="probe"),
                    V.availability(drill.timeline, population="probe", minimum=minimum))


@pytest.mark.drill(TINY, fault="node kill", scenario="tiny: the replica nobody uses is lost",
                   severity="minor", source="drillkit's own CI test: a drill that holds")
def test_tiny_spare_replica_kill(drill):
    """Kill web-2 while the probe uses web-1: users never notice. TINY_SPARE_MINIMUM (the share of
    requests that must succeed, default 0.5) lets a test make it fail on purpose (above 1 cannot be
    met), e.g. to show a verdict that changes from run to run."""
    _kill_drill(drill, replica=2, seconds=1.5, recovery_target=5.0,
                minimum=float(os.environ.get("TINY_SPARE_MINIMUM", "0.5")))


@pytest.mark.drill(TINY, fault="node kill", scenario="tiny: the entry replica is lost",
                   severity="minor", source="drillkit's own CI test: a drill that finds a defect")
def test_tiny_entry_replica_kill(drill):
    """Kill web-1, the entry point, for 2 s: nothing takes over, so recovery misses its 0.5 s target."""
    _kill_drill(drill, replica=1, seconds=2.0, recovery_target=0.5)


@pytest.mark.drill(TINY, fault="node kill", scenario="tiny: a slow drill to be interrupted",
                   severity="minor", source="drillkit's own test: interrupts at every moment")
def test_tiny_slow_kill(drill):
    """Each phase lasts TINY_PHASE_SECONDS (default 4 s), so a test can stop the run in the steady
    state, while web-2 is killed, or during verify (a pause before the verdicts)."""
    seconds = float(os.environ.get("TINY_PHASE_SECONDS", "4"))
    with drill.phase("steady"):
        drill.probe("/", timeout=PROBE_TIMEOUT)
        drill.wait(seconds)
        drill.check(V.availability(drill.timeline, population="probe", minimum=0.9, label="steady state"))
    with drill.phase("inject"):
        kill = drill.inject(Kill(Target("web", replica=2)))
    with drill.phase("observe"):
        drill.wait(seconds)
    with drill.phase("recover"):
        drill.heal(kill)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.wait(seconds)
        drill.check(V.availability(drill.timeline, population="probe", minimum=0.5))


@pytest.mark.drill(TINY, fault="node kill", scenario="tiny: the steady state cannot hold",
                   severity="minor", source="drillkit's own test: not judged")
def test_tiny_steady_state_not_met(drill):
    """The probe asks for a page web does not have: the steady state fails before any fault, so the
    drill is not judged — and web-2 is never killed."""
    with drill.phase("steady"):
        drill.probe("/no-such-page", timeout=PROBE_TIMEOUT)
        drill.wait(1.5)
        drill.check(V.availability(drill.timeline, population="probe", minimum=0.9, label="steady state"))
    with drill.phase("inject"):
        drill.inject(Kill(Target("web", replica=2)))

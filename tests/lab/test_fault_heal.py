"""A fault's heal setting and restart's grace against real containers (the tiny environment).

heal="none" and a runbook heal leave the node as it is — also through `Environment.reset()`; grace 0
is SIGKILL alone, a grace > 0 gives the node its stop signal first (read from the engine's own events).
"""

from __future__ import annotations

import time

import pytest

from drillkit.faults.process import Kill, Restart
from drillkit.stack.target import Target
from drillkit.timeline import Timeline


def kill_signals(docker, node, since: float) -> list[str]:
    """Signals the engine sent to the node's container since `since` (wall clock), in order."""
    events = docker.api.events(since=int(since), until=int(time.time()) + 1, decode=True,
                               filters={"container": node.container_name, "event": "kill"})
    return [e["Actor"]["Attributes"].get("signal") for e in events if e["timeNano"] >= since * 1e9]


def heal_detail(tl: Timeline, fault) -> dict:
    (ev,) = [r for r in tl.of("fault") if r["fault_id"] == fault.fault_id and r["event"] == "heal"]
    return ev["detail"]


def test_heal_none_leaves_the_node_down_also_through_reset(tiny):
    tl, node = Timeline(), tiny.node("web", 1)
    fault = Kill(Target("web", replica=1), heal="none")
    fault.inject(tiny, tl)
    fault.heal(tiny, tl)
    assert not tiny.is_running(node)
    assert heal_detail(tl, fault)["heal"] == "none" and heal_detail(tl, fault)["undone"] is False
    assert node.container_name in tiny.left_as_is
    tiny.reset()
    assert not tiny.is_running(node), "reset resurrected a node the fault handed over"
    tiny.release(node)          # the lab's again: reset brings it back
    tiny.reset()
    assert tiny.is_running(node)


def test_a_runbook_heal_replaces_the_undo(tiny):
    tl, node = Timeline(), tiny.node("web", 2)
    ran = []

    def start_by_hand(env, timeline):
        ran.append(timeline)
        env.docker.api.start(node.container_name)
        env.wait_healthy(node)

    fault = Kill(Target("web", replica=2), heal=start_by_hand)
    with fault.active(tiny, tl):
        assert not tiny.is_running(node)
    assert ran == [tl] and tiny.is_running(node)
    assert heal_detail(tl, fault)["heal"] == "start_by_hand"
    tiny.release(node)


@pytest.mark.parametrize("grace, signals", [(0, ["9"]), (2, ["15"])], ids=["grace0-sigkill", "grace2-sigterm"])
def test_restart_grace(tiny, docker, grace, signals):
    """`client` runs `sleep` under the container's init: it ends on SIGTERM, well within 2 s."""
    tl, node = Timeline(), tiny.node("client", 1)
    since = time.time()
    fault = Restart(Target("client"), grace=grace)
    with fault.active(tiny, tl):
        assert tiny.is_running(node)            # restarted at once
    time.sleep(1.0)                             # events reach the engine's log asynchronously
    assert kill_signals(docker, node, since) == signals
    inject = next(r for r in tl.of("fault") if r["event"] == "inject")
    assert inject["detail"]["grace"] == grace


TWO_DRILLS = '''
import pytest
from drillkit.faults.base import Target
from drillkit.faults.process import Kill

TINY = {tiny!r}
SEEN = {seen!r}


@pytest.mark.drill(TINY)
def test_hand_over(drill):
    drill.inject(Kill(Target("web", replica=1), heal="none"))
    drill.heal(drill.faults[0])
    open(SEEN, "a").write(f"{{drill.env.run_id}} {{drill.env.is_running(drill.env.node('web', 1))}}\\n")


@pytest.mark.drill(TINY)
def test_next(drill):
    open(SEEN, "a").write(f"{{drill.env.run_id}} {{drill.env.is_running(drill.env.node('web', 1))}}\\n")
'''


def test_the_next_drill_of_a_module_gets_a_fresh_environment_after_a_hand_over(tmp_path, docker):
    """Two drills in one module share an environment, reset between them — unless the first handed a
    node over: then the second gets a fresh one (and the handed-over node was never started again)."""
    import subprocess
    import sys

    from lab_support import TINY, run_objects
    seen = tmp_path / "seen.txt"
    module = tmp_path / "test_two_drills.py"
    module.write_text(TWO_DRILLS.format(tiny=str(TINY), seen=str(seen)))
    proc = subprocess.run([sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider",
                           f"--drill-report-dir={tmp_path / 'reports'}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (first_run, first_web1), (second_run, second_web1) = [line.split() for line in seen.read_text().splitlines()]
    assert first_web1 == "False"                       # handed over: left down, also at the drill's end
    assert second_run != first_run and second_web1 == "True"
    assert run_objects(docker, first_run) == ([], [], []) == run_objects(docker, second_run)   # nothing left

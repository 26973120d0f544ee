"""A fault's heal setting and restart's grace against real containers (the tiny environment).

heal="none" and a runbook heal leave the node as it is — also through `Environment.reset()`; grace 0
is SIGKILL alone, a grace > 0 gives the node its stop signal first (read from the engine's own events).
"""

from __future__ import annotations

import time

import pytest

from drillkit.faults.base import Target
from drillkit.faults.process import Restart, Kill
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

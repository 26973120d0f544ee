"""config_parity proven both ways on real containers (changelab), every value it reads compared with
the test's own reading through `docker exec`.

Old (app) and new (app-new) landscape with the same settings pass; a drifted variable (app-new
started again with POOL_SIZE=1 by config_drift) fails, naming the setting with both values; the same
service before vs after the drift names the drifted node; the heal brings parity back. The last test
runs the same from YAML: the runner reads before the first fault and at verify.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drillkit import verdicts as V
from drillkit.drill import DrillFailed
from drillkit.faults.change import ConfigDrift
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario
from drillkit.stack.target import Target

pytestmark = [pytest.mark.lab]

ENV = str(Path(__file__).parent / "environments" / "changelab" / "compose.yaml")


def docker_exec(docker, node, *cmd: str) -> str:
    """The test's own reading: docker exec in the node's container, not testinfra."""
    res = docker.containers.get(node.container_name).exec_run(list(cmd))
    assert res.exit_code == 0, res.output
    return res.output.decode().strip()


def own_reading(docker, env, node) -> dict[str, str]:
    return {"pool size": docker_exec(docker, node, "printenv", "POOL_SIZE"),
            "session rule": docker_exec(docker, node, "printenv", "V2_SESSIONS"),
            "app version": docker_exec(docker, node, "printenv", "APP_VERSION"),
            "python": docker_exec(docker, node, "dpkg-query", "-W", "-f", "${Version}", "python3"),
            "somaxconn": docker_exec(docker, node, "cat", "/proc/sys/net/core/somaxconn")}


@pytest.mark.drill(ENV, fault="config_drift", scenario="config parity old vs new (python)", severity="normal")
def test_parity_passes_on_the_same_settings_and_names_a_drifted_variable(drill, docker):
    env, tl = drill.env, drill.timeline
    before = drill.config_snapshot(["app", "app-new"], moment="before")
    for r in before:           # what testinfra read is what the container runs with
        node = next(n for nodes in env.nodes.values() for n in nodes if n.name == r.node)   # app-1, app-new
        assert r.values == own_reading(docker, env, node), r
        assert not r.errors, r.errors
    same = V.config_parity(tl, "app", "app-new", at="before")
    assert same.status == "pass" and same.value == 0, same.sentence
    assert same.sentence == "config parity: 5 settings agree (app vs app-new, before the change)"

    drift = drill.inject(ConfigDrift(Target("app-new"), environment={"POOL_SIZE": "1"}))
    new = env.node("app-new")
    assert docker_exec(docker, new, "printenv", "POOL_SIZE") == "1"        # the drift is real
    drill.config_snapshot(["app", "app-new"], moment="after")
    drifted = V.config_parity(tl, "app", "app-new", at="after")
    assert drifted.status == "fail" and drifted.value == 1
    assert drifted.sentence == "config parity: 1 setting differs — pool size: old 4, new 1 (app vs app-new)"
    # the new landscape before vs after: the drifted node named
    across = V.config_parity(tl, "app-new", at="across")
    assert across.status == "fail" and "pool size: old 4, new 1 (app-new, before vs after the change)" in across.sentence

    drill.heal(drift)
    assert docker_exec(docker, env.node("app-new"), "printenv", "POOL_SIZE") == "4"
    drill.config_snapshot(["app", "app-new"], moment="after")              # the last reading counts
    assert V.config_parity(tl, "app", "app-new", at="after").status == "pass"


SCENARIO = """\
scenario: a drifted pool size on the new landscape, named before anything else looks at it
source: SCENARIOS.md incident 1 (11 April 2019)
environment: {env}
users:
  writers: 4
steady_state: {{duration: 1s}}
faults:
  - kind: config_drift
    target: {{service: app-new}}
    environment: {{POOL_SIZE: "{pool}"}}
    at: 0s
observe: 1s
expect:
  config_parity: {{old: app, new: app-new, at: after, settings: [pool size, session rule]}}
"""


@pytest.mark.drill(ENV, fault="config_drift", scenario="config parity from YAML", severity="normal")
@pytest.mark.parametrize("pool, fails", [("4", False), ("1", True)], ids=["same-pool", "drifted-pool"])
def test_config_parity_from_yaml(drill, docker, tmp_path, pool, fails):
    path = tmp_path / "parity.yaml"
    path.write_text(SCENARIO.format(env=ENV, pool=pool), encoding="utf-8")
    sc = load_scenario(path)
    if fails:
        with pytest.raises(DrillFailed, match=r"config parity: 1 setting differs — pool size: old 4, new 1 "
                                              r"\(app vs app-new\)"):
            run_scenario(sc, drill)
    else:
        run_scenario(sc, drill)
    readings = [r for r in drill.timeline.of("config")]
    assert {(r["moment"], r["node"]) for r in readings} >= {("after", "app-1"), ("after", "app-new")}
    new_after = next(r for r in readings if r["moment"] == "after" and r["node"] == "app-new")
    # read once the drift was in place (the start of observe), checked against the container's own
    # environment while it ran: the drill's config_drift started app-new with POOL_SIZE=<pool>
    assert new_after["settings"]["pool size"] == pool
    assert docker_exec(docker, drill.env.node("app-new"), "printenv", "POOL_SIZE") == "4"   # healed

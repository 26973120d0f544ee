"""Change faults as users write them (issue 16): one rolling upgrade over several services (a list
or a group), `to:` another Compose file's definition, drain and undrain each optional, a new
address per new container unless told otherwise; kill's signal on the record. Pure logic: what the
scenario file may say and what the fault makes of it (the containers are in tests/lab/test_edges.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from drillkit.errors import ConfigError, FaultError
from drillkit.faults.change import ConfigDrift, RollingUpgrade
from drillkit.faults.kinds import create
from drillkit.lab.backends.docker.backend import DockerBackend
from drillkit.lab.compose import load_environment, redefined
from drillkit.lab.node import Node
from drillkit.scenario.model import load_scenario
from drillkit.stack import load_stack
from drillkit.stack.target import Target, Targets

COMPOSE = """\
x-drillkit:
  entrypoint: {service: lb, port: 8080}
  groups: {web: [app-1, app-2, app-3]}
  runbooks:
    reload-lb:
      - exec: {on: lb, command: "kill -USR2 1"}
services:
  lb:
    image: edge-lb
    ports: ["8080"]
    networks: [front]
  app-1: {image: edge-app, environment: {VERSION: "1"}, networks: [front]}
  app-2: {image: edge-app, environment: {VERSION: "1"}, networks: [front]}
  app-3: {image: edge-app, environment: {VERSION: "1"}, networks: [front]}
networks:
  front: {}
"""

V2 = """\
services:
  app-1: {image: edge-app:v2, command: [serve, --v2], environment: {VERSION: "2"}, networks: [other]}
  app-2: {image: edge-app:v2, environment: {VERSION: "2"}, networks: [other]}
networks:
  other: {}
"""


@pytest.fixture()
def stack_dir(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(COMPOSE, encoding="utf-8")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "compose.yaml").write_text(V2, encoding="utf-8")
    return tmp_path


def scenario(stack_dir: Path, fault: str) -> Path:
    p = stack_dir / "s.yaml"
    p.write_text(f"scenario: upgrade\nenvironment: compose.yaml\nprobe: false\nfaults:\n{fault}\nobserve: 1s\n",
                 encoding="utf-8")
    return p


def error(path: Path) -> str:
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert "\n" not in msg and "fix:" in msg, msg
    return msg


# -- several services in one rollout ----------------------------------------------------------------

def test_a_list_of_services_is_one_target_and_one_rollout(stack_dir):
    sc = load_scenario(scenario(stack_dir, "  - {kind: rolling_upgrade, target: [app-1, app-2, app-3], "
                                           "environment: {VERSION: '2'}}"))
    (step,) = sc.faults
    assert isinstance(step.target, Targets) and step.target.services == ("app-1", "app-2", "app-3")
    assert str(step.target) == "app-1, app-2, app-3"
    assert step.fault.services == ("app-1", "app-2", "app-3")


def test_a_group_of_x_drillkit_groups_is_a_target_by_its_name(stack_dir):
    assert load_stack(stack_dir / "compose.yaml").groups == {"web": ("app-1", "app-2", "app-3")}
    sc = load_scenario(scenario(stack_dir, "  - {kind: rolling_upgrade, target: web, environment: {VERSION: '2'}}"))
    (step,) = sc.faults
    assert step.target.name == "web" and step.target.services == ("app-1", "app-2", "app-3")
    assert step.fault.describe() == "rolling_upgrade web"


def test_a_list_entry_that_is_no_service_is_named_by_its_index(stack_dir):
    msg = error(scenario(stack_dir, "  - {kind: rolling_upgrade, target: [app-1, app-9], environment: {V: '2'}}"))
    assert "faults[0].target[1].service: 'app-9' is not a service" in msg


@pytest.mark.parametrize("groups, words", [
    ("{lb: [app-1]}", "group 'lb' has the name of a service"),
    ("{web: []}", "a group is a non-empty list of services"),
    ("{web: [app-1, app-7]}", "'app-7' is not a service"),
])
def test_bad_groups_are_refused_when_the_file_loads(stack_dir, groups, words):
    f = stack_dir / "compose.yaml"
    f.write_text(COMPOSE.replace("groups: {web: [app-1, app-2, app-3]}", f"groups: {groups}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=words):
        load_stack(f)


def test_order_by_node_names_across_services_and_replica_numbers_only_for_one():
    nodes = [Node("e", f"app-{i}", 1, "default", f"c{i}", "r", single=True) for i in (1, 2, 3)]
    up = RollingUpgrade(["app-1", "app-2", "app-3"], environment={"V": "2"}, order=["app-3", "app-1", "app-2"])
    assert [n.name for n in up._order(nodes)] == ["app-3", "app-1", "app-2"]
    assert [n.name for n in RollingUpgrade(["app-3", "app-1", "app-2"], environment={"V": "2"})._order(nodes)] \
        == ["app-3", "app-1", "app-2"]                       # ascending: the target's order
    with pytest.raises(FaultError, match="gives replica numbers, but the target has 3 services"):
        RollingUpgrade(["app-1", "app-2", "app-3"], environment={"V": "2"}, order=[3, 1, 2])._order(nodes)
    assert isinstance(RollingUpgrade("app-1", environment={"V": "2"}).target, Target)


# -- drain optional, heal, new address ----------------------------------------------------------------

def test_undrain_without_drain_is_a_step_of_its_own(stack_dir):
    sc = load_scenario(scenario(stack_dir, "  - {kind: rolling_upgrade, target: web, environment: {V: '2'}, "
                                           "undrain: reload-lb}"))
    f = sc.faults[0].fault
    assert (f.drain, f.undrain, f.drain_wait) == ("", "reload-lb", 0.0)
    with pytest.raises(FaultError, match="drain_wait without drain"):
        RollingUpgrade("app-1", environment={"V": "2"}, drain_wait="1s")


def test_a_new_address_unless_told_otherwise(stack_dir):
    assert RollingUpgrade("app-1", environment={"V": "2"}).new_address is True
    assert ConfigDrift("app-1", environment={"V": "2"}).new_address is True
    sc = load_scenario(scenario(stack_dir, "  - {kind: rolling_upgrade, target: app-1, environment: {V: '2'}, "
                                           "new_address: false}"))
    assert sc.faults[0].fault.new_address is False
    msg = error(scenario(stack_dir, "  - {kind: rolling_upgrade, target: app-1, environment: {V: '2'}, "
                                    "new_address: kept}"))
    assert "faults[0].new_address: must be true or false" in msg


def test_heal_none_keeps_the_new_version(stack_dir):
    sc = load_scenario(scenario(stack_dir, "  - {kind: rolling_upgrade, target: web, environment: {V: '2'}, "
                                           "heal: none}"))
    assert sc.faults[0].heal == "none" and sc.faults[0].fault.heal_mode == "none"


# -- to: another Compose file ---------------------------------------------------------------------------

def test_to_names_another_compose_file_relative_to_the_scenario(stack_dir):
    sc = load_scenario(scenario(stack_dir, "  - {kind: rolling_upgrade, target: [app-1, app-2], to: v2}"))
    f = sc.faults[0].fault
    assert f.to == str(stack_dir / "v2" / "compose.yaml") and sorted(f.to_spec.services) == ["app-1", "app-2"]
    spec = load_environment(stack_dir / "compose.yaml")
    mine = redefined(spec.services["app-1"], f.to_spec.services["app-1"])
    # what runs comes from v2; where it runs (networks, ports) stays this file's
    assert (mine.image, mine.command, mine.environment) == ("edge-app:v2", ["serve", "--v2"], {"VERSION": "2"})
    assert list(mine.networks) == ["front"]


def test_to_must_exist_and_define_every_target_service(stack_dir):
    msg = error(scenario(stack_dir, "  - {kind: rolling_upgrade, target: app-1, to: v3/compose.yaml}"))
    assert "s.yaml:5: faults[0].to: no Compose file 'v3/compose.yaml'" in msg
    msg = error(scenario(stack_dir, "  - {kind: rolling_upgrade, target: web, to: v2}"))
    assert "faults[0].to:" in msg and "defines no service 'app-3'" in msg
    with pytest.raises(FaultError, match="to: brings its own image"):
        RollingUpgrade("app-1", image="x:2", to=stack_dir / "v2" / "compose.yaml")


# -- the signals on the record ------------------------------------------------------------------------------

def test_kill_says_its_signal_and_takes_another():
    assert create("kill", "app-1").detail() == {"signal": "SIGKILL"}
    assert create("kill", "app-1", signal="term").detail() == {"signal": "SIGTERM"}
    with pytest.raises(FaultError, match="signal must be one of SIGKILL, SIGTERM"):
        create("kill", "app-1", signal="SIGSTOP")


# -- the docker backend's addresses --------------------------------------------------------------------------

def test_docker_addresses_are_new_for_a_replaced_container_and_kept_when_asked():
    b = DockerBackend.__new__(DockerBackend)
    b._subnets, b._ips, b._released, b._ip_lock = {"front": ("10.9.0", 10)}, {}, {}, threading.Lock()
    with b._ip_lock:
        first = b._address("front", "app-2")
    assert first == "10.9.0.10"
    with b._ip_lock:
        assert b._address("front", "app-2") == first            # started again: the same address
    b._new_address("app-2", ["front"])
    with b._ip_lock:
        second = b._address("front", "app-2")
    assert second == "10.9.0.11" and b._released == {"front": [first]}
    b._subnets["front"] = ("10.9.0", 255)                        # every number used once
    b._new_address("app-2", ["front"])
    with b._ip_lock:
        assert b._address("front", "app-2") == first            # the longest unused comes back last

"""Schedules: one canonical text, the scenario they become (checked by the real scenario validator on
the shipped stacks), the YAML a finding is written as, and that it reads back as the same schedule."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml

from drillkit.errors import ConfigError
from drillkit.explore import (Budget, Link, Pick, Role, Schedule, Service, Topology, Vocabulary, explore,
                              next_found_path, scenario_yaml, uniform_schedule)
from drillkit.explore.targets import Target
from explore_support import KINDS, SHOP, FakeClock, SimulatedStack, partition_overlapping_kill

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "scenario": "shop: writes survive whatever happens",
    "environment": "shop",
    "users": {"buyers": 10, "browsers": {"count": 4, "think": "200ms"}},
    "steady_state": {"duration": "3s", "availability": {"buyers": 0.99}},
    "faults": [{"kind": "kill", "target": {"service": "app", "replica": 1}}],
    "observe": "5s",
    "recover": "2s",
    "expect": {"writes_lost": 0},
    "explore": {"max_faults": 3},
}


def shop(**fields) -> Vocabulary:
    return Vocabulary.derive(SHOP, kinds=fields.pop("kinds", KINDS), **fields)


def draws(v: Vocabulary, seed: int = 0, n: int = 30) -> list[Schedule]:
    rng = random.Random(seed)
    return [uniform_schedule(v, rng) for _ in range(n)]


def test_the_text_is_canonical_whatever_order_the_faults_were_drawn_in():
    v = shop()
    s = draws(v, n=1)[0]
    while s.size < 3:
        s = draws(v, seed=len(s.text), n=1)[0]
    again = Schedule(tuple(reversed(s.faults)), s.users)
    assert again == s and again.text == s.text and hash(again.faults) == hash(s.faults)
    assert s.text.count(";") == 2 and s.size == 3
    kill = next(o for o in v.options if o.label == "kill db")
    lat = next(o for o in v.options if o.name == "latency")
    one = v.schedule([Pick(v.options.index(kill), 0, 2, 3)])
    assert one.text == "kill db at 2s for 4s"
    slow = v.schedule([Pick(v.options.index(lat), 1, 0, 0)])
    assert slow.text == "latency link:app-db latency=1000 at 0s for 1s"


def test_smaller_means_fewer_faults_then_shorter_then_earlier():
    v = shop()
    kill_db = [o.label for o in v.options].index("kill db")
    part = [o.label for o in v.options].index("partition app|db")
    two = v.schedule([Pick(kill_db, 0, 0, 0), Pick(part, 0, 0, 0)])
    one_long = v.schedule([Pick(kill_db, 0, 5, 9)])
    later = v.schedule([Pick(kill_db, 0, 5, 0)])
    first = v.schedule([Pick(kill_db, 0, 0, 0)])
    assert first.sort_key < later.sort_key < one_long.sort_key < two.sort_key


def test_faults_that_cannot_run_together_are_left_out_when_laid_out():
    v = shop(max_nodes=1, kinds=("kill", "pause"))
    labels = [o.label for o in v.options]
    kill_db, pause_db = labels.index("kill db"), labels.index("pause db")
    kill_app1, kill_app2 = labels.index("kill app-1"), labels.index("kill app-2")
    # the same node killed and paused at once: the later one is dropped
    assert v.schedule([Pick(kill_db, 0, 0, 5), Pick(pause_db, 0, 2, 0)]).text == "kill db at 0s for 6s"
    # one after the other is fine
    assert v.schedule([Pick(kill_db, 0, 0, 0), Pick(pause_db, 0, 2, 0)]).size == 2
    # max_nodes 1: two nodes down at once is one too many
    assert v.schedule([Pick(kill_app1, 0, 0, 5), Pick(kill_app2, 0, 1, 0)]).labels() == ("kill app-1",)
    # faults may not overlap: each starts a gap after the previous one heals; past the at range, dropped
    seq = shop(overlap=False, at=(0.0, 10.0), kinds=("kill", "pause"))
    s = seq.schedule([Pick(kill_db, 0, 1, 4), Pick(kill_app1, 0, 0, 0), Pick(kill_app2, 0, 9, 0)])
    assert s.text == "kill db at 1s for 5s; kill app-1 at 6s for 1s"
    assert not any(a.overlaps(b) for a in s.faults for b in s.faults if a is not b)


def test_to_scenario_keeps_the_base_and_puts_the_schedule_in_with_observe_long_enough():
    v = shop(users={"buyers": (2, 20), "browsers": (1, 4)})
    base = copy.deepcopy(BASE)
    for s in draws(v):
        sc = s.to_scenario(base)
        assert base == BASE, "the base is not changed"
        assert list(sc) == ["scenario", "environment", "users", "steady_state", "faults", "observe", "recover", "expect"]
        assert sc["faults"] == [d.to_fault() for d in s.faults] and "explore" not in sc
        last = max(d.at for d in s.faults)
        observe = float(sc["observe"].rstrip("s"))
        assert observe >= 5.0 and all(d.end <= last + observe for d in s.faults), "every fault heals before observe ends"
        users = dict(s.users)
        assert sc["users"]["buyers"] == users["buyers"]
        assert sc["users"]["browsers"] == {"count": users["browsers"], "think": "200ms"}
    latency = [o.label for o in v.options].index("latency link:app-db")
    fault = v.schedule([Pick(latency, 1, 3, 2)]).faults[0].to_fault()
    assert fault == {"kind": "latency", "link": "app-db", "latency": 1000, "at": "3s", "for": "3s"}


def test_to_scenario_refuses_what_generated_faults_cannot_follow():
    s = draws(shop(), n=1)[0]
    with pytest.raises(ConfigError, match=r"^search: a breaking-point search cannot be explored — fix: "):
        s.to_scenario({**BASE, "search": {"rate": 10}})
    with pytest.raises(ConfigError, match=r"^runbook\[0\]\.after: a runbook run after a fault .* — fix: give it at:"):
        s.to_scenario({**BASE, "runbook": [{"after": "faults[0]", "run": "promote-replica"}]})
    with pytest.raises(ConfigError, match=r"^observe: not a duration: 'soon' — fix: observe: 10s$"):
        s.to_scenario({**BASE, "observe": "soon"})


def test_fault_targets_are_written_as_scenarios_write_them():
    pair = Target.pair(("primary",), ("replica",))
    assert pair.fields() == {"side_a": ["primary"], "side_b": ["replica"]}
    assert Target.from_fields({"kind": "partition", "side_a": "primary", "side_b": ["replica"]}) == pair
    assert Target.node("app", 2).fields() == {"target": {"service": "app", "replica": 2}}
    assert Target.from_fields({"target": {"service": "app", "replica": 2}}).label == "app-2"
    assert Target.for_role("primary").fields() == {"target": {"role": "primary"}}
    assert Target.from_fields({"target": "db"}) == Target.node("db")
    assert Target.for_zone("zone-a").fields() == {"zone": "zone-a"}
    assert Target.for_link("app-db").fields() == {"link": "app-db"}
    assert Target.from_fields({"kind": "kill"}) is None


def test_a_finding_is_written_as_a_scenario_that_reads_back_as_the_same_schedule(tmp_path):
    clock = FakeClock()
    v = shop(budget=Budget(trials=300), seed=3)
    result = explore(v, SimulatedStack(clock, partition_overlapping_kill), clock=clock)
    f = result.finding
    found = tmp_path / "reports" / "found"
    first = f.write(found, BASE)
    second = f.write(found, BASE)
    assert (first.name, second.name) == ("shop-1.yaml", "shop-2.yaml")
    text = first.read_text()
    head = text.splitlines()[:5]
    assert head[0] == f"# Found by drill explore (seed 3): {f.how()}."
    assert head[1] == f"# Schedule: {f.schedule.text}"
    assert head[2] == "# Verdict: writes lost: 3 of 120 acknowledged writes missing (expected 0)"
    assert head[3] == "# Reproduce: drill run <this file>"
    assert "  - {kind: kill, target: {service: db}, at: 0s, for: 1s}" in text
    loaded = yaml.safe_load(text)
    assert loaded["scenario"] == f"{BASE['scenario']} — found by drill explore: {f.schedule.text}"
    assert loaded["source"] == f"drill explore, seed 3, trial {f.found_run}"
    assert list(loaded)[:3] == ["scenario", "source", "environment"]
    assert Schedule.from_scenario(loaded, v) == f.schedule
    assert Schedule.from_scenario(loaded).text == f.schedule.text
    assert next_found_path(found, "shop").name == "shop-3.yaml"
    assert next_found_path(found, "shop-eu").name == "shop-eu-1.yaml"


def test_every_kind_round_trips_through_yaml():
    topo = Topology("pair", services=(Service("app", 2, zones=("a", "b"), net_admin=True), Service("db")),
                    links=(Link("app-db", ("app",), "db"),), roles=(Role("primary", ("db",), heal="promote"),))
    changes = {"v2": {"kind": "rolling_upgrade", "target": {"service": "app"}, "build_args": {"V": "2"},
                      "drain": "drain-node"}}
    v = Vocabulary.derive(topo, changes=changes, kinds=("latency", "pause", "restart", "hard_restart", "kill",
                                                          "link_down", "partition", "zone_kill", "v2"),
                          users={"buyers": (1, 5)})
    for i, o in enumerate(v.options):
        for j in range(len(o.variants)):
            s = v.schedule([Pick(i, j, 1, 2)], [("buyers", 3)])
            sc = s.to_scenario(BASE)
            back = yaml.safe_load(scenario_yaml(sc))
            assert Schedule.from_scenario(back, v) == s, o.label
    kill_primary = v.schedule([Pick([o.label for o in v.options].index("kill role:primary"), 0, 0, 0)])
    assert kill_primary.faults[0].to_fault() == {"kind": "kill", "target": {"role": "primary"}, "at": "0s",
                                                 "for": "1s", "heal": "promote"}
    hard = v.schedule([Pick([o.label for o in v.options].index("hard_restart db"), 0, 0, 0)])
    assert hard.faults[0].to_fault()["grace"] == 0 and hard.text == "hard_restart db at 0s for 1s"


def test_reading_a_scenario_that_was_not_explored_is_refused():
    with pytest.raises(ConfigError, match=r"^faults: the scenario has no faults: list"):
        Schedule.from_scenario({"scenario": "x"})
    with pytest.raises(ConfigError, match=r"^faults\[0\]: a fault of an explored schedule has kind and for"):
        Schedule.from_scenario({"faults": [{"kind": "kill"}]})


# -- the real validator on the shipped stacks: generated schedules are valid scenarios ------------------
def _topology(compose: Path, heals: dict[str, str]):
    from drillkit.stack import load_stack
    spec = load_stack(compose)
    services = tuple(Service(s.name, s.replicas, zones=tuple(s.zones), net_admin="NET_ADMIN" in s.cap_add)
                     for s in spec.services.values())
    links = tuple(Link(link.name, tuple(link.sources), link.target) for link in spec.links)
    roles = tuple(Role(r.name, tuple(r.services), heal=heals.get(r.name)) for r in spec.roles.values())
    return Topology(spec.stack, services, links, roles)


@pytest.mark.parametrize("scenario, compose, heals, exclude", [
    ("scenarios/registry_node_kill.yaml", "environments/registry/compose.yaml", {"primary": "promote-replica"}, ["lb"]),
    ("examples/patroni/scenarios/patroni_primary_loss.yaml", "examples/patroni/environments/patroni/compose.yaml", {}, []),
    ("scenarios/dualdc_dns_side_by_side.yaml", "environments/dualdc/compose.yaml", {}, []),
])
def test_generated_schedules_are_valid_scenarios_of_the_shipped_stacks(tmp_path, scenario, compose, heals, exclude):
    from drillkit.scenario.model import load_scenario
    from drillkit.explore.guide import Guide

    base = yaml.safe_load((ROOT / scenario).read_text())
    base["environment"] = str((ROOT / compose).resolve())
    topo = _topology(ROOT / compose, heals)
    v = Vocabulary.derive(topo, exclude=exclude, max_nodes=base.get("max_nodes"), seed=1)
    assert len(v.options) > 10
    guide = Guide(v, 1)
    rng = random.Random(1)
    schedules = [uniform_schedule(v, rng) for _ in range(12)]
    for _ in range(12):
        drawn = guide.picks(guide.options())
        schedules.append(v.schedule(drawn))
    kinds = set()
    for i, s in enumerate(schedules):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(scenario_yaml(s.to_scenario(base)))
        loaded = load_scenario(path)       # raises the validator's one-line ConfigError if invalid
        assert len(loaded.faults) == s.size
        kinds |= {d.name for d in s.faults}
    assert {"kill", "pause"} <= kinds

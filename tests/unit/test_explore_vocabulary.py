"""The vocabulary: what `derive` makes of a stack's topology, and the one-line errors of a bad one."""

from __future__ import annotations

import pytest

from drillkit.errors import ConfigError
from drillkit.explore import Budget, Link, Role, Service, Topology, Vocabulary
from drillkit.explore.vocabulary import DEFAULT_KINDS
from explore_support import PAIR, SHOP


def labels(v: Vocabulary) -> list[str]:
    return [o.label for o in v.options]


def test_derive_offers_every_replica_role_link_partition_and_zone():
    v = Vocabulary.derive(SHOP)
    assert [t.label for t in v.targets] == ["app-1", "app-2", "db", "cache", "link:app-db", "link:app-cache",
                                            "app|db", "app|cache", "zone:zone-a", "zone:zone-b"]
    assert v.kinds == DEFAULT_KINDS
    assert labels(v)[:4] == ["latency link:app-db", "latency link:app-cache", "pause app-1", "pause app-2"]
    assert "hard_restart db" in labels(v) and "zone_kill zone:zone-a" in labels(v)
    zone = next(t for t in v.targets if t.label == "zone:zone-a")
    assert zone.nodes == {"app-1"}
    latency = next(o for o in v.options if o.name == "latency")
    assert latency.variants == ((("latency", 100),), (("latency", 1000),))
    assert len(v.options) == 24 and v.budget == Budget(trials=100) and v.confirm == 2


def test_a_role_with_a_runbook_is_healed_by_it_and_roles_of_one_service_are_cut_apart():
    v = Vocabulary.derive(PAIR)
    assert v.heals == {"role:primary": "promote-replica"}
    kill = next(o for o in v.options if o.label == "kill role:primary")
    assert kill.heal == "promote-replica" and kill.target.fields() == {"target": {"role": "primary"}}
    # only a kill (or stop) is healed by the runbook: a pause or a restart heals itself
    assert next(o for o in v.options if o.label == "pause role:primary").heal is None
    # partitions are cut from the side that takes iptables rules (app), never from db
    assert [t.label for t in v.targets if t.family == "pair"] == ["app|db"]
    both = Topology("pg", (Service("pg", 3, net_admin=True),),
                    roles=(Role("primary", ("pg",)), Role("replica", ("pg",))))
    assert "partition primary|replica" in labels(Vocabulary.derive(both))
    assert "zone_kill" not in Vocabulary.derive(both).kinds, "one zone (none declared): no zone outage"


def test_exclude_takes_services_and_target_labels():
    v = Vocabulary.derive(SHOP, exclude=["cache", "app|db", "zone:zone-b"])
    assert "cache" not in [t.label for t in v.targets] and "app|db" not in [t.label for t in v.targets]
    assert "zone:zone-b" not in [t.label for t in v.targets] and "link:app-cache" in [t.label for t in v.targets]
    with pytest.raises(ConfigError, match=r"^explore\.exclude\[0\]: the stack has no service or target 'lb' — fix: use a service \(app, cache, db\) or a target label$"):
        Vocabulary.derive(SHOP, exclude=["lb"])


def test_max_nodes_keeps_out_faults_that_touch_more_nodes():
    v = Vocabulary.derive(SHOP, max_nodes=1)
    assert "partition app|db" not in labels(v), "its side A (app) has 2 nodes"
    assert "zone_kill zone:zone-a" in labels(v)
    assert "partition" not in v.kinds


def test_the_digest_names_what_can_be_drawn_not_budget_seed_or_confirm():
    v = Vocabulary.derive(SHOP)
    assert v.with_(budget=Budget(time=60), seed=9, confirm=3).digest == v.digest
    assert v.with_(max_faults=2).digest != v.digest
    assert Vocabulary.derive(SHOP, latency=(50,)).digest != v.digest


def test_describe_says_what_is_explored():
    v = Vocabulary.derive(SHOP, kinds=("kill", "partition"), budget=Budget(time=480, trials=200), seed=1)
    assert v.describe() == ("6 faults (kill, partition) on 10 targets, up to 3 per schedule, overlapping, "
                            "at 0s..20s for 1s..10s; budget 8 min 0 s or 200 trials; seed 1; confirmed 2 of 2")


@pytest.mark.parametrize("fields, message", [
    ({"kinds": ("kill", "smash")}, r"explore\.kinds\[1\]: unknown kind 'smash' — fix: use kill, stop, restart, "),
    ({"kinds": ("kill", "kill")}, r"explore\.kinds\[1\]: kind 'kill' is listed twice — fix: name each kind once"),
    ({"kinds": ()}, r"explore\.kinds: no fault kinds to explore"),
    ({"max_faults": 0}, r"explore\.max_faults: must be 1\.\.20, not 0 — fix: e\.g\. max_faults: 3"),
    ({"at": (20.0, 0.0)}, r"explore\.at: range \[20s, 0s\] runs backwards — fix: write at: \[0s, 20s\]"),
    ({"duration": (0.0, 5.0)}, r"explore\.for: starts at 0s: a fault must last — fix: start for at 1s or more"),
    ({"at": (0.0, 3600.0), "step": 0.1}, r"explore\.at: \[0s, 3600s\] in steps of 100ms is more than 10000 times"),
    ({"confirm": 0}, r"explore\.confirm: must be 1\.\.10 runs, not 0 — fix: confirm: 2"),
    ({"latency": (0,)}, r"explore\.latency: latencies are whole milliseconds ≥ 1, not 0"),
    ({"users": {"buyers": (5, 2)}}, r"explore\.users\.buyers: users of buyers must be a range \[fewest, most\]"),
    ({"heals": {"role:leader": "promote"}}, r"explore\.heal\.role:leader: heal names target 'role:leader', which is not explored"),
    ({"changes": {"v2": {"kind": "rolling_upgrade", "for": "5s"}}},
     r"explore\.changes\.v2\.for: `for` is drawn by the search, not written"),
    ({"changes": {"kill": {"kind": "config_drift"}}}, r"explore\.changes\.kill: a change fault may not be called 'kill'"),
])
def test_a_bad_vocabulary_is_one_line_naming_the_field_and_the_fix(fields, message):
    with pytest.raises(ConfigError, match="^" + message) as info:
        Vocabulary.derive(SHOP, **fields)
    assert "\n" not in str(info.value) and " — fix: " in str(info.value)


def test_a_kind_without_targets_says_what_it_needs():
    plain = Topology("plain", (Service("web"),))
    with pytest.raises(ConfigError, match=r"^explore\.kinds\[0\]: kind 'latency' has no target: it needs a link "
                                          r"\(x-drillkit\.links\) — fix: drop latency from kinds"):
        Vocabulary.derive(plain, kinds=("latency",))
    assert Vocabulary.derive(plain).kinds == ("pause", "restart", "hard_restart", "kill")


def test_a_budget_needs_a_bound():
    with pytest.raises(ConfigError, match=r"^explore\.budget: a budget needs time or trials"):
        Budget()
    with pytest.raises(ConfigError, match=r"^explore\.budget\.trials: trials must be a whole number ≥ 1, not 0"):
        Budget(trials=0)
    assert Budget(time=90).text() == "1 min 30 s" and Budget(time=60, trials=5).text() == "1 min 0 s or 5 trials"


def test_a_topology_is_checked():
    with pytest.raises(ConfigError, match=r"link 'x' names service 'nope', which the stack does not have"):
        Topology("t", (Service("a"),), links=(Link("x", ("a",), "nope"),))
    with pytest.raises(ConfigError, match=r"service 'a' is described twice"):
        Topology("t", (Service("a"), Service("a")))
    with pytest.raises(ConfigError, match=r"stack 't' has no services to explore"):
        Topology("t", ())
    assert SHOP.zones == ("zone-a", "zone-b") and SHOP.zone_nodes("zone-b") == ("app-2",)

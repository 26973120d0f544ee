"""Recovery per user, proven both ways on timelines built for the purpose (issue 7).

Each timeline is a small simulation: users send a request every ``INTERVAL`` seconds (staggered), a
load balancer picks a node, and a request to a dead node fails. The figures the verdict reports are
compared with what the simulation itself knows (when the node came back, when the outage ended).
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, recovery_time
from drillkit.verdicts.recovery import first_fault, observed_until, users_recovery

INTERVAL = 0.2      # each user's think time between requests
LATENCY = 0.01
POP = "existing-sessions"


def phases(tl, inject, heal, end):
    for name, s, e in (("steady", 0.0, inject), ("inject", inject, inject), ("observe", inject, heal),
                       ("recover", heal, end), ("verify", end, end + 0.5)):
        tl.add("phase", t=s, phase=name, event="start")
        tl.add("phase", t=e, phase=name, event="end")


def simulate(*, users=20, nodes=3, dead=frozenset({"app-2"}), inject=5.0, heal=13.0, end=18.0,
             down=None, heal_event=True, node_back=None, interval=INTERVAL, extra_fail=None, names=None,
             balance="round-robin"):
    """20 users behind a round-robin balancer *without* passive failover: a request sent to a dead node
    fails (502) until the node is back at ``node_back`` (default: the heal). ``down(t, user, node)``
    overrides who fails; ``extra_fail(t, user)`` adds failures."""
    node_back = heal if node_back is None else node_back
    names = names or [f"clerk-{i:02d}" for i in range(users)]
    tl = Timeline()
    phases(tl, inject, heal, end)
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-2"], t=inject)
    if heal_event:
        tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-2"], t=heal)
    sends = sorted((round(i * 0.01 + k * interval, 6), i) for i in range(users)
                   for k in range(int(end / interval) + 1) if i * 0.01 + k * interval < end + 0.5)
    rr = itertools.cycle([f"app-{n}" for n in range(1, nodes + 1)])
    rng = random.Random(7)
    for t, i in sends:
        node = next(rr) if balance == "round-robin" else f"app-{rng.randint(1, nodes)}"
        if down is not None:
            failed = down(t, i, node)
        else:
            failed = node in dead and inject <= t < node_back
        if extra_fail is not None and extra_fail(t, i):
            failed = True
        tl.probe(population=POP, client=names[i], op="GET /residents/{id}", ok=not failed, t=t,
                 t_end=t + LATENCY, status=502 if failed else 200, node=None if failed else node,
                 session="valid")
    return tl


def old_mixed_recovery(tl, population=POP, consecutive=3):
    """The definition issue 7 replaced: the first 3 successes in a row *of the mix* of every user's
    requests after the first failure (kept here only to show what it got wrong)."""
    w = first_fault(tl)
    after = tl.probes(population, since=w.start)
    start = next(i for i, r in enumerate(after) if not r["ok"]) + 1
    run = 0
    for i, r in enumerate(after[start:], start):
        run = run + 1 if r["ok"] else 0
        if run == consecutive:
            return after[i - consecutive + 1]["t_end"] - w.start
    return None


# -- the definitions, both ways -----------------------------------------------------------------------

def test_round_robin_partial_outage_fails_with_the_last_user_back_at_the_node_s_return():
    """3 nodes, app-2 dead for 8 s, 20 users: every user fails about a third of its requests until
    the node is back. Recovery is the node's return, not the first lucky successes of the mix."""
    tl = simulate()
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == FAIL
    assert 8.0 <= v.value <= 8.0 + 3 * INTERVAL + LATENCY      # node back at +8 s, 3 requests apart
    assert v.details["hit"] == 20 and v.details["not_back"] == 0
    assert v.sentence.startswith(f"recovery time {v.value:.1f} s: 20 of 20 {POP} users hit, median ")
    assert f"last user back {v.value:.1f} s after kill of registry/app-2 (target ≤ 5 s)" in v.sentence


def test_the_mix_of_users_recovers_early_the_users_do_not():
    """The same outage behind a balancer that picks nodes at random (as nginx workers each keeping
    their own round-robin do): the mix of all users' requests soon has 3 successes in a row — the old
    definition's 0.x s pass — while the last user is back only when the node is."""
    tl = simulate(balance="random")
    assert old_mixed_recovery(tl) < 1.0
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == FAIL and 7.0 <= v.value <= 8.0 + 3 * INTERVAL + LATENCY


def test_clean_outage_of_all_users_gives_its_length_within_one_interval():
    tl = simulate(down=lambda t, i, node: 5.0 <= t < 6.5, heal=6.5, end=10.0)
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == PASS
    assert abs(v.value - 1.5) <= INTERVAL + LATENCY
    assert v.details["hit"] == 20 and v.details["back"] == 20
    assert v.details["median_s"] <= v.details["p95_s"] <= v.value


def test_a_user_who_never_comes_back_fails_not_recovered():
    tl = simulate(down=lambda t, i, node: (5.0 <= t < 6.5) or (i == 7 and t >= 5.0), heal=6.5, end=10.0)
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == FAIL and v.value is None
    assert v.sentence.startswith(f"not recovered: 1 of 20 {POP} users still failing when the drill ended")
    assert v.details["still_failing"] == ["clerk-07"]


def test_fewer_than_n_successes_after_the_last_failure_is_not_back():
    # clerk-03 sends at 9.43 (fails), 9.63, 9.83 (succeed); the recover phase ends at 10.0
    tl = simulate(down=lambda t, i, node: (5.0 <= t < 6.5) or (i == 3 and 5.0 <= t < 9.5), heal=6.5, end=10.0)
    mine = [r["ok"] for r in tl.probes(POP, since=9.4, until=10.0) if r["client"] == "clerk-03"]
    assert mine == [False, True, True]
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == FAIL and v.details["still_failing"] == ["clerk-03"]
    assert recovery_time(tl, target=5.0, population=POP, consecutive=2).details["not_back"] == 0


def test_no_user_hit_is_no_outage_seen_not_zero_seconds():
    tl = simulate(dead=frozenset())
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == PASS and v.value is None
    assert v.sentence == f"no outage seen: 0 of 20 {POP} users hit after kill of registry/app-2 (target ≤ 5 s)"
    assert "0.0 s" not in v.sentence


def test_unknown_without_fault_or_without_requests():
    assert recovery_time(Timeline(), target=1, population=POP).status == UNKNOWN
    tl = Timeline()
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-2"], t=1.0)
    v = recovery_time(tl, target=1, population=POP)
    assert v.status == UNKNOWN and v.sentence == f"recovery time unknown: no {POP} request after kill of registry/app-2"


def test_a_condition_set_up_in_the_steady_state_is_not_the_fault():
    tl = simulate(down=lambda t, i, node: 5.0 <= t < 6.5, heal=6.5, end=10.0)
    tl.records.insert(3, {"kind": "fault", "t": 0.5, "event": "inject", "fault": "latency", "fault_id": "lat",
                          "targets": ["replication"], "detail": {}})
    assert first_fault(tl).fault_id == "f1" and first_fault(tl, "lat").fault_id == "lat"
    v = recovery_time(tl, target=5.0, population=POP)
    assert abs(v.value - 1.5) <= INTERVAL + LATENCY and "after kill of registry/app-2" in v.sentence


def test_failures_after_the_recover_phase_are_outside_the_window():
    tl = simulate(down=lambda t, i, node: (5.0 <= t < 6.5) or t >= 10.0, heal=6.5, end=10.0)
    w = first_fault(tl)
    assert observed_until(tl, w) == 10.0
    assert recovery_time(tl, target=5.0, population=POP).status == PASS


def test_node_attribution_is_detail_never_a_filter():
    tl = simulate()
    v = recovery_time(tl, target=5.0, population=POP)
    served = v.details["hit_by_node"]
    assert sum(served.values()) == 20 and set(served) <= {"app-1", "app-2", "app-3"}
    assert "app-1" in served or "app-3" in served   # users last served by healthy nodes were hit too


# -- degraded after recovery -----------------------------------------------------------------------------

def test_degraded_after_recovery_fails_even_when_every_user_is_back_in_time():
    """The fault heals at 6 s; for 4 s more every 4th request fails (users are back within the target,
    but the service runs worse than before the fault)."""
    tl = simulate(down=lambda t, i, node: 5.0 <= t < 6.0, heal=6.0, end=16.0,
                  extra_fail=lambda t, i: 6.0 <= t < 8.0 and int(t / INTERVAL) % 4 == i % 4)
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == FAIL and v.value is not None and v.value <= 5.0
    assert v.sentence.startswith(f"degraded after recovery: {POP} ")
    assert "against 100.0 % of" in v.sentence and "(tolerance 2 points)" in v.sentence
    assert v.details["degraded"] is True
    assert v.details["after_heal_availability"] < v.details["steady_availability"] - 0.02


def test_within_tolerance_after_the_heal_passes():
    tl = simulate(down=lambda t, i, node: 5.0 <= t < 6.0, heal=6.0, end=16.0,
                  extra_fail=lambda t, i: i == 0 and abs(t - 7.0) < 1e-6)
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == PASS and v.details["degraded"] is False
    assert 0.99 < v.details["after_heal_availability"] < 1.0


def test_degraded_is_unmeasured_for_a_fault_never_healed_or_too_few_requests():
    tl = simulate(down=lambda t, i, node: 5.0 <= t < 6.0, heal=6.0, end=9.0, heal_event=False)
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.status == PASS and v.details["after_heal_availability"] is None
    assert v.sentence.endswith("; availability after the heal unmeasured (the fault was not healed before the verdict)")
    tl = simulate(users=2, down=lambda t, i, node: 5.0 <= t < 6.0, heal=6.0, end=9.0)
    v = recovery_time(tl, target=5.0, population=POP)
    assert v.details["after_heal_availability"] is None
    assert "availability after the heal unmeasured (only " in v.sentence


# -- properties ----------------------------------------------------------------------------------------

user_requests = st.lists(st.tuples(st.booleans(), st.floats(0.001, 1.0), st.floats(0.0, 0.5)), max_size=25)


def random_timeline(users, names, fault_at=2.0, heal_after=None):
    tl = Timeline()
    tl.fault("inject", fault="kill", fault_id="f1", targets=["s/n1"], t=fault_at)
    if heal_after is not None:
        tl.fault("heal", fault="kill", fault_id="f1", targets=["s/n1"], t=fault_at + heal_after)
    for name, reqs in zip(names, users):
        t = 0.0
        for ok, latency, gap in reqs:
            tl.probe(population="p", client=name, op="GET /", ok=ok, t=t, t_end=t + latency)
            t += latency + gap + 0.001     # one user waits for its answer before the next request
    return tl


@settings(max_examples=150, deadline=None)
@given(st.lists(user_requests, min_size=1, max_size=6), st.integers(1, 4))
def test_recovery_is_never_negative_nor_after_the_window(users, consecutive):
    names = [f"u{i}" for i in range(len(users))]
    tl = random_timeline(users, names)
    v = recovery_time(tl, target=1.0, population="p", consecutive=consecutive)
    if v.value is not None:
        assert 0.0 <= v.value <= tl.end - 2.0 + 1e-3
    if v.status != UNKNOWN and v.details.get("outage"):
        assert (v.value is None) == (v.details["not_back"] > 0)
    w = first_fault(tl)
    for u in users_recovery(tl, "p", w, consecutive=consecutive):
        assert u.back is None or u.back >= w.start


@settings(max_examples=100, deadline=None)
@given(st.lists(user_requests, min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.one_of(st.none(), st.floats(0.1, 5.0)))
def test_permuting_the_users_names_changes_nothing(users, rnd, heal_after):
    names = [f"u{i}" for i in range(len(users))]
    shuffled = names[:]
    rnd.shuffle(shuffled)
    renamed = [f"renamed-{n}" for n in shuffled]
    a = recovery_time(random_timeline(users, names, heal_after=heal_after), target=1.0, population="p")
    b = recovery_time(random_timeline(users, renamed, heal_after=heal_after), target=1.0, population="p")
    assert (a.status, a.value) == (b.status, b.value)
    for key in ("hit", "back", "not_back", "median_s", "p95_s", "after_heal_availability"):
        assert a.details.get(key) == b.details.get(key)


@pytest.mark.parametrize("bad", [{"consecutive": 0}, {"tolerance": 2.0}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        recovery_time(simulate(), target=1.0, population=POP, **bad)


def test_affected_only_is_gone():
    with pytest.raises(TypeError):
        recovery_time(simulate(), target=1.0, population=POP, affected_only=False)


def two_faults(down):
    """Every user fails while ``down(t)``; kill of app-2 at 5 s (healed 6 s), of app-3 at 8 s (healed 9.5 s)."""
    tl = simulate(down=lambda t, i, node: down(t), heal=9.5, end=14.0)
    tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-2"], t=6.0)
    tl.fault("inject", fault="kill", fault_id="f2", targets=["registry/app-3"], t=8.0)
    tl.fault("heal", fault="kill", fault_id="f2", targets=["registry/app-3"], t=9.5)
    return tl


def test_a_user_back_between_two_faults_counts_from_the_fault_that_hit_it_again():
    """The explorer's false finding on the sound registry: a second fault 2 s after the first charged
    its users those 2 s. Out 5-6 s, back, out again 8-9.5 s: 1.5 s after the second kill, not 4.5 s."""
    tl = two_faults(lambda t: 5.0 <= t < 6.0 or 8.0 <= t < 9.5)
    v = recovery_time(tl, target=2.0, population=POP)
    assert v.status == PASS and abs(v.value - 1.5) <= INTERVAL + LATENCY, v.sentence
    assert "after kill of registry/app-3" in v.sentence
    assert {u["from_fault"] for u in v.details["per_user"].values()} == {"f2"}
    # measured from the first fault on request, the old figure
    assert abs(recovery_time(tl, target=2.0, population=POP, fault_id="f1").value - 4.5) <= INTERVAL + LATENCY


def test_a_user_out_from_the_first_fault_through_the_second_counts_from_the_first():
    tl = two_faults(lambda t: 5.0 <= t < 9.5)           # never back in between
    v = recovery_time(tl, target=2.0, population=POP)
    assert v.status == FAIL and abs(v.value - 4.5) <= INTERVAL + LATENCY, v.sentence
    assert "after kill of registry/app-2" in v.sentence


def test_one_success_between_failures_does_not_end_an_outage():
    """Back needs 3 successes in a row: a single lucky request between two failures joins them."""
    tl = two_faults(lambda t: (5.0 <= t < 7.9) or (8.1 <= t < 9.5))
    v = recovery_time(tl, target=2.0, population=POP)
    assert abs(v.value - 4.5) <= INTERVAL + LATENCY and "after kill of registry/app-2" in v.sentence

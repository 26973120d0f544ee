"""The strategies and the planned backend: a planned schedule is exactly what hypothesis draws from its
choices, and a finding is the largest point of the sub-schedules it shrinks through."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, Phase, given, settings

from drillkit.explore import Pick, Vocabulary, uniform_schedule
from drillkit.explore.guide import planned_backend
from drillkit.explore.strategies import choices, locate_picks, schedules, subschedule_choices, subschedules
from explore_support import SHOP


def drawn_by_hypothesis(strategy, plan: list[int]):
    out = []
    with planned_backend(lambda: list(plan)) as backend:
        @settings(backend=backend, max_examples=2, database=None, phases=[Phase.generate], deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def test(value):
            out.append(value)
        test()
    return out[-1]      # hypothesis' own simplest example comes first


def vocabularies():
    yield Vocabulary.derive(SHOP, users={"buyers": (1, 9)})
    yield Vocabulary.derive(SHOP, overlap=False, at=(0.0, 30.0), step=2.0, max_faults=4)


def test_the_plan_is_what_hypothesis_draws():
    rng = random.Random(0)
    for v in vocabularies():
        for _ in range(40):
            n = rng.randint(1, v.max_faults)
            picks = []
            for _ in range(n):
                o = rng.randrange(len(v.options))
                picks.append(Pick(o, rng.randrange(len(v.options[o].variants)), rng.randint(0, v.at_steps),
                                  rng.randint(0, v.duration_steps)))
            users = [rng.randint(lo, hi) for lo, hi in v.users.values()]
            expected = v.schedule(picks, list(zip(v.users, users, strict=True)))
            assert drawn_by_hypothesis(schedules(v), choices(v, picks, users)) == expected


def test_a_schedule_is_located_back_to_its_picks():
    rng = random.Random(1)
    for v in vocabularies():
        for _ in range(40):
            s = uniform_schedule(v, rng)
            assert v.schedule(locate_picks(v, s), s.users) == s


def test_a_finding_is_the_largest_point_of_its_subschedules():
    rng = random.Random(2)
    for v in vocabularies():
        for _ in range(30):
            found = uniform_schedule(v, rng)
            assert drawn_by_hypothesis(subschedules(v, found), subschedule_choices(v, found)) == found


def test_subschedules_only_shrink():
    """Every sub-schedule keeps a subset of the faults, each on its own target, no harsher, no longer,
    and (when faults overlap) none later than it was."""
    v = Vocabulary.derive(SHOP, users={"buyers": (1, 9)})
    rank = {k: i for i, k in enumerate(v.kinds)}
    found = v.schedule([Pick(o, 0, 10, 5) for o in (16, 20)], [("buyers", 7)])
    seen = []

    @settings(max_examples=200, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(subschedules(v, found))
    def test(sub):
        seen.append(sub)
        assert sub.size <= found.size
        targets = {d.target: d for d in found.faults}
        for d in sub.faults:
            origin = targets[d.target]
            assert rank[d.name] <= rank[origin.name] and d.duration <= origin.duration and d.at <= origin.at
        assert sub.users[0][1] <= 7

    test()
    assert len({s.text for s in seen}) > 50

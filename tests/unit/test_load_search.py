"""The breaking-point search: the order of steps, the bisection, the sentence — and a search against an
in-process service whose capacity is set (4 workers x 50 ms = 80/s; today's load 20/s: ×4)."""

from __future__ import annotations

import pytest
from load_support import Service

from drillkit.load.generator import Action, OpenLoop
from drillkit.load.search import SearchResult, SearchSpec, StepResult, describe_result, next_factor, run_search
from drillkit.timeline import Timeline


def step(f: float, held: bool) -> StepResult:
    return StepResult(f, 10 * f, 100, 100 if held else 50, 0.1, held)


def test_factors_in_order_then_bisection_then_stop():
    spec = SearchSpec(base=10, actions=(("v", 1.0),), factors=(1, 2, 4, 8), refine=2)
    r = SearchResult()
    seen = []
    for held in (True, True, False, True, False):
        f = next_factor(r, spec)
        seen.append(f)
        r.steps.append(step(f, held))
    assert seen == [1, 2, 4, 3, 3.5] and next_factor(r, spec) is None
    assert r.broke_at == 3.5 and r.held_at == 3
    assert describe_result(r, 4) == ("breaks at ×3.5 of today's load (held at ×3); the forecast ×4 is not covered", False)
    assert describe_result(r, 3)[1] is True
    first = SearchResult([step(1, False)])
    assert next_factor(first, spec) is None
    assert describe_result(first, None)[0] == "breaks at ×1 of today's load already (the first step tried)"


@pytest.mark.alone   # an in-process service whose capacity is this machine's CPU: nothing beside it
def test_search_finds_the_capacity_it_was_given():
    svc = Service(workers=4, cost=0.05, mode="shed")          # 80/s = ×4 of 20/s
    tl = Timeline()
    spec = SearchSpec(base=20, actions=(("v", 1.0),), p95=0.5, served=0.98, factors=(1, 2, 5, 8), hold=2.0,
                      settle=0.2, refine=2, timeout=1.0)

    def make(shape, label):
        return OpenLoop(shape, [Action("v", svc.client)], timeline=tl, label=label, timeout=1.0, concurrency=100)
    result = run_search(spec, make, tl)
    # steps ×1, ×2 hold (half the capacity: far from it, also on a busy machine); ×5 (100/s) sheds a
    # fifth; bisection: ×3.5, then ×2.75 or ×4.25 — the break lies between ×2 and ×5 whatever this
    # machine's speed (steps near the capacity may go either way)
    assert [s.factor for s in result.steps][:3] == [1, 2, 5]
    assert 2 < result.broke_at <= 5 and 2 <= result.held_at < result.broke_at
    rec = next(tl.of("search"))
    assert rec["broke_at"] == result.broke_at and rec["sentence"].startswith(f"breaks at ×{result.broke_at:g}")
    five = next(s for s in result.steps if s.factor == 5)
    assert five.served_share < 0.98 and five.served == sum(1 for a in five_arrivals(tl) if a.outcome == "served")


def five_arrivals(tl):
    from drillkit.load.measure import arrivals, run_of
    run = run_of(tl, "×5")
    return [a for a in arrivals(tl, run) if a.due >= run.start + 0.2 * 2.0]

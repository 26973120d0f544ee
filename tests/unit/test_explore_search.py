"""The explore engine on a simulated stack (tests/unit/explore_support.py): what it finds, how far it
shrinks, what confirmation makes of an intermittent defect, what a sound stack's report says, how the
budget is honoured while shrinking, and that the example database replays a finding first."""

from __future__ import annotations

import pytest
from hypothesis import settings

from drillkit.explore import Budget, Progress, TrialResult, Vocabulary, explore
from explore_support import (KINDS, OVERHEAD, SHOP, FakeClock, SimulatedStack, kill_of_cache, never,
                             partition_overlapping_kill)


def vocabulary(**fields) -> Vocabulary:
    fields.setdefault("kinds", KINDS)
    fields.setdefault("budget", Budget(trials=300))
    return Vocabulary.derive(SHOP, **fields)


def run(defect, *, every: int = 1, database=None, generation: str = "guided", progress=None, **fields):
    clock = FakeClock()
    stack = SimulatedStack(clock, defect, every=every)
    result = explore(vocabulary(**fields), stack, database=database, clock=clock, progress=progress,
                     generation=generation)
    return result, stack


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_two_cause_defect_shrinks_to_exactly_its_two_faults(seed):
    result, stack = run(partition_overlapping_kill, seed=seed)
    f = result.finding
    assert result.stopped == "found" and f.fully_shrunk
    assert [d.label for d in f.schedule.faults] == ["kill db", "partition app|db"]
    # as small as it gets: both at the start of inject, each for the shortest time
    assert f.schedule.text == "kill db at 0s for 1s; partition app|db at 0s for 1s"
    assert f.first.size >= 2 and partition_overlapping_kill(f.first)
    assert f.reproduced == (2, 2)
    assert f.verdicts == ("writes lost: 3 of 120 acknowledged writes missing (expected 0)",)
    assert f.broken == ("writes_lost",)
    # the counts add up: the finding's first failing run, then confirmation and shrinking
    assert stack.runs[f.found_run - 1].text == f.first.text
    assert result.runs == len(stack.runs) == f.found_run + 1 + f.shrink_runs
    assert f.found_after == pytest.approx(f.found_run * OVERHEAD + sum(s.end for s in stack.runs[:f.found_run]))
    how = f.how()
    assert how.startswith(f"found in trial {f.found_run} after ")
    assert "reproduced 2 of 2" in how and "not fully shrunk" not in how
    if f.first.size > 2:
        assert f"shrunk from {f.first.size} faults to 2 in {f.shrink_runs} runs" in how


def test_a_single_cause_defect_shrinks_to_one_fault():
    result, _ = run(kill_of_cache, seed=4)
    f = result.finding
    assert f.fully_shrunk and f.schedule.text == "kill cache at 0s for 1s"
    assert f.schedule.size == 1 and f.reproduced == (2, 2)


def test_an_intermittent_defect_is_reported_with_its_rate_never_as_a_finding():
    result, stack = run(kill_of_cache, every=3, seed=0, budget=Budget(trials=60))
    assert result.finding is None and result.others == ()
    assert result.intermittent, "a schedule that failed once must not be dropped"
    for i in result.intermittent:
        assert kill_of_cache(i.schedule)
        assert (i.failures, i.runs) == (1, 3) and i.rate == pytest.approx(1 / 3)
        assert stack.seen[i.schedule.text] == 3          # 1 failing run, confirmed by 2 that passed
        sentence = i.sentence()
        assert "failed 1 of 3 runs (33%)" in sentence and "intermittent, not a minimal finding" in sentence
    assert not result.clean
    assert any("nothing failed every time" in s for s in result.sentences())


def test_a_sound_stack_reports_what_was_covered():
    result, stack = run(never, seed=0, budget=Budget(trials=40))
    assert result.finding is None and result.intermittent == () and result.clean
    assert result.stopped == "budget" and result.runs == 40 == len(stack.runs)
    cov = result.coverage
    assert cov.schedules == 40 and cov.elapsed == pytest.approx(40 * OVERHEAD + sum(s.end for s in stack.runs))
    options = {o.label for o in vocabulary().options}
    assert set(cov.faults) == options, "40 trials of 3 faults cover every one of the 12 faults"
    assert set(cov.kinds) == set(KINDS)
    assert sum(cov.kinds.values()) == sum(s.size for s in stack.runs) == sum(cov.targets.values())
    lines = result.sentences()
    assert lines[0] == "nothing failed (budget)"
    assert lines[1].startswith("40 runs of 40 schedules in ")
    assert lines[2].startswith("runs per kind: kill ") and lines[3].startswith("runs per target: app-1 ")


def test_a_small_vocabulary_is_exhausted_not_spun_forever():
    result, stack = run(never, kinds=("kill",), max_faults=1, at=(0.0, 1.0), duration=(1.0, 2.0),
                        budget=Budget(trials=500))
    # 4 nodes x 2 times x 2 durations: every schedule once, then it says so
    assert result.stopped == "exhausted" and len({s.text for s in stack.runs}) == result.runs == 16


def test_the_budget_is_honoured_while_shrinking_and_the_smallest_so_far_is_reported():
    full, _ = run(partition_overlapping_kill, seed=3)
    f = full.finding
    assert f.first.size == 3 and f.shrink_runs > 6
    cut = f.found_run + 1 + 6                    # found, confirmed, then 6 runs of shrinking
    result, stack = run(partition_overlapping_kill, seed=3, budget=Budget(trials=cut))
    g = result.finding
    assert result.stopped == "budget" and result.runs == len(stack.runs) == cut
    assert not g.fully_shrunk and g.found_run == f.found_run and g.first == f.first
    assert partition_overlapping_kill(g.schedule) and g.reproduced == (2, 2)
    assert g.schedule.sort_key <= g.first.sort_key and g.schedule.sort_key >= f.schedule.sort_key
    assert g.how().endswith("not fully shrunk: the budget ran out")
    assert "not fully shrunk" in " ".join(result.sentences())


def test_a_time_budget_stops_before_a_run_that_would_not_fit():
    full, stack = run(partition_overlapping_kill, seed=3)
    ends = []
    t = 0.0
    for s in stack.runs:
        t += OVERHEAD + s.end
        ends.append(t)
    limit = ends[full.finding.found_run + 3] + 1.0   # in the middle of shrinking
    result, cut = run(partition_overlapping_kill, seed=3, budget=Budget(time=limit))
    assert result.stopped == "budget" and not result.finding.fully_shrunk
    assert result.elapsed <= limit, "no run is started that the longest so far says would not end in time"
    assert result.runs <= full.finding.found_run + 4


def test_confirmation_of_the_first_failure_is_cut_short_by_the_budget():
    full, _ = run(partition_overlapping_kill, seed=0)
    result, _ = run(partition_overlapping_kill, seed=0, budget=Budget(trials=full.finding.found_run))
    assert result.finding is None and result.stopped == "budget"
    [u] = result.intermittent
    assert not u.confirmed and (u.failures, u.runs) == (1, 1)
    assert "unconfirmed: the budget ran out before it was run again" in u.sentence()


def test_the_example_database_replays_the_finding_first(tmp_path):
    first, _ = run(partition_overlapping_kill, seed=0, database=tmp_path)
    assert first.finding.found_run > 1
    again, stack = run(partition_overlapping_kill, seed=5, database=tmp_path)
    assert again.finding.found_run == 1 and again.first_failure_run == 1
    assert stack.runs[0].text == first.finding.schedule.text
    assert again.finding.schedule == first.finding.schedule
    # after the replay, only what it may shrink to is run: nothing else is tried
    labels = set(first.finding.schedule.labels())
    assert all(set(s.labels()) <= labels for s in stack.runs)
    assert again.runs < first.runs
    # another vocabulary does not replay it (a choice sequence means another schedule there)
    other, _ = run(partition_overlapping_kill, seed=5, database=tmp_path, max_faults=2)
    assert other.finding.found_run > 1


def test_a_fixed_defect_drops_out_of_the_database(tmp_path):
    run(partition_overlapping_kill, seed=0, database=tmp_path)
    fixed, stack = run(never, seed=0, database=tmp_path, budget=Budget(trials=5))
    assert fixed.finding is None
    again, stack = run(partition_overlapping_kill, seed=0, database=tmp_path)
    assert again.finding.found_run > 1, "the replayed example passed, so hypothesis deleted it"


def test_the_same_seed_draws_the_same_trials():
    a, sa = run(partition_overlapping_kill, seed=7)
    b, sb = run(partition_overlapping_kill, seed=7)
    assert [s.text for s in sa.runs] == [s.text for s in sb.runs] and a.trace == b.trace
    c, sc = run(partition_overlapping_kill, seed=8)
    assert [s.text for s in sc.runs] != [s.text for s in sa.runs]


def test_the_ci_profile_changes_nothing(tmp_path):
    """hypothesis loads a `ci` profile when CI is set (derandomize, no database): the engine sets its
    own settings, so the same seed draws the same trials and the database still replays."""
    before, stack_before = run(partition_overlapping_kill, seed=2, database=tmp_path / "a")
    settings.register_profile("drillkit-test-restore", settings.default)
    settings.load_profile("ci")
    try:
        assert settings.default.derandomize and settings.default.database is None
        under_ci, stack_ci = run(partition_overlapping_kill, seed=2, database=tmp_path / "b")
        replay, _ = run(partition_overlapping_kill, seed=2, database=tmp_path / "b")
    finally:
        settings.load_profile("drillkit-test-restore")
    assert [s.text for s in stack_ci.runs] == [s.text for s in stack_before.runs]
    assert under_ci.finding.schedule == before.finding.schedule
    assert replay.finding.found_run == 1


def test_progress_is_told_after_every_run():
    seen: list[Progress] = []
    result, stack = run(partition_overlapping_kill, seed=1, progress=seen.append)
    assert [p.run for p in seen] == list(range(1, result.runs + 1))
    assert [p.schedule for p in seen] == stack.runs
    f = result.finding
    assert {p.phase for p in seen[:f.found_run]} == {"search"}
    assert seen[f.found_run].phase == "confirm"
    assert {p.phase for p in seen[f.found_run + 1:]} <= {"shrink", "confirm"}
    assert seen[-1].best == f.schedule and seen[0].best is None
    line = seen[f.found_run - 1].line()
    assert line.startswith(f"trial {f.found_run}/300 (search, ") and line.endswith(" — failed")


def test_a_lab_that_keeps_failing_stops_the_exploration():
    class Broken:
        def run(self, schedule):
            return TrialResult(False, ["lab error: container app-1 did not become healthy"], judged=False)

    result = explore(vocabulary(budget=Budget(trials=50)), Broken(), clock=FakeClock())
    assert result.stopped == "lab" and result.runs == 3 and result.coverage.not_judged == 3
    assert "3 runs in a row could not be judged (lab error: container app-1 did not become healthy)" in result.notes[0]


def test_a_run_that_was_not_judged_is_neither_a_pass_nor_a_failure():
    clock = FakeClock()
    inner = SimulatedStack(clock, partition_overlapping_kill)
    calls = []

    class Hiccup:
        def run(self, schedule):
            calls.append(schedule)
            if len(calls) % 5 == 0:
                return TrialResult(False, ["steady state not met"], judged=False)
            return inner.run(schedule)

    result = explore(vocabulary(seed=0), Hiccup(), clock=clock)
    assert result.finding.schedule.text == "kill db at 0s for 1s; partition app|db at 0s for 1s"
    assert result.coverage.not_judged == len(calls) // 5


def test_failures_of_other_promises_are_kept_apart_not_shrunk_into():
    clock = FakeClock()

    class TwoDefects:
        def run(self, schedule):
            clock.now += OVERHEAD
            if partition_overlapping_kill(schedule):
                return TrialResult(True, ["writes lost: 3"], broken=("writes_lost",))
            if kill_of_cache(schedule):
                return TrialResult(True, ["sessions lost: 20 of 20"], broken=("sessions_lost",))
            return TrialResult(False)

    result = explore(vocabulary(seed=0, budget=Budget(trials=400)), TwoDefects(), clock=clock)
    f = result.finding
    first = f.broken
    assert first in (("writes_lost",), ("sessions_lost",))
    # shrinking never slipped from one defect to the other
    assert (partition_overlapping_kill if first == ("writes_lost",) else kill_of_cache)(f.schedule)
    assert f.schedule.size == (2 if first == ("writes_lost",) else 1)
    for other in result.others:
        assert other.broken != first


def test_a_runner_must_return_a_trial_result():
    class Wrong:
        def run(self, schedule):
            return True

    with pytest.raises(TypeError, match="TrialRunner.run returned bool, not a TrialResult"):
        explore(vocabulary(), Wrong(), clock=FakeClock())


def test_hypothesis_alone_finds_and_shrinks_too():
    """The comparison mode: hypothesis' own generation and shrinker over the whole vocabulary."""
    result, stack = run(partition_overlapping_kill, seed=0, generation="hypothesis", budget=Budget(trials=1000))
    assert result.finding.fully_shrunk
    assert [d.label for d in result.finding.schedule.faults] == ["kill db", "partition app|db"]
    with pytest.raises(ValueError, match="generation must be one of guided, hypothesis"):
        explore(vocabulary(), stack, generation="jepsen")


def test_a_runner_that_raises_stops_the_search_at_once_with_its_error():
    """hypothesis would take an exception for a failing schedule and shrink it, calling the runner
    again and again: the engine stops at the first one and raises it."""
    calls = []

    class Crashing:
        def run(self, schedule):
            calls.append(schedule)
            if len(calls) == 3:
                raise RuntimeError("docker: connection refused")
            return TrialResult(False)

    with pytest.raises(RuntimeError, match="docker: connection refused"):
        explore(vocabulary(), Crashing(), clock=FakeClock())
    assert len(calls) == 3

    def bad_progress(p):
        raise ValueError("progress bar broke")

    with pytest.raises(ValueError, match="progress bar broke"):
        run(never, progress=bad_progress)


def test_an_interrupt_keeps_what_was_found():
    clock = FakeClock()
    inner = SimulatedStack(clock, partition_overlapping_kill)
    calls = []

    class Interrupted:
        def run(self, schedule):
            calls.append(schedule)
            if len(calls) == 25:         # while shrinking: found in trial 16, shrunk in 17 runs
                raise KeyboardInterrupt
            return inner.run(schedule)

    result = explore(vocabulary(seed=3), Interrupted(), clock=clock)
    assert result.stopped == "interrupted" and result.runs == 24
    assert result.finding is not None and not result.finding.fully_shrunk

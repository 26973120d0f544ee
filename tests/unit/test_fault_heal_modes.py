"""`Fault(..., heal=...)` and `grace`: what a heal does and how it is recorded, and how bad values are
refused (pure logic; the effect on real containers is in tests/lab/test_fault_heal.py)."""

from __future__ import annotations

import pytest

from drillkit.errors import ConfigError, FaultError
from drillkit.faults.base import Fault, heal_name
from drillkit.faults.kinds import create, parameters
from drillkit.timeline import Timeline


class Noted(Fault):
    """A fault without nodes that notes which of its parts ran."""

    kind = "noted"

    def __init__(self, **kw):
        super().__init__(None, **kw)
        self.calls: list[str] = []

    def _inject(self, env):
        self.calls.append("inject")

    def _heal(self, env):
        self.calls.append("undo")

    def _stop(self, env):
        self.calls.append("stop")


def heal_events(tl: Timeline) -> list[dict]:
    return [r for r in tl.of("fault") if r["event"] != "inject"]


def test_default_heal_runs_the_kinds_own_undo_once():
    tl, f = Timeline(), Noted()
    f.inject(None, tl)
    f.heal(None, tl)
    f.heal(None, tl)  # a second heal (the drill's finish) does nothing
    assert f.calls == ["inject", "undo"]
    (ev,) = heal_events(tl)
    assert ev["event"] == "heal" and ev["detail"]["heal"] == "start" and ev["detail"]["undone"] is True


def test_heal_none_undoes_nothing_and_says_so():
    tl, f = Timeline(), Noted(heal="none")
    f.inject(None, tl)
    f.heal(None, tl)
    assert f.calls == ["inject", "stop"]  # the fault's own activity ends, its effect stays
    (ev,) = heal_events(tl)
    assert (ev["detail"]["heal"], ev["detail"]["undone"]) == ("none", False)
    # the window closes: the fault was handed over at that moment
    assert tl.fault_windows()[0].end == ev["t"]


def test_a_runbook_step_replaces_the_undo_and_gets_env_and_timeline():
    seen = []

    def promote_standby(env, timeline):
        seen.append((env, timeline))
        timeline.note("runbook ran")

    tl, f, env = Timeline(), Noted(heal=promote_standby), object()
    f.inject(env, tl)
    f.heal(env, tl)
    assert seen == [(env, tl)] and f.calls == ["inject", "stop"]
    (ev,) = heal_events(tl)
    assert (ev["detail"]["heal"], ev["detail"]["undone"]) == ("promote_standby", False)
    (note,) = tl.of("note")
    assert note["text"] == "runbook ran"
    # the fault ends when the runbook has run: its window closes after everything the runbook did
    assert ev["detail"]["runbook_started"] <= note["t"] <= ev["t"] == tl.fault_windows()[0].end


def test_a_named_step_is_recorded_by_its_name():
    def step(env, timeline):
        pass
    step.step_name = "promote-replica"
    assert heal_name(step) == "promote-replica"
    assert heal_name("none") == "none"

    class Runbook:                          # a runbook object that describes itself
        def describe(self):
            return "runbook promote"

        def __call__(self, env, timeline):
            pass
    assert heal_name(Runbook()) == "runbook promote"


def test_a_failing_runbook_fails_the_heal_loudly():
    def broken(env, timeline):
        raise RuntimeError("pg_promote timed out")

    tl, f = Timeline(), Noted(heal=broken)
    f.inject(None, tl)
    with pytest.raises(FaultError, match=r"heal of noted \(broken\) failed: pg_promote timed out"):
        f.heal(None, tl)
    (ev,) = heal_events(tl)
    assert ev["event"] == "heal-failed" and ev["detail"]["heal"] == "broken"


@pytest.mark.parametrize("bad", ["restart", "", None, 3, Fault, ["start"]])
def test_bad_heal_values_are_refused(bad):
    with pytest.raises(FaultError, match="heal must be 'start', 'none' or a runbook step"):
        Noted(heal=bad)


def test_create_takes_heal_for_every_kind_and_refuses_bad_values_in_one_line():
    assert create("kill", "db", heal="none").heal_mode == "none"
    assert create("latency", link="app-db", latency=10, heal="none").heal_mode == "none"
    assert create("stop", "app", grace=2).heal_mode == "start"
    assert "heal" not in parameters("kill") and "heal" not in parameters("restart")
    with pytest.raises(ConfigError) as exc:
        create("kill", "db", heal="later", where="faults[0]", file="s.yaml", line=7)
    msg = str(exc.value)
    assert msg.startswith("s.yaml:7: faults[0].heal: heal must be start or none or a runbook step")
    assert "\n" not in msg


@pytest.mark.parametrize("kind", ["restart", "stop"])
@pytest.mark.parametrize("grace", [0, 0.5, 2, 600])
def test_grace_accepts_seconds_from_zero(kind, grace):
    fault = create(kind, "app", grace=grace)
    assert fault.grace == float(grace) and fault.detail()["grace"] == float(grace)


@pytest.mark.parametrize("kind", ["restart", "stop"])
@pytest.mark.parametrize("grace", [-1, 601, "2s", True, None, float("nan")])
def test_grace_refuses_what_is_not_seconds(kind, grace):
    with pytest.raises(FaultError, match=rf"{kind}: grace must be a number of seconds from 0 to 600 "
                                         r"\(0 = SIGKILL at once\)"):
        create(kind, "app", grace=grace)


def test_restart_lists_grace_among_its_attributes():
    assert parameters("restart")["grace"].default == 1.0


def test_drill_runbook_heal_names_its_runbook_and_binds_the_fault():
    """`drill.runbook_heal(name)`: the environment's runbook as a fault's heal; injecting the fault binds
    it, so steps without a target act on the fault's nodes; recorded by the runbook's name."""
    from types import SimpleNamespace

    from drillkit.drill import Drill
    from drillkit.errors import DrillkitError
    from drillkit.stack.runbook import Runbook, Step

    calls = []
    step = Step("mark", "mark", {}, call=lambda env, tl: calls.append("mark") or "marked")
    env = SimpleNamespace(spec=SimpleNamespace(name="bench", runbooks={"promote": Runbook("promote", (step,))}))
    tl = Timeline()
    d = Drill(env, tl, allure_steps=False)
    heal = d.runbook_heal("promote")
    f = Noted(heal=heal)
    assert heal.fault is None and heal_name(f.heal_mode) == "runbook promote"
    env.leave_as_is = lambda node, why: None
    d.inject(f)
    assert heal.fault is f
    d.heal(f)
    assert f.calls == ["inject", "stop"] and calls == ["mark"]
    assert [(r["step"], r["event"]) for r in tl.of("runbook")] == [("mark", "start"), ("mark", "end")]
    with pytest.raises(DrillkitError, match="has no runbook 'nope'.*have: promote"):
        d.runbook_heal("nope")

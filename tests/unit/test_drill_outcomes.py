"""How a drill ends, as the one lifecycle records it (`drillkit.drill.drill_run`): a verdict that
fails in the steady state before any fault makes the drill *not judged* — never a defect; Ctrl-C makes
it *interrupted*; a verdict failing after a fault is a defect. Pure: a stand-in environment."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from drillkit.drill import DrillFailed, drill_run
from drillkit.errors import DrillInterrupted, SteadyStateNotMet
from drillkit.faults.base import Fault
from drillkit.outcome import held_of
from drillkit.verdicts.base import FAIL, PASS, Verdict


def env():
    spec = SimpleNamespace(name="bench", stack="bench", chosen={}, services={})
    return SimpleNamespace(spec=spec, run_id="dk-test", backend=SimpleNamespace(name="docker"), logs=lambda *a, **k: "")


class Noop(Fault):
    kind = "noop"

    def _inject(self, env):
        pass

    def _heal(self, env):
        pass


def run(tmp_path, body):
    e = env()
    with pytest.raises(BaseException) if body is not None else _nothing():
        with drill_run(e, name="t", report_dir=tmp_path, allure_steps=False) as d:
            if body is not None:
                body(d)
    return d.result


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def failing(name="steady availability"):
    return Verdict(name, FAIL, f"{name}: 40 % (target ≥ 90 %)")


def test_a_steady_state_that_fails_before_any_fault_is_not_judged(tmp_path):
    def body(d):
        with d.phase("steady"):
            d.check(failing())
    result = run(tmp_path, body)
    assert result.outcome == "not-judged" and held_of(result.outcome) is None
    assert result.sentences == ["not judged: steady state not met — no fault injected: "
                                "steady availability: 40 % (target ≥ 90 %)"]


def test_the_same_verdict_after_a_fault_is_a_defect(tmp_path):
    def body(d):
        with d.phase("steady"):
            d.check(Verdict("steady availability", PASS, "ok"))
        with d.phase("inject"):
            d.inject(Noop())
        with d.phase("verify"):
            d.check(failing("availability"))
    result = run(tmp_path, body)
    assert result.outcome == "failed" and result.sentences == ["availability: 40 % (target ≥ 90 %)"]


def test_ctrl_c_in_the_body_is_interrupted_and_the_fault_healed(tmp_path):
    fault = Noop()

    def body(d):
        with d.phase("inject"):
            d.inject(fault)
        raise KeyboardInterrupt("SIGTERM")
    result = run(tmp_path, body)
    assert result.outcome == "interrupted" and "SIGTERM" in result.sentences[0]
    assert fault.healed


def test_exceptions_map_to_outcomes():
    from drillkit.drill import outcome_of
    assert outcome_of(None) == ("passed", [])
    assert outcome_of(DrillInterrupted("SIGINT", phase="start-up"))[0] == "interrupted"
    assert outcome_of(SteadyStateNotMet("gate replica-in-sync not met"))[0] == "not-judged"
    assert outcome_of(DrillFailed([failing()]))[0] == "failed"
    assert outcome_of(RuntimeError("boom")) == ("broken", ["RuntimeError: boom"])

"""`drill run`'s exit codes and its --json result, and how a drill's outcome is told from pytest's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from drillkit.drill import outcome_of as drill_outcome
from drillkit.outcome import EXIT_CODES, DrillOutcome, ExitCode, RunOutcome, exit_code_for, result_word
from drillkit.pytest_plugin import phase_outcome as outcome_of


@pytest.mark.parametrize(("counts", "status", "errors", "signal", "expected"), [
    ({"passed": 3}, 0, [], None, 0),
    ({"passed": 2, "failed": 1}, 1, [], None, 1),
    ({"passed": 2, "broken": 1}, 1, [], None, 2),
    ({"failed": 1, "broken": 1}, 1, [], None, 2),          # a broken lab outranks a defect
    ({"passed": 3}, 0, ["Allure report not built"], None, 2),
    ({}, 5, [], None, 2),                                    # no drill found
    ({}, 2, ["scenarios/x.yaml: bad"], None, 2),             # collection error
    ({}, 4, [], None, 2),                                    # pytest refused its arguments
    ({"passed": 1}, 3, [], None, 3),                         # pytest's internal error
    ({"passed": 1, "failed": 1}, 2, [], "SIGINT", 130),
    ({"passed": 1}, 2, [], "SIGTERM", 143),
])
def test_exit_code_by_precedence(counts, status, errors, signal, expected):
    assert exit_code_for(counts, status, errors=errors, signal=signal) == expected


def test_every_code_is_documented_and_has_a_word():
    documented = {code for code, _ in EXIT_CODES}
    assert documented == {int(c) for c in ExitCode}
    assert [result_word(c) for c in (0, 1, 2, 3, 130)] == ["held", "defect", "lab-error", "internal-error",
                                                         "interrupted"]


def test_run_outcome_merges_summary_figures_and_keeps_none():
    run = RunOutcome(drills=[DrillOutcome(name="d1", outcome="failed", sentences=["sessions lost: 5 of 20"])],
                     pytest_status=1)
    run.merge_summary({"drills": [{"name": "d1", "stack": "registry", "figures": {"recovery_time": None,
                                                                                 "writes_lost": 0}}]})
    doc = json.loads(run.dumps())
    assert doc["exit_code"] == 1 and doc["result"] == "defect"
    d = doc["drills"][0]
    assert d["held"] is False and d["stack"] == "registry"
    assert d["figures"]["recovery_time"] is None and d["figures"]["writes_lost"] == 0


class _Verdict:
    def __init__(self, sentence):
        self.sentence = sentence


class DrillFailed(AssertionError):
    def __init__(self, sentences):
        self.verdicts = [_Verdict(s) for s in sentences]
        super().__init__("drill failed: " + "; ".join(sentences))


def test_sentences_are_verdicts_or_one_line_never_a_traceback():
    from drillkit.errors import HealthCheckFailed
    assert drill_outcome(DrillFailed(["recovery time 9 s (target ≤ 3 s)", "sessions lost: 2"])) == (
        "failed", ["recovery time 9 s (target ≤ 3 s)", "sessions lost: 2"])
    lab = HealthCheckFailed("registry: service db not healthy", service="db", fix="look at the logs")
    assert drill_outcome(lab) == ("broken", ["registry: service db not healthy — fix: look at the logs"])
    assert drill_outcome(KeyError("x")) == ("broken", ["KeyError: 'x'"])
    assert drill_outcome(KeyboardInterrupt("SIGTERM"))[0] == "interrupted"


@pytest.mark.parametrize(("phases", "expected"), [
    ({"setup": ("passed", [], "passed"), "call": ("passed", [], "passed"), "teardown": ("passed", [], "passed")},
     "passed"),
    ({"setup": ("passed", [], "passed"), "call": ("failed", ["s"], "failed"), "teardown": ("passed", [], "passed")},
     "failed"),
    ({"setup": ("passed", [], "passed"), "call": ("failed", ["KeyError"], "broken")}, "broken"),
    ({"setup": ("failed", ["HealthCheckFailed"], "broken"), "teardown": ("passed", [], "passed")}, "broken"),
    ({"setup": ("passed", [], "passed"), "call": ("passed", [], "passed"), "teardown": ("failed", ["heal"], "broken")},
     "broken"),
    ({"setup": ("skipped", ["no engine"], "skipped")}, "skipped"),
    # the run stopped inside the body: pytest made no call report — interrupted, never passed
    ({"setup": ("passed", [], "passed")}, "interrupted"),
    ({"setup": ("passed", [], "passed"), "call": ("failed", ["x"], "interrupted")}, "interrupted"),
    ({"setup": ("failed", ["x"], "interrupted")}, "interrupted"),
    ({"setup": ("passed", [], "passed"), "call": ("failed", ["steady"], "not-judged")}, "not-judged"),
])
def test_outcome_of_phases(phases, expected):
    assert outcome_of(phases)[0] == expected


def _drill(*args, **env):
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_run_without_an_engine_is_a_lab_failure_with_a_json_result(tmp_path):
    r = _drill("run", "--json", "--report-dir", str(tmp_path), "--no-html",
               DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert r.returncode == 2
    doc = json.loads(r.stdout)                 # stdout is JSON only; people read stderr
    assert doc["exit_code"] == 2 and doc["result"] == "lab-error"
    assert any("no Docker engine answers" in e for e in doc["errors"])
    assert "Traceback" not in r.stderr and "no Docker engine answers" in r.stderr


def test_bad_switch_is_an_input_failure_before_anything_starts(tmp_path):
    r = _drill("run", "--json", "--report-dir", str(tmp_path), "-s", "sessions")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["result"] == "input-error" and "is not NAME=VALUE" in doc["errors"][0]


def test_run_help_documents_the_exit_codes_and_options():
    out = _drill("run", "--help").stdout
    for code, _ in EXIT_CODES:
        assert f"  {code} " in out
    for opt in ("--json", "--quiet", "--attach", "--report-dir", "-e ENVIRONMENTS", "--no-pdf"):
        assert opt in out


def test_events_of_a_pytest_run(pytester: pytest.Pytester):
    """The plugin's event stream: collected, drill-start, progress, drill-end with sentences."""
    pytester.makepyfile(test_d="""
        import pytest
        from drillkit.drill import DrillFailed
        from drillkit.verdicts.base import Verdict

        @pytest.mark.drill("registry", fault="node kill", severity="critical", source="incident 2")
        def test_held():
            pass

        @pytest.mark.drill("registry", fault="partition")
        def test_defect():
            raise DrillFailed([Verdict("sessions lost", "fail", "sessions lost: 5 of 20 (expected 0)")])

        def test_broken():
            raise KeyError("db")
    """)
    read_fd, write_fd = os.pipe()
    os.set_inheritable(write_fd, True)
    os.environ["DRILLKIT_EVENTS_FD"] = str(write_fd)
    try:
        pytester.runpytest_inprocess("-p", "drillkit.run_events", "-p", "no:cacheprovider")
    finally:
        del os.environ["DRILLKIT_EVENTS_FD"]
    with os.fdopen(read_fd) as fh:
        events = [json.loads(line) for line in fh]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "collected" and kinds.count("drill-start") == 3
    collected = {d["name"].split("::")[1]: d for d in events[0]["drills"]}
    assert collected["test_held"]["source"] == "incident 2" and collected["test_held"]["stack"] == "registry"
    ends = {e["name"].split("::")[1]: e for e in events if e["event"] == "drill-end"}
    assert ends["test_held"]["outcome"] == "passed"
    assert ends["test_defect"]["outcome"] == "failed"
    assert ends["test_defect"]["sentences"] == ["sessions lost: 5 of 20 (expected 0)"]
    assert ends["test_broken"]["outcome"] == "broken" and ends["test_broken"]["sentences"] == ["KeyError: 'db'"]


def test_a_wrong_input_is_told_apart_from_a_broken_lab():
    wrong = RunOutcome(input_errors=["scenarios/x.yaml:3: faults[0].kind: unknown fault kind 'explode'"],
                       pytest_status=2)
    assert wrong.exit_code == 2 and wrong.result == "input-error"
    broken = RunOutcome(drills=[DrillOutcome(name="d", outcome="broken")], input_errors=["x"], pytest_status=1)
    assert broken.exit_code == 2 and broken.result == "lab-error"
    assert json.loads(wrong.dumps())["errors"] == wrong.input_errors

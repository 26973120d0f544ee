"""Settle: the wait between the end of traffic and the ground-truth read (issue 16: a write-behind
service acknowledged writes that it committed up to 1 s later; 10 of 24 "lost" writes had been
acknowledged 0.14 s before the data was read). The scenario key, the Python call and what the
writes verdict says about when the data was read — on timelines whose right answer is known."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drillkit.drill import Drill
from drillkit.errors import ConfigError
from drillkit.scenario.model import load_scenario
from drillkit.stack.gate import Gate
from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, writes_lost

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "tests" / "lab" / "environments" / "changelab" / "compose.yaml"

SCENARIO = f"""\
scenario: notes survive a restart
environment: {COMPOSE}
users: {{writers: 4}}
faults:
  - kind: restart
    target: {{service: app, replica: 1}}
observe: 2s
SETTLE
expect:
  writes_lost: 0
"""


def load(tmp_path: Path, settle: str):
    p = tmp_path / "s.yaml"
    p.write_text(SCENARIO.replace("SETTLE", settle), encoding="utf-8")
    return load_scenario(p)


# -- the scenario key ------------------------------------------------------------------------------------

def test_settle_is_a_time_or_a_time_and_a_condition(tmp_path):
    assert load(tmp_path, "").settle is None
    sc = load(tmp_path, "settle: 2s")
    assert (sc.settle.time, sc.settle.until) == (2.0, None)
    sc = load(tmp_path, "settle:\n  time: 500ms\n  until:\n    http: {path: /health, contains: ok}\n"
                        "    deadline: 20s\n    interval: 100ms")
    assert sc.settle.time == 0.5 and isinstance(sc.settle.until, Gate)
    assert sc.settle.until.attrs["deadline"] == 20.0 and sc.settle.until.attrs["interval"] == 0.1
    assert sc.settle.until.describe() == "GET /health answers 200 with 'ok'"
    sc = load(tmp_path, "settle: {until: {on: db, command: 'test -z \"$(ls /tmp)\"'}}")
    assert sc.settle.until.describe() == '`test -z "$(ls /tmp)"` on db'


@pytest.mark.parametrize("settle, field, words", [
    ("settle: soon", "settle", "duration"),
    ("settle: {time: 1s, when: later}", "settle.when", "unknown key 'when'"),
    ("settle: {}", "settle", "neither a time nor a condition"),
    ("settle: {until: {http: /health, on: db}}", "settle.until", "an http check has no on/user/expect_exit"),
    ("settle: {until: {on: nowhere, command: 'true'}}", "settle.until.on", "'nowhere' is neither a service"),
    ("settle: {until: {role: primary}}", "settle.until.role", "no role 'primary' is declared"),
    ("settle: {until: flushed}", "settle.until", "has no gate 'flushed'"),
])
def test_a_bad_settle_is_one_line_naming_file_line_and_field(tmp_path, settle, field, words):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, settle)
    msg = str(e.value)
    assert "\n" not in msg and f"s.yaml:8: {field}" in msg and words in msg and "fix:" in msg, msg


# -- Drill.settle ----------------------------------------------------------------------------------------

def test_settle_waits_from_the_end_of_the_traffic_and_records_it():
    tl = Timeline()
    d = Drill(None, tl, allure_steps=False)
    d.stop_traffic()
    stopped = d.traffic_stopped
    rec = d.settle(0.2)
    assert tl.now() - stopped >= 0.2                       # a lower bound: sleep never ends early
    assert rec["kind"] == "settle" and rec["traffic_stopped"] == round(stopped, 6)
    assert rec["time"] == 0.2 and rec["until"] is None and rec["met"] is None and rec["waited"] >= 0.2


def test_settle_until_a_condition_and_one_that_never_holds():
    tl = Timeline()
    d = Drill(None, tl, allure_steps=False)
    calls = []

    def queue_empty(env):
        calls.append(env)
        return len(calls) >= 3

    rec = d.settle(0, until=queue_empty, interval=0.01)
    assert rec["met"] is True and rec["until"] == "queue_empty" and len(calls) == 3

    def never(env):
        return False
    rec = d.settle(0, until=never, deadline=0.05, interval=0.01)
    assert rec["met"] is False and "still not true after 0.05 s" in rec["detail"]


def test_ground_truth_settles_first_when_asked():
    tl = Timeline()
    d = Drill(None, tl, allure_steps=False)
    d.ground_truth("writes", settle=0.05, reader=lambda env: ["1"])
    kinds = [r["kind"] for r in tl.records if r["kind"] in ("settle", "ground-truth")]
    assert kinds == ["settle", "ground-truth"]
    (settle,) = tl.of("settle")
    assert settle["time"] == 0.05 and tl.ground_truth("writes")["ids"] == ["1"]


def test_settle_refuses_what_is_not_seconds():
    d = Drill(None, Timeline(), allure_steps=False)
    with pytest.raises(Exception, match="seconds must be a number ≥ 0"):
        d.settle(-1)


# -- what writes_lost says about the read ------------------------------------------------------------------

def write_behind(*, settle: dict | None = None, read_at: float = 10.0) -> Timeline:
    """24 writes acknowledged every 0.1 s from 7.6 s; the service commits each one 0.8 s after it
    acknowledged it; traffic stops at 9.99 s and the data is read at ``read_at``: what is held is
    exactly what was committed by then."""
    tl = Timeline()
    tl.fault("inject", fault="restart", fault_id="f1", targets=["web/app"], t=2.0)
    tl.fault("heal", fault="restart", fault_id="f1", targets=["web/app"], t=4.0)
    acked = [round(7.6 + i * 0.1, 3) for i in range(24)]
    for i, t in enumerate(acked):
        tl.probe(population="writers", client="w", op="POST /notes", ok=True, t=t - 0.01, t_end=t)
        tl.add("write", t=t, client="w", id=str(i), op="note")
    if settle is not None:
        tl.add("settle", t=read_at - 0.01, traffic_stopped=9.99, **settle)
    held = [str(i) for i, t in enumerate(acked) if t + 0.8 <= read_at]
    tl.add("ground-truth", t=read_at + 0.05, what="writes", ids=held, detail={"seconds": 0.05})
    return tl


def test_read_at_once_the_writes_not_yet_committed_look_lost_and_the_sentence_says_when():
    tl = write_behind()
    v = writes_lost(tl)
    assert v.status == FAIL and v.value == 7               # acknowledged 9.3..9.9 s: not committed at 10.0
    assert v.details["read_at"] == 10.0 and v.details["settle"] is None
    assert v.details["lost_near_read"] == 7 and v.details["last_lost_before_read_s"] == 0.1
    assert "; 7 of them acknowledged less than 1 s before the data was read, with no settle time" in v.sentence


def test_after_a_settle_time_nothing_is_lost():
    tl = write_behind(settle={"time": 1.0, "until": None, "met": None, "waited": 1.0}, read_at=11.0)
    v = writes_lost(tl)
    assert v.status == PASS and v.value == 0 and v.sentence == "acknowledged writes lost: 0 of 24 (expected 0)"
    assert v.details["settle"]["time"] == 1.0


def test_a_condition_that_never_held_is_said_and_the_loss_still_counts():
    settle = {"time": 0.0, "until": "GET /pending answers 200 with '0'", "met": False, "waited": 0.3}
    v = writes_lost(write_behind(settle=settle, read_at=10.3))
    assert v.status == FAIL and v.value == 4               # 9.6..9.9 s: not committed at 10.3
    assert v.sentence.endswith("; the data was read 0.3 s after the traffic stopped, before the settle "
                               "condition held (GET /pending answers 200 with '0')")
    assert "with no settle time" not in v.sentence

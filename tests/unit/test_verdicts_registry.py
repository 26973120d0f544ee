"""The verdict registry: every entry parses its YAML through the scenario validator, checks what it
needs, and judges a timeline both ways; schema, validator, runner and summary read the same table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drillkit.errors import ConfigError
from drillkit.scenario import schema as S
from drillkit.scenario.model import load_scenario
from drillkit.scenario.validate import _Checker
from drillkit.timeline import Timeline
from drillkit.verdicts import table as VR
from drillkit.verdicts.base import FAIL, PASS

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "environments" / "registry" / "compose.yaml"
POP = "existing-sessions"


def scenario(tmp_path: Path, expect: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(f"""\
scenario: registry node kill
environment: {COMPOSE}
users:
  clerks: 20
faults:
  - kind: kill
    target: {{service: app, replica: 2}}
    for: 2s
observe: 2s
expect:
  {expect}
""", encoding="utf-8")
    return p


# -- timelines, each built to pass (bad=False) or fail (bad=True) one verdict --------------------------

def base(*, fail_from=None, fail_until=None, pop=POP, users=5, end=10.0, step=0.1, latency=0.01,
         session="valid", notice=False, fail_latency=None) -> Timeline:
    """Phases steady 0-5, inject, observe 5-8, recover 8-10; a kill at 5 healed at 8; ``users`` users of
    ``pop`` every ``step`` s, failing (502) from ``fail_from`` to ``fail_until``."""
    tl = Timeline()
    for name, s, e in (("steady", 0, 5), ("inject", 5, 5), ("observe", 5, 8), ("recover", 8, end)):
        tl.add("phase", t=s, phase=name, event="start")
        tl.add("phase", t=e, phase=name, event="end")
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-2"], t=5.0)
    tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-2"], t=8.0)
    for u in range(users):
        t = u * 0.01
        while t < end:
            bad = fail_from is not None and fail_from <= t < fail_until
            tl.probe(population=pop, client=f"{pop}-{u}", op="GET /", ok=not bad, t=t,
                     t_end=t + (fail_latency if bad and fail_latency else latency),
                     status=502 if bad else 200, session="none" if bad else session, notice=bad and notice)
            t = round(t + step, 6)
    return tl


def tl_recovery(bad):
    return base(fail_from=5.0, fail_until=9.0 if bad else 6.0)


def tl_sessions(bad):
    tl = base()
    if bad:
        tl.probe(population=POP, client=f"{POP}-0", op="GET /", ok=False, t=6.0, t_end=6.01, status=401,
                 session="rejected")
    return tl


def tl_drafts(bad):
    tl = base()
    if bad:
        tl.probe(population=POP, client=f"{POP}-0", op="PUT /moves/drafts/{id}/step/{n}", ok=False, t=6.0,
                 t_end=6.01, status=404, session="draft-lost", error="draft d1 lost at step 2 (HTTP 404)")
    return tl


def tl_writes(bad):
    tl = base()
    for i in range(10):
        tl.add("write", t=4.0 + i, client=f"{POP}-0", id=str(i), op="move")
    tl.add("ground-truth", t=10.5, what="writes", ids=[str(i) for i in range(10 - 3 * bad)])
    return tl


def tl_availability(bad):
    return base(fail_from=5.0, fail_until=7.0 if bad else 5.05)


def tl_detection(bad):
    return base(fail_from=5.0 + (1.5 if bad else 0.2), fail_until=7.0)


def tl_outage(bad):
    return base(fail_from=5.0, fail_until=9.0 if bad else 6.0)


def tl_duplicates(bad):
    tl = tl_writes(False)
    if bad:
        tl.add("write", t=9.5, client=f"{POP}-1", id="3", op="move")
    return tl


def tl_bookings(bad):
    tl = base()
    tl.add("ground-truth", t=10.5, what="bookings", ids=["1", "2", "3"], slots=["A", "B", "B" if bad else "C"])
    return tl


def tl_answer(bad):
    return base(fail_from=5.0, fail_until=7.0, fail_latency=5.0 if bad else 0.5, step=0.5)


def tl_latency(bad):
    return base(latency=0.8 if bad else 0.05, step=0.5)


def tl_notice(bad):
    return base(fail_from=5.0, fail_until=7.0, pop="probe", users=1, notice=not bad)


def tl_budget(bad):
    return base(fail_from=5.0, fail_until=5.2 if bad else 5.0)


def tl_config(bad):
    tl = base()
    for node, size in (("app-1", "20"), ("app-new-1", "4" if bad else "20")):
        tl.add("config", t=4.9, moment="before", service=node.rsplit("-", 1)[0], node=node,
               settings={"pool size": size, "session store": "redis"}, errors={})
    return tl


def _load_tl(bad):
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from test_load_verdicts import spike
    return spike(bad)


def _scaleout_tl(bad):
    from load_support import load_timeline
    tl = load_timeline([("constant", 0.0, 10.0, 20.0, 1.0)], [(k * 0.05, 0.1, 200 if k % 2 else 503, None)
                                                             for k in range(200)], label="5")
    other = load_timeline([("constant", 20.0, 30.0, 20.0, 1.0)],
                          [(20.0 + k * 0.05, 0.1, 200 if bad and k % 2 or not bad else 503, None) for k in range(200)],
                          label="10", start=20.0)
    tl.records.extend(r for r in other.records if r["kind"] != "header")
    return tl


def _lead_tl(bad):
    from test_load_verdicts import degrades_then_fails, fails_at_once
    tl = fails_at_once(fast=True) if bad else degrades_then_fails()
    for r in tl.records:
        if r["kind"] == "probe":
            r["population"] = "load"
    return tl


def _absorb_tl(bad):
    from test_load_verdicts import surge
    return surge(None if bad else 25.0)


def _search_tl(bad):
    tl = Timeline()
    tl.add("search", base=10, forecast=4, steps=[
        {"factor": f, "rate": 10 * f, "offered": 100, "served": 100 if held else 50, "p95_s": 0.1, "held": held}
        for f, held in ((1, True), (2, True), (4, not bad), (6, False))])
    return tl


LOAD_FACTS = VR.Facts(stack="loadlab", populations=("load", "probe"), faults=0,
                      extra={"loads": ("load", "5", "10"), "search": True})


def window(tl: Timeline) -> VR.Window:
    truth = [r["what"] for r in tl.of("ground-truth")]
    return VR.Window(since=5.0, until=10.0, ground_truth=truth[0] if truth else None)


# key -> (expect YAML, timeline builder, a word the failing sentence must carry)
CASES = {
    "recovery_time": ("recovery_time: {population: existing-sessions, max: 2s}", tl_recovery,
                      "5 of 5 existing-sessions users hit"),
    "sessions_lost": ("sessions_lost: 0", tl_sessions, "sessions lost: 1 of 5 (expected 0)"),
    "drafts_lost": ("drafts_lost: 0", tl_drafts, "drafts lost: 1 (1 user) (expected 0)"),
    "writes_lost": ("writes_lost: 0", tl_writes, "3 of 10 acknowledged writes lost (3 after the heal) while all 500 requests"),
    "availability": ("availability: {existing-sessions: 0.9}", tl_availability,
                     "existing-sessions: 60.0% of"),
    "detection_time": ("detection_time: 1s", tl_detection, "detection time 1.51 s"),
    "outage_window": ("outage_window: {max: 2s}", tl_outage, "outage window 4.01 s"),
    "duplicates": ("duplicates: 0", tl_duplicates, "duplicates in writes: 1 id"),
    "double_bookings": (None, tl_bookings, "double bookings: 1 slot booked twice"),
    "answer_time": ("answer_time: {population: existing-sessions, max: 2s, quantile: 0.5}", tl_answer,
                    "existing-sessions waited 5.00 s for an answer (median"),
    "latency_by_phase": ("latency_by_phase: {population: existing-sessions, max: 500ms}", tl_latency,
                         "too slow in"),
    "disruption_notice": (None, tl_notice, "0% of failed requests showed the disruption notice"),
    "error_budget": ("error_budget: {population: existing-sessions, slo: 0.99}", tl_budget,
                     "error budget: "),
    "config_parity": (None, tl_config, "config parity: 1 setting differs — pool size: old 20, new 4 (app vs app-new)"),
    # load verdicts: facts of a scenario with load:/search: (LOAD_FACTS), values given as YAML would
    "throughput": ({"min": 0.95}, _load_tl, "throughput held in 2 of 3 phases"),
    "load_p95": ("1s", _load_tl, "too slow in spike ×4"),
    "shed": (0.01, _load_tl, "100 shed, 50 timed out of 400"),
    "queue_time": ("500ms", _load_tl, "queue time per phase"),
    "scaleout_gain": ({"before": "5", "after": "10", "min": 0.2}, _scaleout_tl, "more instances do not help"),
    "lead_time": ({"alert": {"factor": 2, "for": "5s", "window": "2s"}, "slo": {"p95": "1s", "availability": 0.99,
                                                                                 "window": "2s"}},
                  _lead_tl, "never fired: no early warning"),
    "absorption_time": ({"max": "20s", "slo": {"p95": "1s", "availability": 0.95, "window": "2s"}}, _absorb_tl,
                        "surge not absorbed"),
    "breaking_point": (4, _search_tl, "the forecast ×4 is not covered"),
}
LOAD_KEYS = ("throughput", "load_p95", "shed", "queue_time", "scaleout_gain", "lead_time", "absorption_time",
             "breaking_point")


def test_every_registered_verdict_has_a_case():
    assert set(CASES) == set(VR.VERDICTS)
    assert {"recovery_time", "sessions_lost", "writes_lost", "availability"} <= set(VR.VERDICTS)


@pytest.mark.parametrize("key", list(CASES))
def test_each_verdict_parses_and_judges_both_ways(tmp_path, key):
    text, make, words = CASES[key]
    kind = VR.VERDICTS[key]
    if key in LOAD_KEYS:
        params = VR.parse(kind, text, {}, key, _Checker(tmp_path / "x.yaml"), LOAD_FACTS)
        assert VR.unmet(kind, LOAD_FACTS, params) is None
    elif text is not None:
        sc = load_scenario(scenario(tmp_path, text))
        (item,) = sc.expect.items
        assert item.key == key and item.line == 11
        params = item.params
    else:  # needs facts the registry stack does not offer (bookings read back, a probe population)
        facts = VR.Facts(stack="booking", populations=(POP, "probe"), writers=("citizens",),
                         ground_truth=("bookings",), faults=1,
                         extra={"services": ("app", "app-new"), "config": {"pool size": None, "session store": None}})
        raw = {"old": "app", "new": "app-new"} if key == "config_parity" else 0.9 if key == "disruption_notice" else 0
        params = VR.parse(kind, raw, {}, key, _Checker(tmp_path / "x.yaml"), facts)
        assert VR.unmet(kind, facts, params) is None
    good = VR.compute(kind, make(False), params, window(make(False)))
    bad = VR.compute(kind, make(True), params, window(make(True)))
    assert all(v.status == PASS for v in good), [v.sentence for v in good]
    assert any(v.status == FAIL for v in bad), [v.sentence for v in bad]
    assert any(words in v.sentence for v in bad), [v.sentence for v in bad]
    assert all(kind.judges(v) for v in good + bad)


def test_the_schema_and_the_validator_read_the_table():
    assert list(S.EXPECTATIONS) == list(VR.VERDICTS)
    assert S.RECOVERY_KEYS == {"population", "max", "consecutive", "tolerance"}
    assert all(key in S.TOP_KEYS["expect"] for key in VR.VERDICTS)


def test_affected_only_is_a_one_line_error_with_a_fix(tmp_path):
    p = scenario(tmp_path, "recovery_time: {population: existing-sessions, max: 3s, affected_only: true}")
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert re.match(rf"^{re.escape(str(p))}:11: expect\.recovery_time\.affected_only: `affected_only` was "
                    r"removed: recovery is judged per user .* — fix: drop affected_only$", msg), msg


@pytest.mark.parametrize("text, field, words", [
    ("double_bookings: 0", "expect.double_bookings", "no ground truth 'bookings' for environment 'registry'"),
    ("disruption_notice: {population: citizens}", "expect.disruption_notice.population",
     "unknown population 'citizens'"),
    ("sessions_lost: {max: 0, population: new-logins}", "expect.sessions_lost",
     "users of new-logins hold no sessions"),
    ("recovery_time: {max: 3s, consecutive: 0}", "expect.recovery_time.consecutive", "whole number 1..1000"),
    ("recovery_time: {population: existing-sessions}", "expect.recovery_time.max", "missing `max`"),
    ("recovery_time: {max: 3s, tolerance: 5}", "expect.recovery_time.tolerance", "ratio 0..1"),
    ("error_budget: {population: existing-sessions, slo: 0}", "expect.error_budget.slo", "must be above 0"),
    ("answer_time: [1, 2]", "expect.answer_time", "not a duration"),
    ("detection_time: {max: 1s, colour: red}", "expect.detection_time.colour", "unknown key 'colour'"),
    ("writes_lost: -1", "expect.writes_lost", "whole number 0.."),
    ("error_budget: 0.99", "expect.error_budget.population", None),
])
def test_bad_parameters_and_unmet_needs_are_one_line_errors(tmp_path, text, field, words):
    p = scenario(tmp_path, text)
    try:
        load_scenario(p)
    except ConfigError as exc:
        msg = str(exc)
    else:
        assert words is None, "loaded"
        return
    assert "\n" not in msg and " — fix: " in msg, msg
    assert re.match(rf"^{re.escape(str(p))}:11: {re.escape(field)}: ", msg), msg
    if words:
        assert words in msg, msg


def test_requirements_are_predicates_over_facts():
    writes = VR.VERDICTS["writes_lost"]
    none = VR.Facts(stack="redis-sentinel", populations=("writers",))
    problem = VR.unmet(writes, none, {"max": 0})
    assert problem is not None and "no ground truth 'writes' for environment 'redis-sentinel'" in problem.message
    fed = VR.Facts(stack="redis-sentinel", populations=("writers",), writers=("redis",), ground_truth=("writes",))
    assert VR.unmet(writes, fed, {"max": 0}) is None                  # a new reader is a new fact, no code here
    sessions = VR.VERDICTS["sessions_lost"]
    assert VR.unmet(sessions, fed, {"population": POP}).message == "no users hold sessions in this scenario"
    assert VR.unmet(sessions, VR.Facts(session_populations=(POP,)), {"population": POP}) is None


def test_docs_describe_every_verdict_and_parameter():
    docs = (REPO / "docs" / "verdicts.md").read_text(encoding="utf-8")
    for key, kind in VR.VERDICTS.items():
        assert f"`{key}`" in docs, key
        for p in kind.params:
            assert f"`{p.name}`" in docs, (key, p.name)
    scen = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert "{population, max, consecutive, affected_only}" not in scen and "verdicts.md" in scen

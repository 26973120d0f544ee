"""Findings (drillkit.verdicts.findings), proven on timelines built for the purpose: each is a small
simulation of users in a closed loop (send, wait for the answer or the timeout, think, send again),
and every figure a finding reports is compared with what the simulation itself counted.

Both ways: each definition fires on the shape it looks for and stays silent on the sound variant
(the partial outage that recovers, 95 % of the steady state, one holder per reading, a sound drill).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, recovery_time, writes_lost
from drillkit.verdicts.spans import percent
from drillkit.verdicts.findings import (CRITICAL, DEGRADED, FAILED_HELD, INFO, NEVER_AGAIN,
                                        NEVER_MIN_REQUESTS, MIN_SECONDS, ROLE_READING, SPLIT_BRAIN,
                                        UNKNOWN_HELD, WARNING, examine, failing, findings, to_verdict)

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "verdicts.md").read_text(encoding="utf-8")
LATENCY = 0.01


def users(tl: Timeline, population: str, n: int, *, end: float, start: float = 0.0, think: float = 0.25,
          ok=lambda t, u: True, wait=lambda t, u: 2.0, write: dict | None = None,
          latency: float = LATENCY) -> list[dict]:
    """``n`` users of ``population`` in a closed loop from ``start`` to ``end``: a request answered after
    ``latency`` when ``ok(t, user)``, else failed after ``wait(t, user)`` (a timeout); then ``think`` s.
    ``write``: a ledger to keep (ids ``u-k``): ok = acknowledged, failed = unknown outcome. Returns
    the requests the simulation sent, as (client, t, t_end, ok, id)."""
    sent = []
    for u in range(n):
        t, k = start + u * 0.01, 0
        while t < end:
            good = ok(t, u)
            t_end = t + (latency if good else wait(t, u))
            client = f"{population}-{u}"
            tl.probe(population=population, client=client, op="insert" if write is not None else "GET /",
                     ok=good, t=t, t_end=t_end, error=None if good else "timeout")
            wid = f"{u}-{k}"
            if write is not None:
                tl.add("write", t=t_end, client=client, id=wid, op="insert",
                       **({} if good else {"outcome": "unknown"}))
            sent.append({"client": client, "t": t, "t_end": t_end, "ok": good, "id": wid})
            t, k = t_end + think, k + 1
    return sent


def fault(tl, kind, target, at, heal=None, fid=None, how="start"):
    fid = fid or f"{kind}-{target}"
    tl.fault("inject", fault=kind, fault_id=fid, targets=[target], t=at)
    if heal is not None:
        tl.fault("heal", fault=kind, fault_id=fid, targets=[target], t=heal, heal=how)


def runbook(tl, name, steps, at, step_s=0.5):
    t = at
    for step in steps:
        tl.add("runbook", t=t, runbook=name, step=step, event="start", detail="exec")
        t += step_s
        tl.add("runbook", t=t, runbook=name, step=step, event="end", detail="", seconds=step_s)
    return t


def of(found, kind):
    return [f for f in found if f.kind == kind]


# -- the synchronous-standby shape -----------------------------------------------------------------
CUT, KILL, PROMOTE, END = 10.0, 14.0, 16.0, 50.0


def sync_standby(readers_ok=True) -> tuple[Timeline, list[dict], float]:
    """A primary with a synchronous standby: cut off at 10 s, killed at 14 s, the standby promoted by
    hand (runbook promote-standby, 16.0-16.5 s). The promoted node still waits for a synchronous
    standby that no longer exists: every write times out (2 s, unknown outcome) to the end, yet each
    one is committed locally — the ground truth holds it. Readers on the standby work throughout."""
    tl = Timeline()
    fault(tl, "partition", "db", CUT, heal=20.0)
    fault(tl, "kill", "db", KILL, heal=20.0, how="none")      # handed over: the runbook recovers
    promoted = runbook(tl, "promote-standby", ["promote"], PROMOTE)
    writes = users(tl, "writers", 8, end=END, ok=lambda t, u: t < CUT, write={})
    users(tl, "readers", 4, end=END, ok=lambda t, u: readers_ok)
    held = [w["id"] for w in writes if w["ok"] or w["t"] >= promoted]
    tl.add("ground-truth", t=END + 1, what="writes", ids=held)
    return tl, writes, promoted


def test_sync_standby_writes_never_work_again_after_the_promotion_while_reads_do():
    tl, writes, promoted = sync_standby()
    ex = examine(tl)
    assert {(f.kind, f.subject) for f in ex.findings} == {(NEVER_AGAIN, "writers"), (UNKNOWN_HELD, "writes")}
    never = of(ex.findings, NEVER_AGAIN)[0]
    after = [w for w in writes if w["t"] >= promoted]          # the simulation's own count
    last_ok = max(w["t"] for w in writes if w["ok"])
    end = max(w["t_end"] for w in writes)
    assert never.severity == CRITICAL
    assert never.details["failed"] == len(after) and never.details["since_t"] == promoted
    after_cut_healed = [w for w in writes if w["t"] >= 20.0]
    assert never.sentence == (
        f"writers: no request succeeded after runbook promote-standby had run (step promote) — 0 of "
        f"{len(after)} in the {end - promoted:.1f} s from then to the end of traffic, nor after the heal of "
        f"partition of db {20.0 - promoted:.1f} s later: 0 of {len(after_cut_healed)}; its last success was "
        f"sent {CUT - last_ok:.2f} s before partition of db began")
    # the drill "held": no acknowledged write lost — the finding is what says it did not
    assert writes_lost(tl).status == PASS and writes_lost(tl).value == 0
    held = of(ex.findings, UNKNOWN_HELD)[0]
    unknown = [w for w in writes if not w["ok"]]
    assert held.severity == INFO
    assert (held.details["held"], held.details["writes"]) == (len(after), len(unknown))
    assert held.details["recovery_actions"][0] == {
        "t": promoted, "label": "runbook promote-standby had run (step promote)", "held_after": len(after)}
    # degraded after recovery is not said twice: never working again is the stronger fact
    assert [(n.kind, n.subject, n.by) for n in ex.suppressed] == [(DEGRADED, "writers", NEVER_AGAIN)]
    assert failing(ex.findings) == [never]                    # info never fails a drill


def test_readers_failing_too_are_a_finding_of_their_own():
    tl, _, _ = sync_standby(readers_ok=False)
    assert {f.subject for f in of(findings(tl), NEVER_AGAIN)} == {"writers", "readers"}
    readers = [f for f in findings(tl) if f.subject == "readers"][0]
    assert readers.sentence.startswith("readers: no request succeeded in the whole drill — 0 of ")


# -- users who never come back -------------------------------------------------------------------
INJECT, HEAL, DONE = 5.0, 13.0, 25.0


def never_back() -> Timeline:
    tl = Timeline()
    for name, s, e in (("steady", 0.0, INJECT), ("observe", INJECT, HEAL), ("recover", HEAL, DONE)):
        tl.add("phase", t=s, phase=name, event="start")
        tl.add("phase", t=e, phase=name, event="end")
    fault(tl, "kill", "app-2", INJECT, heal=HEAL)
    users(tl, "existing-sessions", 10, end=DONE, ok=lambda t, u: not (INJECT <= t < HEAL and u % 3 == 0),
          wait=lambda t, u: 0.05)
    users(tl, "new-logins", 5, end=DONE, ok=lambda t, u: t < INJECT, wait=lambda t, u: 0.05)
    return tl


def test_users_who_never_come_back_after_the_heal():
    tl = never_back()
    found = findings(tl)
    assert [(f.kind, f.subject, f.severity) for f in found] == [(NEVER_AGAIN, "new-logins", CRITICAL)]
    f = found[0]
    sent_after = [r for r in tl.probes("new-logins") if r["t"] >= HEAL]
    assert f.details["failed"] == len(sent_after) >= NEVER_MIN_REQUESTS
    assert f.sentence.startswith(f"new-logins: no request succeeded after the heal of kill of app-2 — 0 of "
                                 f"{len(sent_after)} in the ")


def test_a_recovery_verdict_that_judged_it_suppresses_it():
    tl = never_back()
    judged = recovery_time(tl, target=5.0, population="new-logins")
    assert judged.status == FAIL and judged.details["not_back"] == 5
    ex = examine(tl, verdicts=[judged])
    assert ex.findings == []
    assert [(n.kind, n.subject, n.by) for n in ex.suppressed][0] == (NEVER_AGAIN, "new-logins", "recovery_time")
    # the verdict records the drill wrote are read the same way
    tl.add("verdict", name=judged.name, key=judged.kind, status=judged.status, sentence=judged.sentence,
           details=judged.details)
    assert findings(tl) == []
    # a recovery verdict about another population judged nothing of this one
    other = recovery_time(never_back(), target=5.0, population="existing-sessions")
    assert [f.subject for f in findings(never_back(), verdicts=[other])] == ["new-logins"]


def test_a_partial_outage_that_recovers_is_no_finding():
    tl = Timeline()
    fault(tl, "kill", "app-2", INJECT, heal=HEAL)
    users(tl, "existing-sessions", 12, end=DONE, ok=lambda t, u: not (INJECT <= t < HEAL and u % 3 == 0),
          wait=lambda t, u: 0.05)
    ex = examine(tl)
    assert ex.findings == [] and ex.suppressed == [] and ex.unmeasured == []


def test_a_fault_never_healed_is_a_warning_that_says_so():
    tl = Timeline()
    fault(tl, "kill", "app-2", INJECT)
    users(tl, "clerks", 5, end=DONE, ok=lambda t, u: t < INJECT, wait=lambda t, u: 0.05)
    [f] = findings(tl)
    assert (f.kind, f.severity) == (NEVER_AGAIN, WARNING)
    assert f.sentence.startswith("clerks: no request succeeded after kill of app-2 began — 0 of ")
    assert f.sentence.endswith("; kill of app-2 never healed while traffic ran; its last success was sent "
                               + f"{INJECT - max(r['t'] for r in tl.probes('clerks') if r['ok']):.2f} s before "
                               "kill of app-2 began")


def test_stopping_inside_a_fault_that_began_earlier_is_measured_from_the_last_success():
    tl = Timeline()
    fault(tl, "latency", "db", 2.0)            # slow first, then nothing works: no event in between
    users(tl, "clerks", 5, end=DONE, ok=lambda t, u: t < 6.0, wait=lambda t, u: 0.05)
    [f] = findings(tl)
    assert (f.kind, f.severity) == (NEVER_AGAIN, WARNING)
    assert "no request succeeded after its last success, answered +4.0 s after latency of db began" in f.sentence


def test_a_population_that_stops_without_any_fault_is_not_this_finding():
    tl = Timeline()
    users(tl, "clerks", 5, end=DONE, ok=lambda t, u: t < 6.0, wait=lambda t, u: 0.05)
    assert examine(tl).findings == []


def test_the_first_recovery_action_after_the_last_success_is_the_event_named():
    tl = Timeline()
    fault(tl, "kill", "db", 5.0, heal=30.0)
    first = runbook(tl, "promote-replica", ["fence", "promote", "repoint"], 8.0)     # one run: one event
    runbook(tl, "promote-replica", ["fence", "promote", "repoint"], 20.0)            # run again later
    users(tl, "writers", 4, end=40.0, ok=lambda t, u: t < 5.0, wait=lambda t, u: 0.1)
    [f] = findings(tl)
    assert f.details["since_t"] == first
    assert f.sentence.startswith("writers: no request succeeded after runbook promote-replica had run "
                                 "(fence, promote, repoint) — ")
    assert [a["t"] for a in f.details["recovery_actions"]] == [first, 21.5, 30.0]
    after_heal = [r for r in tl.probes("writers") if r["t"] >= 30.0]       # the last changed nothing either
    assert f", nor after the heal of kill of db {30.0 - first:.1f} s later: 0 of {len(after_heal)};" in f.sentence


def test_a_runbook_that_heals_a_fault_is_one_event_the_heal():
    """A fault healed by a runbook: its steps and the heal record (stamped when the runbook has run)
    are one recovery action, named by the heal, which names the runbook."""
    tl = Timeline()
    tl.fault("inject", fault="kill", fault_id="k1", targets=["pg/pg-3"], t=12.0)
    done = runbook(tl, "faults[2].heal", ["failover"], 12.5, step_s=10.0)
    tl.fault("heal", fault="kill", fault_id="k1", targets=["pg/pg-3"], t=done, heal="runbook faults[2].heal",
             undone=False, runbook_started=12.5)
    users(tl, "writers", 4, end=50.0, ok=lambda t, u: t < 12.0, wait=lambda t, u: 2.0)
    [f] = findings(tl)
    assert [a["label"] for a in f.details["recovery_actions"]] == [
        "the heal of kill of pg/pg-3 (runbook faults[2].heal)"]
    assert f.sentence.startswith("writers: no request succeeded after the heal of kill of pg/pg-3 (runbook "
                                 "faults[2].heal) — 0 of ")


# -- degraded after recovery -----------------------------------------------------------------------
def recovers_to(share: float, *, rate_users=10) -> Timeline:
    """Every request ok before the kill; a third fail during it; after the heal a share ``share`` of
    them succeeds (every request k of each user with k*share's fractional part rising)."""
    tl = Timeline()
    fault(tl, "kill", "app-2", INJECT, heal=HEAL)
    counter: dict[int, float] = {}

    def ok(t, u):
        if t < INJECT:
            return True
        if t < HEAL:
            return u % 3 != 0
        before = counter.get(u, 0.0)
        counter[u] = before + share
        return int(counter[u]) > int(before)          # share of requests, spread evenly
    users(tl, "clerks", rate_users, end=33.0, ok=ok, wait=lambda t, u: 0.05)
    return tl


def test_a_population_that_recovers_to_60_percent_of_its_steady_state():
    tl = recovers_to(0.6)
    [f] = findings(tl)
    assert (f.kind, f.severity, f.subject) == (DEGRADED, WARNING, "clerks")
    lo, hi = f.details["window"]
    tail = [r for r in tl.probes("clerks") if lo <= r["t"] <= hi]
    share = sum(r["ok"] for r in tail) / len(tail)
    assert f.details["after"] == round(share, 4) and abs(share - 0.6) < 0.02
    assert f.details["steady"] == 1.0
    assert lo == pytest.approx(HEAL + (hi - HEAL) / 2)       # the last half from the heal to the end
    assert f.sentence.startswith(f"clerks: {percent(share)} of {len(tail)} requests succeeded in the last ")
    assert f.sentence.endswith(f"after the heal of kill of app-2, against 100% of {f.details['steady_requests']} "
                               f"before the fault — {(1 - share) * 100:.0f} points below its steady state "
                               "(finding above 10)")


def test_a_population_at_95_percent_of_its_steady_state_is_no_finding():
    assert findings(recovers_to(0.95)) == []


def test_a_recovery_verdict_that_measured_after_the_heal_suppresses_degraded():
    tl = recovers_to(0.6)
    judged = recovery_time(tl, target=60.0, population="clerks")
    assert judged.status == FAIL and (judged.details.get("not_back") or judged.details.get("degraded"))
    ex = examine(tl, verdicts=[judged])
    assert ex.findings == [] and [(n.kind, n.by) for n in ex.suppressed] == [(DEGRADED, "recovery_time")]


# -- too few requests --------------------------------------------------------------------------
def test_too_few_requests_are_not_judged_and_say_why():
    tl = Timeline()
    fault(tl, "kill", "app-2", INJECT, heal=HEAL)
    users(tl, "probe", 1, end=HEAL + 8.0, think=1.0, ok=lambda t, u: t < INJECT, wait=lambda t, u: 0.05)
    ex = examine(tl)
    assert ex.findings == []
    [note] = [n for n in ex.unmeasured if n.kind == NEVER_AGAIN]
    after = [r for r in tl.probes("probe") if r["t"] >= HEAL]
    assert len(after) < NEVER_MIN_REQUESTS
    assert note.why.startswith(f"probe: the last {len(after)} requests (")
    assert note.why.endswith(f"after the heal of kill of app-2 failed — too few to say it never worked again "
                             f"({NEVER_MIN_REQUESTS} requests over {MIN_SECONDS:g} s needed)")
    assert [n.why for n in ex.unmeasured if n.kind == DEGRADED] == [
        "probe: availability after recovery not measured — only 5 requests before the fault, 50 needed"]


def test_a_drill_that_ends_soon_after_the_heal_is_not_judged():
    """Many requests, but only 1 s from the heal to the end: a recovery may still be under way."""
    tl = Timeline()
    fault(tl, "kill", "app", INJECT, heal=HEAL)
    users(tl, "probe", 10, end=HEAL + 1.0, think=0.02, ok=lambda t, u: t < INJECT, wait=lambda t, u: 0.05)
    ex = examine(tl)
    assert ex.findings == []
    assert len([r for r in tl.probes("probe") if r["t"] >= HEAL]) >= NEVER_MIN_REQUESTS
    assert [n.kind for n in ex.unmeasured] == [NEVER_AGAIN, DEGRADED]
    assert ex.unmeasured[1].why.endswith("its traffic ended 1.0 s after the heal of kill of app, 5 s needed")


def test_degraded_with_too_few_requests_is_not_judged():
    tl = Timeline()
    fault(tl, "kill", "app-2", INJECT, heal=HEAL)
    users(tl, "clerks", 1, end=33.0, think=0.5, ok=lambda t, u: t < INJECT or t >= HEAL and int(t) % 2 == 0,
          wait=lambda t, u: 0.05)
    ex = examine(tl)
    assert ex.findings == []
    [note] = ex.unmeasured
    assert note.kind == DEGRADED and note.why.startswith("clerks: availability after recovery not measured — only ")
    assert note.why.endswith(", 50 needed")


# -- split brain -------------------------------------------------------------------------------------
def readings(tl, *, every=0.25, end=20.0, two=(12.0, 13.0), role="primary", max_holders=1):
    k = 0
    while k * every <= end:
        t = round(k * every, 6)
        holders = ["db", "db-replica"] if two and two[0] <= t <= two[1] else (["db"] if t < 12.0 else ["db-replica"])
        tl.add(ROLE_READING, t=t, t_end=t + 0.1, role=role, holders=holders, max_holders=max_holders,
               nodes=["db", "db-replica"])
        k += 1


def test_split_brain_for_one_second():
    tl = Timeline()
    fault(tl, "partition", "db", 10.0, heal=15.0)
    readings(tl)
    [f] = findings(tl)
    assert (f.kind, f.severity, f.subject) == (SPLIT_BRAIN, CRITICAL, "role primary")
    assert f.details["readings"] == 5 and f.details["at_least_s"] == 1.0 and f.details["cleared_t"] == 13.25
    assert f.sentence == ("split brain: role primary held by 2 nodes at once (db, db-replica; at most 1 may hold "
                          "it) for at least 1.0 s: 5 readings from +2.0 s to +3.0 s after partition of db began; "
                          "1 holder(s) again at the next reading, 0.25 s later")


def test_split_brain_seen_in_one_reading_is_a_warning_that_says_what_else_it_may_be():
    tl = Timeline()
    readings(tl, two=(12.0, 12.1))
    [f] = findings(tl)
    assert (f.kind, f.severity) == (SPLIT_BRAIN, WARNING)
    assert f.sentence.endswith("in 1 reading, 12.0 s into the drill — seen once: a role moving while it was read "
                               "looks the same; 1 holder(s) again at the next reading, 0.25 s later")


def test_split_brain_never_resolved_and_roles_that_may_have_several_holders():
    tl = Timeline()
    readings(tl, two=(12.0, 99.0))
    [f] = findings(tl)
    assert f.sentence.endswith("; still more than one at the last reading") and f.details["cleared_t"] is None
    many = Timeline()
    readings(many, two=(12.0, 99.0), role="replica", max_holders=2)
    assert findings(many) == []
    one = Timeline()
    readings(one, two=None)
    assert findings(one) == []


# -- writes held that were never acknowledged ----------------------------------------------------
def test_unknown_writes_later_found_and_refused_writes_found():
    tl = Timeline()
    fault(tl, "partition", "db", 2.0, heal=5.0)
    for i in range(1, 9):
        tl.add("write", t=float(i), client="w", id=str(i), op="INSERT")
    tl.add("write", t=2.5, client="w", id="u1", op="INSERT", outcome="unknown")     # held
    tl.add("write", t=3.5, client="w", id="u2", op="INSERT", outcome="unknown")     # missing
    tl.add("write", t=4.0, client="w", id="u3", op="INSERT", outcome="unknown")     # held: retried and acked
    tl.add("write", t=4.2, client="w", id="u3", op="INSERT")
    tl.add("write", t=4.5, client="w", id=None, op="INSERT", outcome="unknown")     # cannot be looked up
    tl.add("write", t=3.0, client="w", id="f1", op="INSERT", outcome="fail")        # refused, yet held
    tl.add("write", t=3.2, client="w", id="f2", op="INSERT", outcome="fail")        # refused, not held
    tl.add("ground-truth", t=9.0, what="writes", ids=[str(i) for i in range(1, 9)] + ["u1", "u3", "f1"])
    tl.add("write", t=9.5, client="w", id="late", op="INSERT", outcome="unknown")   # after the read: not judged
    found = findings(tl)
    assert [(f.kind, f.severity) for f in found] == [(FAILED_HELD, CRITICAL), (UNKNOWN_HELD, INFO)]
    refused, unknown = found
    assert refused.sentence == ("writes: 1 of 2 writes refused are held by the stack — the service refused them "
                                "and committed them anyway; refused +1.0 s after partition of db began")
    assert unknown.sentence == ("writes: 1 of 4 writes of unknown outcome are held by the stack — committed "
                                "although the writers were never told; given up +0.5 s after partition of db "
                                "began; 1 without id not looked up")
    assert unknown.details["acknowledged_on_retry"] == 1 and unknown.details["ids"] == ["u1"]
    # writes_lost counts the unknown ones apart without judging them: the finding stands beside it
    v = writes_lost(tl)
    assert v.status == PASS and "of unknown outcome not counted" in v.sentence
    assert of(findings(tl, verdicts=[v]), UNKNOWN_HELD) == [unknown]


def test_writes_without_a_ground_truth_are_not_looked_up():
    tl = Timeline()
    tl.add("write", t=1.0, client="w", id="u1", op="INSERT", outcome="unknown")
    ex = examine(tl)
    assert ex.findings == [] and [n.kind for n in ex.unmeasured] == [UNKNOWN_HELD]


def test_a_named_ledger_is_compared_with_its_own_ground_truth():
    tl = Timeline()
    tl.add("write", t=1.0, client="w", id="b1", op="book", outcome="unknown", ledger="bookings")
    tl.add("write", t=1.0, client="w", id="b1", op="note", outcome="unknown")        # another ledger
    tl.add("ground-truth", t=9.0, what="bookings", ids=["b1"])
    [f] = findings(tl)
    assert f.subject == "bookings" and f.details["writes"] == 1


# -- a sound drill --------------------------------------------------------------------------------
def test_a_sound_drill_has_no_findings():
    tl = Timeline()
    fault(tl, "kill", "app-2", INJECT, heal=HEAL)
    writes = users(tl, "writers", 4, end=DONE, write={}, ok=lambda t, u: not (INJECT <= t < INJECT + 1.0),
                   wait=lambda t, u: 0.2)
    users(tl, "readers", 4, end=DONE)
    readings(tl, two=None)
    tl.add("ground-truth", t=DONE + 1, what="writes", ids=[w["id"] for w in writes if w["ok"]])
    ex = examine(tl)
    assert (ex.findings, ex.suppressed, ex.unmeasured) == ([], [], [])


# -- what a finding is made of, and where it comes from -------------------------------------------
def test_findings_read_a_timeline_file_and_records_alike(tmp_path):
    path = tmp_path / "drill.jsonl"
    tl, _, _ = sync_standby()
    path.write_text("".join(json.dumps(r) + "\n" for r in tl.records), encoding="utf-8")
    expected = [f.as_dict() for f in findings(tl)]
    assert [f.as_dict() for f in findings(path)] == expected
    assert [f.as_dict() for f in findings(str(path))] == expected
    assert [f.as_dict() for f in findings(tl.records)] == expected
    json.dumps(examine(path).as_dict())                     # the JSON channel can carry it as it is


def test_a_drill_that_opts_in_fails_with_one_verdict_per_finding():
    tl, _, _ = sync_standby()
    found = findings(tl)
    assert [f.kind for f in failing(found)] == [NEVER_AGAIN]
    assert failing(found, severities=(CRITICAL, WARNING, INFO)) == found
    assert failing(found, kinds=[SPLIT_BRAIN]) == []
    v = to_verdict(failing(found)[0])
    assert (v.status, v.kind, v.sentence) == (FAIL, "findings", found[0].sentence)
    assert v.details["finding"] == NEVER_AGAIN and v.details["severity"] == CRITICAL


# -- the worked example of docs/verdicts.md --------------------------------------------------------
def docs_example() -> Timeline:
    """docs/verdicts.md, "Findings": 4 writers (an insert answered in 0.5 s, then the next) and 1
    reader; the primary cut off at 2 s, killed at 4 s, the standby promoted by hand at 5-6 s; every
    write from the cut on times out after 2 s, and those sent after the promotion are committed."""
    tl = Timeline()
    fault(tl, "partition", "db", 2.0, heal=20.0)
    fault(tl, "kill", "db", 4.0, heal=20.0, how="none")
    runbook(tl, "promote-standby", ["promote"], 5.0, step_s=1.0)
    writes = users(tl, "writers", 4, end=20.0, think=0.0, latency=0.5, ok=lambda t, u: t < 2.0, write={},
                   wait=lambda t, u: 2.0)
    users(tl, "readers", 1, end=20.0, think=0.49)
    tl.add("ground-truth", t=21.0, what="writes", ids=[w["id"] for w in writes if w["ok"] or w["t"] >= 6.0])
    return tl


def test_the_docs_show_the_sentences_the_code_writes():
    found = findings(docs_example())
    assert [f.kind for f in found] == [NEVER_AGAIN, UNKNOWN_HELD]
    for f in found:
        assert f"`{f.sentence}`" in DOCS, f.sentence
    assert "`" + writes_lost(docs_example()).sentence + "`" in DOCS
    judged = recovery_time(docs_example(), target=30.0, population="writers")
    assert judged.sentence.startswith("not recovered: 4 of 4 writers users still failing ")
    assert "`not recovered: 4 of 4 writers users still failing …`" in DOCS
    assert [f.kind for f in findings(docs_example(), verdicts=[judged])] == [UNKNOWN_HELD]


# -- a property: a never-worked-again finding is true, and the rule fires when it should ------------
@settings(max_examples=150, deadline=None)
@given(st.floats(0.5, 20.0), st.floats(1.0, 30.0), st.integers(1, 6), st.floats(0.02, 1.0),
       st.booleans())
def test_never_worked_again_holds_exactly_when_nothing_succeeded_long_and_often_enough(heal_after, tail, n, think,
                                                                                       comes_back):
    heal = INJECT + heal_after
    end = heal + tail
    tl = Timeline()
    fault(tl, "kill", "app", INJECT, heal=heal)
    back = heal + tail / 2 if comes_back else None
    users(tl, "p", n, end=end, think=think, ok=lambda t, u: t < INJECT or (back is not None and t >= back),
          wait=lambda t, u: 0.05)
    probes = tl.probes("p")
    never = of(findings(tl), NEVER_AGAIN)
    if probes[-1]["ok"]:
        assert never == []
        return
    counted = [r for r in probes if r["t"] >= heal]
    enough = len(counted) >= NEVER_MIN_REQUESTS and max(r["t_end"] for r in probes) - heal >= MIN_SECONDS
    assert bool(never) == enough
    if never:
        assert not any(r["ok"] for r in counted) and never[0].details["failed"] == len(counted)

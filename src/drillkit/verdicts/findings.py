"""Findings: what the timeline shows that no verdict asked about.

A verdict answers a question the drill asked (``expect:``); a *finding* is a fact drillkit measures
after every drill without being asked — the failover that "held" (no acknowledged write lost) while
not one write succeeded after the promotion. Findings stand beside the verdicts; they fail a drill
only when the drill opts in. They read the timeline alone, as verdicts do (docs/verdicts.md,
"Findings", has the definitions with a worked timeline):

``never-worked-again`` (critical; warning while the fault was still in place)
    A population none of whose requests succeeded after an event, to the end of its traffic. The
    event is the first recovery action (a heal, or a runbook run's end) after the population's last
    success (the last one, if another, is named too); without one, the first fault injected after
    it; without that, the last success itself while a fault was in play and never healed. Judged only with at least
    :data:`NEVER_MIN_REQUESTS` requests and :data:`MIN_SECONDS` from the event to the end of
    the population's traffic; fewer is a note in ``unmeasured``.
``degraded-after-recovery`` (warning)
    A population whose availability in the last half of the time from the recovery point (the last
    heal of a fault under test, or the end of the last runbook run after the first of them) to the
    end of its traffic is more than :data:`DEGRADED_POINTS` below its steady state (its requests
    answered before the first fault under test); each of the two windows needs
    :data:`DEGRADED_MIN_REQUESTS` requests, and the traffic :data:`MIN_SECONDS` after the recovery
    point.
``split-brain`` (critical; warning when seen in one reading only)
    A role read with more holders than it may have (``role-reading`` records, below).
``failed-writes-held`` (critical)
    Writes the service refused (``write`` records with ``outcome: fail``) whose id the ground truth
    holds afterwards.
``unknown-writes-held`` (info)
    Writes of unknown outcome (timed out, cut off) whose id the ground truth holds afterwards: they
    were committed although the writer was never told.

No double reports: a finding whose fact a verdict of the drill already judged is moved to
``suppressed`` (with the verdict that judged it): ``never-worked-again`` of a population whose
``recovery_time`` verdict has users not back; ``degraded-after-recovery`` of a population whose
``recovery_time`` verdict has users not back or measured its availability after the heal, or that
never worked again. ``writes_lost`` judges acknowledged writes only and counts unknown ones without
judging them, so both write findings stand beside it.

The record the split-brain finding reads (written by whoever watches roles during a drill)::

    {"kind": "role-reading", "t": 12.30, "t_end": 12.41, "role": "primary",
     "holders": ["db", "db-replica"], "max_holders": 1,
     "nodes": ["db", "db-replica"], "errors": {"db-2": "did not finish within 5 s"}}

``t`` is when the reading began, ``t_end`` when every node had answered; ``holders`` the nodes whose
role check exited 0; ``max_holders`` how many may hold the role at once (missing: 1); ``nodes`` the
nodes asked and ``errors`` the checks that did not answer (neither decides anything). An optional
``service`` narrows the role as in ``{service: pg, role: primary}``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from drillkit.timeline import FaultWindow, Timeline
from drillkit.verdicts.base import FAIL, Verdict
from drillkit.verdicts.recovery import MIN_REQUESTS, drill_faults
from drillkit.verdicts.spans import describe_fault, percent, t_end
from drillkit.verdicts.writes import fault_in_play, ledger_of

__all__ = ["Finding", "Examination", "Note", "findings", "examine", "failing", "to_verdict",
           "CRITICAL", "WARNING", "INFO", "SEVERITIES", "KINDS", "NEVER_AGAIN", "DEGRADED", "SPLIT_BRAIN",
           "FAILED_HELD", "UNKNOWN_HELD", "ROLE_READING", "NEVER_MIN_REQUESTS", "MIN_SECONDS",
           "DEGRADED_POINTS", "DEGRADED_MIN_REQUESTS"]

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITIES = (CRITICAL, WARNING, INFO)          # in order: the worst first

NEVER_AGAIN = "never-worked-again"
DEGRADED = "degraded-after-recovery"
SPLIT_BRAIN = "split-brain"
FAILED_HELD = "failed-writes-held"
UNKNOWN_HELD = "unknown-writes-held"
KINDS = {
    NEVER_AGAIN: "a population no request of which succeeded after a heal, a runbook or a fault, to the end",
    DEGRADED: "a population that stayed far below its steady-state availability after recovery",
    SPLIT_BRAIN: "a role held by more nodes at once than it may be",
    FAILED_HELD: "writes the service refused that it holds afterwards",
    UNKNOWN_HELD: "writes of unknown outcome that the service holds afterwards",
}

ROLE_READING = "role-reading"

NEVER_MIN_REQUESTS = 20    # requests from the event to the end: fewer cannot say "never"
MIN_SECONDS = 5.0          # from the event (recovery point) to the end of traffic, for both findings about
                           # populations: sooner, a recovery may still be under way (the recovery verdict's)
DEGRADED_POINTS = 0.10     # "far below": more than 10 percentage points under the steady state
DEGRADED_MIN_REQUESTS = MIN_REQUESTS   # 50 in each window, as recovery_time's check after the heal


@dataclass(frozen=True)
class Finding:
    """One fact nobody asked about: its kind, how bad, one sentence with figures, and the figures."""

    kind: str          # one of KINDS
    severity: str      # CRITICAL | WARNING | INFO
    sentence: str
    subject: str       # the population, role or ledger it is about
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Note:
    """What could not be judged (too few requests, no recovery point), or a finding suppressed
    because a verdict judged the same fact (``by``: that verdict's key)."""

    kind: str
    subject: str
    why: str
    by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Examination:
    findings: list[Finding]
    unmeasured: list[Note]
    suppressed: list[Note]

    def as_dict(self) -> dict[str, Any]:
        return {"findings": [f.as_dict() for f in self.findings],
                "unmeasured": [n.as_dict() for n in self.unmeasured],
                "suppressed": [n.as_dict() for n in self.suppressed]}


TimelineLike = Union[Timeline, str, "os.PathLike[str]", Iterable[dict]]


def _timeline(source: TimelineLike) -> Timeline:
    if isinstance(source, Timeline):
        return source
    if isinstance(source, (str, os.PathLike)):
        return Timeline.load(source)
    return Timeline.from_records(source)


# -- figures in words ---------------------------------------------------------------------------
def _s(seconds: float) -> str:
    return f"{seconds:.2f}" if abs(seconds) < 1 else f"{seconds:.1f}"


def _offset(x: float) -> str:
    text = f"{x:+.1f} s"
    return "+0.0 s" if text == "-0.0 s" else text


def _when(t: float, w: FaultWindow | None) -> str:
    """A time as the sentences say it: from the fault in play, else into the drill."""
    if w is None:
        return f"{_s(t)} s into the drill"
    if t < w.start:
        return f"{_s(w.start - t)} s before {describe_fault(w)} began"
    return f"{_offset(t - w.start)} after {describe_fault(w)} began"


def _between(a: float, b: float, w: FaultWindow | None) -> str:
    """'from +2.0 s to +3.0 s after kill of db began' (or into the drill, without a fault)."""
    if w is None or a < w.start:
        return f"from {_when(a, w)} to {_when(b, w)}"
    return f"from {_offset(a - w.start)} to {_offset(b - w.start)} after {describe_fault(w)} began"


# -- events: what a population is measured from ---------------------------------------------------
@dataclass(frozen=True)
class _Event:
    t: float
    what: str          # inject | heal | runbook
    label: str         # the words of the sentence
    recovery: bool     # a heal (that undid something) or a runbook run: users should work after it


def _window_of(rec: dict[str, Any]) -> FaultWindow:
    return FaultWindow(rec.get("fault_id", ""), rec.get("fault", "fault"), rec["t"], None,
                       tuple(rec.get("targets", ())))


def _runbook_runs(tl: Timeline) -> list[_Event]:
    """One event per runbook run, at its last step's end (or its failed step). A run starts at the
    start of the runbook's first step (the first step name the timeline shows for it)."""
    first_step: dict[str, str] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    done: list[tuple[str, list[dict[str, Any]]]] = []
    for r in sorted(tl.of("runbook"), key=lambda r: r["t"]):
        name = r.get("runbook", "steps")
        first_step.setdefault(name, r.get("step", ""))
        if r.get("event") == "start" and r.get("step") == first_step[name] and runs.get(name):
            done.append((name, runs.pop(name)))
        runs.setdefault(name, []).append(r)
    done.extend(runs.items())
    out = []
    for name, recs in done:
        ends = [r for r in recs if r.get("event") in ("end", "failed")]
        if not ends:
            continue        # started and never ended: the drill stopped inside it
        last = ends[-1]
        failed = last.get("event") == "failed"
        steps = [r.get("step", "") for r in ends]
        label = (f"runbook {name} failed at step {last.get('step')}" if failed
                 else f"runbook {name} had run ({', '.join(steps)})" if len(steps) > 1
                 else f"runbook {name} had run (step {steps[0]})")
        out.append(_Event(last["t"], "runbook", label, True))
    return out


def _events(tl: Timeline) -> list[_Event]:
    """Injections, heals and runbook runs in time order. A heal ``none`` (the fault handed over to a
    runbook or the operator) undoes nothing: it is no recovery action. A runbook that ran as a
    fault's heal is one event, the heal (stamped when the runbook has run; its words name it)."""
    injected: dict[str, dict[str, Any]] = {}
    out: list[_Event] = []
    heal_runs: list[tuple[str, float, float]] = []     # (runbook words, started, healed)
    for r in tl.of("fault"):
        event = r.get("event")
        if event == "inject":
            injected[r.get("fault_id", "")] = r
            out.append(_Event(r["t"], "inject", describe_fault(_window_of(r)), False))
        elif event in ("heal", "heal-failed"):
            what = describe_fault(_window_of(injected.get(r.get("fault_id", ""), r)))
            how = (r.get("detail") or {}).get("heal")
            if event == "heal-failed":
                out.append(_Event(r["t"], "heal", f"the failed heal of {what}", True))
            elif how == "none":
                out.append(_Event(r["t"], "heal", f"the hand-over of {what} (heal: none)", False))
            else:
                by = f" ({how})" if how not in (None, "start") else ""    # "(runbook promote-replica)"
                out.append(_Event(r["t"], "heal", f"the heal of {what}{by}", True))
                started = (r.get("detail") or {}).get("runbook_started")
                if by and started is not None:
                    heal_runs.append((how, started, r["t"]))
    out.extend(e for e in _runbook_runs(tl)
               if not any(e.label.startswith(f"{how} ") and start <= e.t <= healed for how, start, healed in heal_runs))
    return sorted(out, key=lambda e: (e.t, e.what != "runbook"))


def _faults_in_place(tl: Timeline, at: float) -> list[FaultWindow]:
    """Faults under test injected before ``at`` and not healed by then (a heal ``none`` counts as
    healed: the drill handed the fault over)."""
    return [w for w in drill_faults(tl) if w.start <= at and (w.end is None or w.end > at)]


# -- what the verdicts already judged -----------------------------------------------------------
def _verdict_rows(tl: Timeline, verdicts: Iterable[Verdict | dict[str, Any]] | None) -> list[dict[str, Any]]:
    if verdicts is None:
        return [{"key": r.get("key", ""), "status": r.get("status"), "details": r.get("details") or {}}
                for r in tl.of("verdict")]
    rows = []
    for v in verdicts:
        if isinstance(v, Verdict):
            rows.append({"key": v.kind, "status": v.status, "details": v.details or {}})
        else:
            rows.append({"key": v.get("key") or v.get("kind", ""), "status": v.get("status"),
                         "details": v.get("details") or {}})
    return rows


def _recovery_judged(rows: list[dict[str, Any]], population: str) -> tuple[bool, bool]:
    """What a recovery_time verdict of ``population`` judged: (users not back, how it fared after
    the heal). The second holds when it measured the availability after the heal, or found users not
    back (then it judged the population's state after the fault as not recovered)."""
    not_back = after_heal = False
    for v in rows:
        d = v["details"]
        if v["key"] == "recovery_time" and d.get("population") == population:
            not_back = not_back or bool(d.get("not_back"))
            after_heal = after_heal or bool(d.get("not_back")) or d.get("degraded") in (True, False)
    return not_back, after_heal


# -- 1. never worked again -------------------------------------------------------------------------
def _never_again(tl: Timeline, population: str, probes: list[dict[str, Any]],
                 events: list[_Event]) -> tuple[Finding | None, Note | None]:
    if not probes or probes[-1]["ok"]:
        return None, None
    ok = [r for r in probes if r["ok"]]
    last_ok = ok[-1] if ok else None
    end = max(t_end(r) for r in probes)
    after = [e for e in events if (last_ok is None or e.t > last_ok["t"]) and e.t < end]
    recovery = [e for e in after if e.recovery]
    injects = [e for e in after if e.what == "inject"]
    details: dict[str, Any] = {"population": population, "requests": len(probes),
                               "last_success_t": None if last_ok is None else last_ok["t"],
                               "end_of_traffic_t": end,
                               "recovery_actions": [{"t": e.t, "label": e.label,
                                                     "failed_after": sum(1 for r in probes if r["t"] >= e.t)}
                                                    for e in recovery]}
    if last_ok is None:                       # it never worked: before the fault neither
        since, label, counted, severity = probes[0]["t"], None, probes, CRITICAL
    elif recovery:
        anchor = recovery[0]
        since, label, severity = anchor.t, anchor.label, CRITICAL
        counted = [r for r in probes if r["t"] >= anchor.t]
    elif injects:
        anchor = injects[0]
        since, label, severity = anchor.t, f"{anchor.label} began", WARNING
        counted = [r for r in probes if r["t"] >= anchor.t]
    else:
        in_play = _faults_in_place(tl, last_ok["t"])
        if not in_play:
            return None, None                 # it stopped without a fault: not this finding's to say
        since, severity = t_end(last_ok), WARNING
        label = f"its last success, answered {_when(t_end(last_ok), in_play[-1])}"
        counted = [r for r in probes if r["t"] > last_ok["t"]]
        last_ok = None                        # the sentence is measured from it already
    span = end - since
    details.update(since_t=since, anchor=label, failed=len(counted), seconds=round(span, 3))
    if len(counted) < NEVER_MIN_REQUESTS or span < MIN_SECONDS:
        what = f"after {label}" if label else "in the whole drill"
        return None, Note(NEVER_AGAIN, population,
                          f"{population}: the last {len(counted)} requests ({_s(span)} s) {what} failed — too few "
                          f"to say it never worked again ({NEVER_MIN_REQUESTS} requests over "
                          f"{MIN_SECONDS:g} s needed)")
    if label is None:
        sentence = f"{population}: no request succeeded in the whole drill — 0 of {len(counted)}"
    else:
        sentence = (f"{population}: no request succeeded after {label} — 0 of {len(counted)} in the "
                    f"{_s(span)} s from then to the end of traffic")
        later = [a for a in details["recovery_actions"][1:] if a["failed_after"]]
        if later:       # the last recovery action changed nothing either: say so, it is often the one meant
            sentence += (f", nor after {later[-1]['label']} {_s(later[-1]['t'] - since)} s later: 0 of "
                         f"{later[-1]['failed_after']}")
        left = _faults_in_place(tl, end)
        if left:
            sentence += f"; {', '.join(describe_fault(w) for w in left)} never healed while traffic ran"
            details["in_place"] = [describe_fault(w) for w in left]
        if last_ok is not None:
            w = fault_in_play(tl, last_ok["t"])
            details["last_success"] = _when(last_ok["t"], w)
            sentence += f"; its last success was sent {_when(last_ok['t'], w)}"
    return Finding(NEVER_AGAIN, severity, sentence, population, details), None


# -- 2. degraded after recovery ------------------------------------------------------------------
def _recovery_point(tl: Timeline, events: list[_Event]) -> tuple[float | None, str, str | None]:
    """(t, words, why not) of the recovery point: the last heal of a fault under test or the end of
    the last runbook run after the first of them; None with a reason when a fault never ended."""
    faults = drill_faults(tl)
    if not faults:
        return None, "", "no fault on the timeline"
    first = faults[0].start
    runs = [e for e in events if e.what == "runbook" and e.t > first]
    for w in faults:
        if w.end is None and not any(e.t > w.start for e in runs):
            return None, "", f"{describe_fault(w)} was never healed and no runbook ran after it"
    heals = [e for e in events if e.what == "heal" and e.t > first]
    last = max(heals + runs, key=lambda e: e.t, default=None)
    if last is None:
        return None, "", "no heal on the timeline"
    return last.t, last.label, None


def _degraded(tl: Timeline, population: str, probes: list[dict[str, Any]],
              point: tuple[float | None, str, str | None]) -> tuple[Finding | None, Note | None]:
    faults = drill_faults(tl)
    if not faults or not probes:
        return None, None
    r_t, r_label, why = point
    if r_t is None:
        return None, Note(DEGRADED, population, f"{population}: availability after recovery not measured — {why}")
    start = faults[0].start
    steady = [r for r in probes if t_end(r) < start]
    end = max(t_end(r) for r in probes)                 # the end of its traffic: its last answer
    if end - r_t < MIN_SECONDS:
        ended = f"{_s(end - r_t)} s after" if end > r_t else "before"
        return None, Note(DEGRADED, population, f"{population}: availability after recovery not measured — "
                                                f"its traffic ended {ended} {r_label}, {MIN_SECONDS:g} s needed")
    mid = r_t + (end - r_t) / 2
    tail = [r for r in probes if mid <= r["t"] <= end]
    if len(steady) < DEGRADED_MIN_REQUESTS or len(tail) < DEGRADED_MIN_REQUESTS:
        which = (f"only {len(steady)} requests before the fault" if len(steady) < DEGRADED_MIN_REQUESTS
                 else f"only {len(tail)} requests in the last half after {r_label}")
        return None, Note(DEGRADED, population, f"{population}: availability after recovery not measured — "
                                                f"{which}, {DEGRADED_MIN_REQUESTS} needed")
    before = sum(r["ok"] for r in steady) / len(steady)
    after = sum(r["ok"] for r in tail) / len(tail)
    below = before - after
    details = {"population": population, "steady": round(before, 4), "steady_requests": len(steady),
               "after": round(after, 4), "after_requests": len(tail), "recovery_point_t": r_t,
               "recovery_point": r_label, "window": [round(mid, 3), round(end, 3)],
               "points_below": round(below * 100, 1), "threshold_points": DEGRADED_POINTS * 100}
    if below <= DEGRADED_POINTS + 1e-12:
        return None, None
    sentence = (f"{population}: {percent(after)} of {len(tail)} requests succeeded in the last "
                f"{_s(end - mid)} s of traffic after {r_label}, against {percent(before)} of {len(steady)} "
                f"before the fault — {below * 100:.0f} points below its steady state "
                f"(finding above {DEGRADED_POINTS * 100:g})")
    return Finding(DEGRADED, WARNING, sentence, population, details), None


# -- 3. split brain ------------------------------------------------------------------------------
def _split_brain(tl: Timeline) -> list[Finding]:
    readings: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for r in tl.of(ROLE_READING):
        readings.setdefault((r.get("role", "?"), r.get("service")), []).append(r)
    out = []
    for (role, service), rs in sorted(readings.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        rs.sort(key=lambda r: r["t"])
        episodes: list[tuple[int, int]] = []          # [first, last] indexes of readings over the limit
        for i, r in enumerate(rs):
            over = len(set(r.get("holders") or ())) > int(r.get("max_holders", 1))
            if over and episodes and episodes[-1][1] == i - 1:
                episodes[-1] = (episodes[-1][0], i)
            elif over:
                episodes.append((i, i))
        if not episodes:
            continue
        longest = max(episodes, key=lambda ep: (rs[ep[1]]["t"] - rs[ep[0]]["t"], ep[1] - ep[0]))
        a, b = longest
        first, last = rs[a], rs[b]
        cleared = rs[b + 1] if b + 1 < len(rs) else None
        holders = sorted({h for r in rs[a:b + 1] for h in r.get("holders") or ()})
        limit = int(first.get("max_holders", 1))
        w = fault_in_play(tl, first["t"])
        n = b - a + 1
        name = f"role {role}" + (f" of {service}" if service else "")
        most = max(len(set(r.get("holders") or ())) for r in rs[a:b + 1])
        sentence = (f"split brain: {name} held by {most} nodes at once ({', '.join(holders)}; at most "
                    f"{limit} may hold it)")
        if n == 1:
            sentence += (f" in 1 reading, {_when(first['t'], w)} — seen once: a role moving while it was "
                         f"read looks the same")
        else:
            sentence += (f" for at least {_s(last['t'] - first['t'])} s: {n} readings "
                         f"{_between(first['t'], last['t'], w)}")
        if cleared is not None:
            sentence += f"; {len(set(cleared.get('holders') or ()))} holder(s) again at the next reading, " \
                        f"{_s(cleared['t'] - last['t'])} s later"
        else:
            sentence += "; still more than one at the last reading"
        if len(episodes) > 1:
            sentence += f" ({len(episodes)} episodes in all)"
        details = {"role": role, "service": service, "holders": holders, "max_holders": limit,
                   "readings": n, "first_t": first["t"], "last_t": last["t"],
                   "at_least_s": round(last["t"] - first["t"], 3),
                   "cleared_t": None if cleared is None else cleared["t"],
                   "episodes": [{"first_t": rs[x]["t"], "last_t": rs[y]["t"], "readings": y - x + 1}
                                for x, y in episodes]}
        out.append(Finding(SPLIT_BRAIN, CRITICAL if n > 1 or len(episodes) > 1 else WARNING, sentence, name,
                           details))
    return out


# -- 4. writes the service holds although it never acknowledged them ------------------------------
def _held_writes(tl: Timeline, events: list[_Event]) -> tuple[list[Finding], list[Note]]:
    found: list[Finding] = []
    notes: list[Note] = []
    truths: dict[str, dict[str, Any]] = {}
    for r in tl.of("ground-truth"):
        truths[r.get("what", "writes")] = r          # the last reading of each wins, as in writes_lost
    if not truths:
        for outcome in ("fail", "unknown"):
            writes = tl.writes(outcome=outcome)
            if writes:
                kind = FAILED_HELD if outcome == "fail" else UNKNOWN_HELD
                told = "refused" if outcome == "fail" else "of unknown outcome"
                notes.append(Note(kind, "writes", f"{len(writes)} writes {told} not looked up — the stack's "
                                                  f"data was not read back (no ground-truth record)"))
    for what, truth in sorted(truths.items()):
        book = ledger_of(tl, what)
        held = set(map(str, truth.get("ids") or ()))
        read_at = truth["t"]
        acked = {str(r["id"]) for r in tl.writes(ledger=book, outcome="ok") if r.get("id") is not None}
        for outcome, kind, severity in (("fail", FAILED_HELD, CRITICAL), ("unknown", UNKNOWN_HELD, INFO)):
            writes = [r for r in tl.writes(ledger=book, outcome=outcome) if r["t"] <= read_at]
            if not writes:
                continue
            with_id = [r for r in writes if r.get("id") is not None]
            retried = [r for r in with_id if str(r["id"]) in acked]    # acknowledged on a retry: not this
            landed = [r for r in with_id if str(r["id"]) in held and str(r["id"]) not in acked]
            if not landed:
                continue
            first, last = min(r["t"] for r in landed), max(r["t"] for r in landed)
            w = fault_in_play(tl, first)
            told = "refused" if outcome == "fail" else "of unknown outcome"
            why = ("the service refused them and committed them anyway" if outcome == "fail"
                   else "committed although the writers were never told")
            truth_words = "" if what == book else f" (ground truth {what})"
            given_up = "refused" if outcome == "fail" else "given up"     # a write record's t: when it ended
            sentence = (f"{book}: {len(landed)} of {len(writes)} writes {told} are held by the stack"
                        f"{truth_words} — {why}; {given_up} ")
            sentence += _when(first, w) if first == last else _between(first, last, w)
            faults = drill_faults(tl)
            actions = [{"t": e.t, "label": e.label, "held_after": sum(1 for r in landed if r["t"] >= e.t)}
                       for e in events if e.recovery and faults and e.t > faults[0].start]
            no_id = len(writes) - len(with_id)
            if no_id:
                sentence += f"; {no_id} without id not looked up"
            details = {"ledger": book, "ground_truth": what, "outcome": outcome, "writes": len(writes),
                       "held": len(landed), "without_id": no_id, "acknowledged_on_retry": len(retried),
                       "first_t": first, "last_t": last, "ids": [str(r["id"]) for r in landed][:50],
                       "recovery_actions": actions}
            found.append(Finding(kind, severity, sentence, book, details))
    return found, notes


# -- the whole examination -------------------------------------------------------------------------
def examine(source: TimelineLike, *, verdicts: Iterable[Verdict | dict[str, Any]] | None = None) -> Examination:
    """Every finding of a drill's timeline (a `Timeline`, a JSON-lines path or records), what could
    not be judged, and what a verdict already judged. ``verdicts``: the drill's verdicts (default:
    the ``verdict`` records on the timeline)."""
    tl = _timeline(source)
    rows = _verdict_rows(tl, verdicts)
    events = _events(tl)
    point = _recovery_point(tl, events)
    out: list[Finding] = []
    unmeasured: list[Note] = []
    suppressed: list[Note] = []
    for population in tl.populations():
        probes = tl.probes(population)
        not_back, after_heal = _recovery_judged(rows, population)
        never, note = _never_again(tl, population, probes, events)
        if note:
            unmeasured.append(note)
        if never is not None and not_back:
            suppressed.append(Note(NEVER_AGAIN, population, never.sentence, by="recovery_time"))
        elif never is not None:
            out.append(never)
        if never is not None:
            suppressed.append(Note(DEGRADED, population, "it never worked again: the stronger finding",
                                   by=NEVER_AGAIN))
            continue
        degraded, note = _degraded(tl, population, probes, point)
        if degraded is not None and after_heal:
            suppressed.append(Note(DEGRADED, population, degraded.sentence, by="recovery_time"))
        elif degraded is not None:
            out.append(degraded)
        elif note and not after_heal:
            unmeasured.append(note)
    out.extend(_split_brain(tl))
    held, notes = _held_writes(tl, events)
    out.extend(held)
    unmeasured.extend(notes)
    out.sort(key=lambda f: (SEVERITIES.index(f.severity), list(KINDS).index(f.kind), f.subject))
    return Examination(out, unmeasured, suppressed)


def findings(source: TimelineLike, *, verdicts: Iterable[Verdict | dict[str, Any]] | None = None) -> list[Finding]:
    """The findings of :func:`examine`, the worst first."""
    return examine(source, verdicts=verdicts).findings


def failing(found: Sequence[Finding], *, severities: Iterable[str] = (CRITICAL, WARNING),
            kinds: Iterable[str] | None = None) -> list[Finding]:
    """The findings that fail a drill which opted in: those of ``severities`` (default critical and
    warning; info never fails), narrowed to ``kinds`` when given."""
    sev, ks = set(severities), None if kinds is None else set(kinds)
    return [f for f in found if f.severity in sev and (ks is None or f.kind in ks)]


def to_verdict(finding: Finding) -> Verdict:
    """A finding that fails its drill, as the failed verdict every channel already shows
    (key ``findings``)."""
    return Verdict(f"finding: {finding.kind}", FAIL, finding.sentence,
                   details={"finding": finding.kind, "severity": finding.severity, **finding.details},
                   kind="findings")

"""Execute a validated scenario on a `Drill`: steady (+ gates) → inject → observe → recover → verify.

The fault schedule runs on a small scheduler thread (inject at ``at``, heal after ``for``); heals run
on their own threads so a slow heal (waiting for health) never delays the next injection. Guards are
watched on the main thread; one that trips is noted on the timeline, stops the schedule, heals
everything and fails the drill with its sentence. Every fault is healed in a ``finally`` — also on a
guard abort, an exception or Ctrl-C. Python drills and scenarios use the same blocks (Drill, faults
from the fault kinds, verdicts).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from drillkit import verdicts as V
from drillkit.drill import Drill
from drillkit.errors import DrillkitError
from drillkit.faults.base import Fault
from drillkit.scenario.schema import Guard, Occurrence, RunbookEntry, Scenario
from drillkit.stack.model import stack_of
from drillkit.stack.runbook import run_runbook, runbook_heal
from drillkit.verdicts import table as VR
from drillkit.verdicts.base import FAIL, Verdict

__all__ = ["run_scenario", "Schedule", "GUARD_POLL", "MIN_GUARD_REQUESTS"]

GUARD_POLL = 0.25          # seconds between guard evaluations
MIN_GUARD_REQUESTS = 5     # a guard judges a window only with at least this many requests


class Schedule:
    """The fault schedule of one scenario on its own thread; `stop_and_heal` always undoes it."""

    def __init__(self, scenario: Scenario, drill: Drill):
        self.scenario, self.drill = scenario, drill
        self.t0 = 0.0
        self.injections_done = threading.Event()
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[tuple[int, int], Fault] = {}      # injected, not yet healed (insertion = inject order)
        self._healers: list[threading.Thread] = []
        self._heal_errors: list[BaseException] = []
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._runbooks: list[threading.Thread] = []
        self.runbook_errors: list[BaseException] = []
        self.cancel_runbooks = threading.Event()   # set when the drill aborts: waits in runbooks end

    def start(self) -> "Schedule":
        self.t0 = self.drill.timeline.now()
        self._thread = threading.Thread(target=self._run, name="dk-scenario-schedule", daemon=True)
        self._thread.start()
        return self

    def _events(self) -> list[tuple[float, int, str, Any]]:
        """(at, order, what, occurrence | runbook entry): at the same instant heals come first, then
        injections (by step, number), then runbooks."""
        keyed: list[tuple[tuple, tuple[float, int, str, Any]]] = []
        for o in self.scenario.occurrences():
            keyed.append(((o.start, 1, o.step.index, o.number), (o.start, 1, "inject", o)))
            if o.end is not None:
                keyed.append(((o.end, 0, o.step.index, o.number), (o.end, 0, "heal", o)))
        for e in self.scenario.runbook:
            if e.at is not None:
                keyed.append(((e.at, 2, e.index, 0), (e.at, 2, "runbook", e)))
        return [ev for _, ev in sorted(keyed, key=lambda k: k[0])]

    def _run(self) -> None:
        tl = self.drill.timeline
        injections = sum(1 for e in self._events() if e[2] == "inject")
        done = 0
        try:
            for at, _, what, occ in self._events():
                delay = self.t0 + at - tl.now()
                if delay > 0 and self._stop.wait(delay):
                    return
                if self._stop.is_set():
                    return
                if what == "inject":
                    self._inject(occ)
                    done += 1
                    for e in self.scenario.runbook:
                        if e.after == occ.step.index:
                            self._runbook_async(e)
                    if done == injections:
                        self.injections_done.set()
                elif what == "runbook":
                    self._runbook_async(occ)
                else:
                    self._heal_async(occ)
        except BaseException as exc:  # reported to the main thread, which heals and raises it
            self.failure = exc
        finally:
            self.injections_done.set()

    def _inject(self, occ: Occurrence) -> None:
        step = self.scenario.faults[occ.step.index]
        heal: Any = step.heal
        if not isinstance(heal, str):              # a runbook (YAML heal: <name> | [steps])
            heal = runbook_heal(step.heal, cancel=self.cancel_runbooks, progress=self.drill.progress)
        fault = step.fault.renewed(heal=heal)      # built and checked once, by validation
        if not isinstance(heal, str):
            heal.fault = fault                     # steps that name no target act on the fault's nodes
        with self._lock:
            if self._stop.is_set():
                return
            self._active[(occ.step.index, occ.number)] = fault
        self.drill.inject(fault)

    def _heal(self, occ: Occurrence) -> None:
        with self._lock:
            fault = self._active.pop((occ.step.index, occ.number), None)
        if fault is None:
            return
        try:
            self.drill.heal(fault)
        except BaseException as exc:  # every heal is tried; the first failure is raised later
            self._heal_errors.append(exc)

    def _heal_async(self, occ: Occurrence) -> None:
        th = threading.Thread(target=self._heal, args=(occ,), name=f"dk-heal-{occ.step.kind}", daemon=True)
        self._healers.append(th)
        th.start()

    def _run_runbook(self, entry: RunbookEntry) -> None:
        try:
            run_runbook(self.drill.env, self.drill.timeline, entry.runbook, cancel=self.cancel_runbooks,
                        progress=self.drill.progress)
        except BaseException as exc:  # judged at verify: the drill fails with the runbook's sentence
            self.runbook_errors.append(exc)

    def _runbook_async(self, entry: RunbookEntry) -> None:
        th = threading.Thread(target=self._run_runbook, args=(entry,), name=f"dk-runbook-{entry.index}",
                              daemon=True)
        self._runbooks.append(th)
        th.start()

    def stop_and_heal(self, *, raise_errors: bool = True) -> None:
        """Stop injecting, wait for running runbooks and heals, heal whatever is still active (newest
        first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for th in list(self._runbooks):
            th.join()
        for th in list(self._healers):
            th.join()
        with self._lock:
            left = list(self._active.items())
        for key, fault in reversed(left):
            with self._lock:
                if self._active.pop(key, None) is None:
                    continue
            try:
                self.drill.heal(fault)
            except BaseException as exc:
                self._heal_errors.append(exc)
        self._stopped = True
        if raise_errors and self._heal_errors:
            raise self._heal_errors[0]

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._active.values())


def _guard_tripped(drill: Drill, guards: tuple[Guard, ...], since: float) -> Verdict | None:
    tl = drill.timeline
    now = tl.now()
    for g in guards:
        if now - since < g.window:
            continue
        probes = tl.probes(g.population, since=now - g.window, until=now)
        if len(probes) < MIN_GUARD_REQUESTS:
            continue
        ratio = sum(1 for r in probes if r["ok"]) / len(probes)
        if ratio < g.availability_below:
            return Verdict("guard", FAIL,
                           f"guard tripped at {now - since:.1f} s into the schedule: {g.population} "
                           f"availability {ratio:.0%} over the last {g.window:g} s (below "
                           f"{g.availability_below:.0%}); schedule stopped, all faults healed",
                           value=round(ratio, 4), unit="ratio", target=f"≥ {g.availability_below:.0%}",
                           details={"guard": g.describe(), "at": round(now, 3), "requests": len(probes)})
    return None


def _watch(drill: Drill, schedule: Schedule, *, until: float | None, event: threading.Event | None = None
           ) -> Verdict | None:
    """Wait until ``until`` (timeline seconds) or ``event``, evaluating guards; raise a schedule failure."""
    sc = schedule.scenario
    tl = drill.timeline
    while True:
        if schedule.failure is not None:
            raise schedule.failure
        if sc.guards:
            tripped = _guard_tripped(drill, sc.guards, schedule.t0)
            if tripped is not None:
                return tripped
        if event is not None and event.is_set():
            if schedule.failure is not None:
                raise schedule.failure
            return None
        remaining = (until - tl.now()) if until is not None else GUARD_POLL
        if until is not None and remaining <= 0:
            return None
        step = min(remaining, GUARD_POLL) if sc.guards or event is not None else remaining
        if event is not None:
            event.wait(step)
        else:
            drill.wait(step)


def _start_loads(sc: Scenario, drill: Drill, schedule: Schedule) -> threading.Thread | None:
    """The scenario's loads, one after another, on their own thread from the start of inject."""
    if not sc.load:
        return None

    def run() -> None:
        for spec in sc.load:
            if schedule.cancel_runbooks.is_set():
                return
            drill.load(spec, wait=True)

    th = threading.Thread(target=run, name="dk-scenario-load", daemon=True)
    th.start()
    return th


def _end_loads(drill: Drill, loads: threading.Thread | None, schedule: Schedule) -> None:
    """A guard that tripped stops the loads at once; otherwise they have run out: wait for the last
    answers (bounded by each load's timeout)."""
    if loads is None:
        return
    if schedule.cancel_runbooks.is_set():
        for g in drill.loads:
            g.stop()
    loads.join(timeout=max((g.timeout for g in drill.loads), default=2.0) * 4 + 15)


def _expectation_verdicts(sc: Scenario, drill: Drill, since: float, until: float) -> list[Verdict]:
    """The verdicts of ``expect``, each computed by its table entry, in file order. The stack's data
    is read back once, before the first verdict that compares with it — after the scenario's
    ``settle`` (once, before the first read)."""
    tl = drill.timeline
    out: list[Verdict] = []
    window = VR.Window(since=since, until=until)
    read: set[str] = set()
    for e in sc.expect.items:
        kind = VR.VERDICTS[e.key]
        if kind.reads_ground_truth:
            name = e.params.get("ground_truth") or kind.reads_ground_truth
            if not read and sc.settle is not None:
                drill.settle(sc.settle.time, until=sc.settle.until)
            if name not in read:   # the stack's data is read back once per name, before the first verdict
                drill.ground_truth(name)
                read.add(name)
            window = VR.Window(since=since, until=until, ground_truth=name)
        out.extend(VR.compute(kind, tl, e.params, window))
    return out


def _readings(sc: Scenario, drill: Drill, moment: str) -> None:
    """What verdicts read from the stack at ``moment`` (``before``: the end of the steady state,
    before the first fault; ``after``: once every fault is injected, at the start of observe — the
    change in place), recorded on the timeline (e.g. config_parity's settings)."""
    for e in sc.expect.items:
        kind = VR.VERDICTS[e.key]
        if kind.readings is not None:
            kind.readings(drill, e.params, moment)


def _prepare_faults(sc: Scenario, drill: Drill) -> None:
    """What a fault needs before the drill starts (a rolling upgrade's image built): done before the
    steady state, so the schedule's times hold."""
    for step in sc.faults:
        if hasattr(step.fault, "prepare"):
            step.fault.prepare(drill.env)


def _runbook_verdict(exc: BaseException) -> Verdict:
    """A failed runbook fails the drill with its one sentence (the recovery procedure did not work)."""
    sentence = exc.message if isinstance(exc, DrillkitError) else f"runbook failed: {type(exc).__name__}: {exc}"
    return Verdict("runbook", FAIL, sentence, details={"runbook": getattr(exc, "runbook", ""),
                                                        "step": getattr(exc, "step", "")})


def run_scenario(scenario: Scenario, drill: Drill) -> list[Verdict]:
    """Run every phase; raise `DrillFailed` with every failed verdict (a tripped guard first)."""
    sc, tl = scenario, drill.timeline
    tl.note(f"scenario: {sc.title} ({sc.file})")
    drill.readers.update(sc.ground_truth)
    _prepare_faults(sc, drill)
    with drill.phase("steady"):
        start = tl.now()
        for t in sc.traffic:      # users and clients, as the environment (data or plug-in) defines them
            (drill.users if t.section == "users" else drill.clients)(t.kind, t.count, name=t.name)
        if sc.probe is not None:
            drill.probe(**sc.probe)
        drill.wait(sc.steady_duration)
        if sc.steady_availability:
            drill.check(*[V.availability(tl, population=p, minimum=m, since=start, label="steady state")
                          for p, m in sc.steady_availability.items()])
        if sc.gates:              # what must hold before the first fault; else not judged, nothing faulted
            drill.gate(*sc.gates)
        _readings(sc, drill, "before")

    schedule = Schedule(sc, drill)
    tripped: Verdict | None = None
    ok = False
    loads: threading.Thread | None = None
    try:
        with drill.phase("inject"):
            if stack_of(drill.env).roles and sc.faults:   # who holds each role, for the split-brain finding
                drill.watch_roles()
            schedule.start()
            loads = _start_loads(sc, drill, schedule)
            if sc.search is not None:
                drill.search(sc.search, cancel=schedule.cancel_runbooks)
            tripped = _watch(drill, schedule, until=None, event=schedule.injections_done)
        if tripped is None:
            with drill.phase("observe"):
                # observe counts from the last injection made: a change fault (a rolling upgrade, a
                # cutover) is made when its last step is done, not when it began
                until = max(schedule.t0 + sc.schedule_end, tl.now() + sc.observe)
                _readings(sc, drill, "after")       # every fault injected: the change is in place
                tripped = _watch(drill, schedule, until=until)
        if tripped is not None:
            tl.note(tripped.sentence)
            drill.progress(tripped.sentence)
            schedule.cancel_runbooks.set()
        with drill.phase("recover"):
            _end_loads(drill, loads, schedule)
            schedule.stop_and_heal()
            drill.wait(sc.recover)
        ok = True
    finally:
        if not ok:  # exception or Ctrl-C in flight: heal everything, keep the original error
            schedule.cancel_runbooks.set()
            for g in drill.loads:
                g.stop()
            try:
                schedule.stop_and_heal(raise_errors=False)
            except BaseException as exc:  # pragma: no cover - a second Ctrl-C while healing
                sys.stderr.write(f"drillkit: healing after an error was interrupted: {exc!r}\n")
    until = tl.now()

    with drill.phase("verify"):
        drill.stop_traffic()
        verdicts = ([tripped] if tripped is not None else []) + \
            [_runbook_verdict(exc) for exc in schedule.runbook_errors] + \
            _expectation_verdicts(sc, drill, schedule.t0, until)
        drill.findings(verdicts)                         # what nobody asked about, said in every channel
        return drill.check(*verdicts, *drill.finding_verdicts(sc.findings, verdicts))

"""One drill: phases on the timeline (and as Allure steps), users and probes, faults that always
heal, and verdicts that fail the drill with sentences a manager can read — and the one lifecycle
every door runs a drill through:

    environment_for(stack, ...)   the stack's environment up (or a `drill up` run attached), always
                                  removed again by whoever brought it up
    drill_run(env, name=...)      a Drill from its first timeline record to its result: whatever
                                  ends the body (a verdict, an error, Ctrl-C), traffic stops, every
                                  fault heals, the record closes, the report is attached and
                                  ``drill.result`` says how it ended (`outcome_of`)

The pytest plugin, `drill capacity` and `drill explore` use both; nothing else sets up a drill.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

from drillkit.clients.pool import ClientPool
from drillkit.errors import DrillInterrupted, DrillkitError, SteadyStateNotMet, one_line
from drillkit.faults.base import Fault
from drillkit.lab.attach import attach as attach_run
from drillkit.lab.environment import Environment
from drillkit.load.actions import kind_names, known_kinds, resolve_actions
from drillkit.load.generator import OpenLoop
from drillkit.load.search import SearchSpec, run_search
from drillkit.load.spec import LoadSpec, parse_load, parse_search
from drillkit.report.pipeline import attach_drill
from drillkit.report.summary import DrillResult
from drillkit.stack.config import snapshot
from drillkit.stack.gate import Gate, gate_of, open_gates
from drillkit.stack.kinds import pool_for
from drillkit.stack.model import Stack, stack_of
from drillkit.stack.roles import RoleLocator, resolve_role, role_nodes
from drillkit.stack.runbook import NotYet, Runbook, run_runbook, runbook_heal, wait_until
from drillkit.stack.truth import read_ground_truth, record
from drillkit.timeline import Timeline
from drillkit.traffic.probe import Probe
from drillkit.verdicts.base import FAIL, Verdict
from drillkit.verdicts.findings import CRITICAL, WARNING, Examination, Finding, examine, failing
from drillkit.verdicts.findings import to_verdict as finding_verdict

__all__ = ["Drill", "DrillFailed", "drill_run", "environment_for", "outcome_of", "timeline_file", "RoleWatch",
           "findings_policy"]

PHASE_TITLES = {"steady": "steady state", "inject": "inject", "observe": "observe",
                "recover": "recover", "verify": "verify"}


class DrillFailed(AssertionError):
    """The stack did not keep its promises: one line per failed verdict, prefixed 'drill failed:'."""

    def __init__(self, failed: list[Verdict]):
        self.verdicts = failed
        super().__init__("drill failed: " + "; ".join(v.sentence for v in failed))


class Drill:
    def __init__(self, env: Environment, timeline: Timeline, *, probe_interval: float = 0.05,
                 progress: Callable[[str], None] | None = None, allure_steps: bool = True):
        self.env, self.timeline = env, timeline
        self.probe_interval = probe_interval
        self.progress = progress or (lambda m: None)
        self.allure_steps = allure_steps
        self.faults: list[Fault] = []
        self.pools: list[Any] = []            # drillkit.clients.ClientPool
        self.probes: list[Probe] = []
        self.verdicts: list[Verdict] = []
        self.faulted_services: list[str] = []
        self.readers: dict[str, Any] = {}     # ground-truth readers beyond the environment's (a scenario's)
        self.loads: list[Any] = []            # open-loop loads (drillkit.load.OpenLoop), stopped with the traffic
        self.meta: dict[str, Any] = {}        # stack, fault, scenario, source, nodeid: for its report
        self.reported = False                 # the report pipeline has attached its chart and verdicts
        self.result: DrillResult | None = None   # how it ended (set by drill_run)
        self.traffic_stopped: float | None = None  # timeline time the traffic had stopped (stop_traffic)
        self.phase_name = ""                  # the phase now (steady, inject, observe, recover, verify)
        self.examination: Examination | None = None   # what the timeline shows unasked (findings)
        self._role_watch: RoleWatch | None = None
        self._finished = False

    # -- phases ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.phase_name = name
        self.timeline.phase(name, "start")
        self.progress(f"phase: {PHASE_TITLES.get(name, name)}")
        step = contextlib.nullcontext()
        if self.allure_steps:
            try:
                import allure  # deferred: allure-pytest's module, only needed inside a test run
                step = allure.step(PHASE_TITLES.get(name, name))
            except ImportError:
                pass
        try:
            with step:
                yield
        finally:
            self.timeline.phase(name, "end")

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    # -- traffic ---------------------------------------------------------------------------------
    def users(self, kind: Any, count: int | None = None, *, require_all: bool = True,
              wait_ready: float = 60.0, **opts: Any) -> Any:
        """Start synthetic users; they are stopped with the drill's traffic.

        ``kind``: the name of a user kind the environment offers (``x-drillkit.users``, or its stack
        plug-in's code), a :class:`~drillkit.clients.UserKind` or :class:`~drillkit.clients.CodeKind`,
        a :class:`~drillkit.clients.Client` subclass or a factory ``f(i) -> Client`` — or a
        :class:`~drillkit.clients.ClientPool` made by the caller (not started yet).
        ``opts``: ``think``, ``seed``, ``max_duration``, ``name``, and ``timeout``/``first`` for a
        kind. Returns the pool once every user is ready (logged in), or raises: the steady state does
        not hold.
        """
        if isinstance(kind, ClientPool):
            pool = kind
        else:
            pool = pool_for(kind, count, timeline=self.timeline, env=self.env, section="users", **opts)
        self.pools.append(pool)
        pool.start(wait_ready=wait_ready)
        total, ready = len(pool.clients), pool.ready
        if require_all and ready < total:
            hint = ""
            errors = getattr(pool, "open_errors", None)
            if errors:
                hint = f" (first error: {next(iter(errors.values()))})"
            raise self._before_any_fault(f"only {ready} of {total} users could start before the drill{hint}",
                                         fix="the steady state does not hold: look at the entry point's logs")
        return pool

    def clients(self, kind: Any, count: int | None = None, *, require_all: bool = True,
                wait_ready: float = 60.0, **opts: Any) -> Any:
        """Start protocol clients (``x-drillkit.clients`` by name, a ClientSpec, a Client subclass or
        a factory); like :meth:`users`, stopped with the drill's traffic."""
        pool = pool_for(kind, count, timeline=self.timeline, env=self.env, section="clients", **opts)
        self.pools.append(pool)
        pool.start(wait_ready=wait_ready)
        if require_all and pool.ready < len(pool.clients):
            errors = pool.open_errors
            hint = f" (first error: {next(iter(errors.values()))})" if errors else ""
            raise self._before_any_fault(f"only {pool.ready} of {len(pool.clients)} {pool.name} clients could "
                                         f"open{hint}",
                                         fix="the steady state does not hold: is the service up and reachable?")
        return pool

    def load(self, shape: Any, actions: Any = None, *, label: str | None = None, wait: bool = True,
             **opts: Any):
        """Open-loop load (`drillkit.load`): arrivals at ``shape``'s rate, each one iteration of an
        action — a user kind or client of the environment by name (``"citizens"``, ``["a", "b"]``,
        ``{"a": 3, "b": 1}``) or a kind/Client class/factory. ``shape``: a `drillkit.traffic.shapes`
        shape, a dict as in a scenario's ``load:`` (``{"shape": "spike", "rate": 10, "factor": 4, ...}``,
        actions may be in it), or a `drillkit.load.LoadSpec`. ``opts``: ``population`` (default
        ``load``), ``concurrency``, ``timeout``, ``max_arrivals``, ``seed``, ``arrivals``, ``base``.
        ``wait``: block until the shape has run out (else it runs in the background; stopped with the
        drill's traffic). Returns the `drillkit.load.OpenLoop`; judge it with the load verdicts."""
        spec = shape
        if isinstance(shape, dict):
            raw = dict(shape)
            if label is not None:
                raw["label"] = label
            spec = parse_load(raw, None, "load", known=known_kinds(self.env.spec), actions_required=actions is None)
        if isinstance(spec, LoadSpec):
            actions = actions if actions is not None else spec.actions
            opts = {"population": spec.population, "concurrency": spec.concurrency, "timeout": spec.timeout,
                    "max_arrivals": spec.max_arrivals, "seed": spec.seed, "arrivals": spec.arrivals,
                    "base": spec.base, "describe": spec.describe(), **opts}
            label = label or spec.label
            shape = spec.shape
        if actions is None:
            raise DrillkitError("drill.load needs actions: what each arrival does",
                                fix="pass actions='a user kind of x-drillkit.users' (or a Client factory)")
        acts = resolve_actions(actions, self.env.spec, timeout=opts.get("timeout"))
        opts.setdefault("population", "load")
        opts.setdefault("roles", RoleLocator(self.env))     # clients that follow a role ask the stack where it is
        gen = OpenLoop(shape, acts, timeline=self.timeline, env=self.env, label=label or opts["population"], **opts)
        self.loads.append(gen)
        self.progress(f"load {gen.label}: {opts.get('describe') or type(shape).__name__}")
        if wait:
            gen.run()
        else:
            gen.start()
        return gen

    def search(self, spec: Any, *, cancel: Any = None):
        """The breaking point (`drillkit.load.search`): constant loads of today's rate × each factor
        until the SLO breaks, then bisection; writes a ``search`` record for the ``breaking_point``
        verdict. ``spec``: a `SearchSpec` or a dict as in a scenario's ``search:``. Returns the result."""
        if not isinstance(spec, SearchSpec):
            spec = parse_search(spec, None, "search", known=known_kinds(self.env.spec), have=kind_names(self.env.spec))
        acts = resolve_actions(list(spec.actions), self.env.spec, timeout=spec.timeout)

        def make(shape, label):
            gen = OpenLoop(shape, acts, timeline=self.timeline, env=self.env, label=label,
                           population=spec.population, concurrency=spec.concurrency, timeout=spec.timeout,
                           seed=spec.seed, base=spec.base, describe=f"constant {shape.value:g}/s",
                           roles=RoleLocator(self.env))
            self.loads.append(gen)
            return gen
        return run_search(spec, make, self.timeline, progress=self.progress, cancel=cancel)

    def probe(self, path: str = "/version", **kw: Any) -> Probe:
        kw.setdefault("interval", self.probe_interval)
        p = Probe(self.env.url(), self.timeline, path=path, **kw).start()
        self.probes.append(p)
        return p

    # -- faults ----------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        heal = getattr(fault, "heal_mode", None)
        if hasattr(heal, "runbook") and hasattr(heal, "fault") and heal.fault is None:
            heal.fault = fault                 # a runbook heal: steps without a target act on its nodes
        self.faults.append(fault)
        self.progress(f"inject: {fault.describe()}")
        fault.inject(self.env, self.timeline)
        for n in fault.nodes:
            if n.service not in self.faulted_services:
                self.faulted_services.append(n.service)
        return fault

    def heal(self, fault: Fault) -> None:
        self.progress(f"heal: {fault.describe()}")
        fault.heal(self.env, self.timeline)

    def heal_all(self) -> list[Exception]:
        errors = []
        for f in reversed(self.faults):
            try:
                f.heal(self.env, self.timeline)
            except Exception as exc:  # every heal is tried; failures are reported together
                errors.append(exc)
        return errors

    # -- gates ----------------------------------------------------------------------------------------
    def gate(self, *gates: Any) -> list:
        """Wait, before the first fault, until each gate holds — a name of ``x-drillkit.gates``, a
        mapping with a ``wait_until``'s keys (``{"on": {"role": "replica"}, "redis": "INFO
        replication", "expect_output": "master_link_status:up", "deadline": "30s"}``) or a
        `drillkit.stack.gate.Gate` — in order, each until its deadline. One that does not hold raises
        `SteadyStateNotMet`: the drill is not judged (nothing was faulted). Returns how long each took."""
        if self.faults:
            raise DrillkitError("drill.gate after a fault was injected: a gate is what must hold before the first "
                                "fault", fix="call drill.gate(...) before drill.inject(...), or wait inside the "
                                             "drill with drill.runbook([{'wait_until': {...}}])")
        stack = stack_of(self.env)
        return open_gates(self.env, self.timeline, [gate_of(g, stack) for g in gates], progress=self.progress)

    # -- ground truth, runbooks, roles ------------------------------------------------------------
    def record_ground_truth(self, what: str, ids: list[str]) -> None:
        self.timeline.add("ground-truth", what=what, ids=[str(i) for i in ids])

    def settle(self, seconds: float = 0.0, *, until: Any = None, deadline: float | None = None,
               interval: float = 0.25) -> dict[str, Any]:
        """Let the stack settle before its data is read: stop the traffic (if it still runs), wait
        until ``seconds`` have passed since it stopped, then — with ``until`` — until a condition
        holds, at most ``deadline`` seconds. A store that acknowledges a write before it commits it
        (write-behind, an asynchronous replica read back) holds it only a moment later; read at once,
        the writes acknowledged last are "lost".

        ``until``: a ``wait_until`` step's attributes (``{"http": {"path": "/pending", "contains":
        '"pending": 0'}}``, ``{"on": "db", "command": "..."}``, ``{"role": "primary", "holders": 1}``;
        its own ``deadline``, default 60 s), a name of ``x-drillkit.gates``, a
        `drillkit.stack.gate.Gate`, or a function ``fn(env) -> bool`` polled every
        ``interval`` s (deadline default 60 s). A condition still false at its deadline does not stop
        the drill: the data is read as it is then, and ``writes_lost`` says the stack had not settled.

        Recorded as a ``settle`` record: ``traffic_stopped``, ``time`` (the seconds asked),
        ``until`` (the condition in words), ``met`` (true / false / null without a condition),
        ``waited`` (seconds from the traffic's stop to now), ``detail``. Returns the record."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise DrillkitError(f"settle: seconds must be a number ≥ 0, got {seconds!r}", fix="e.g. drill.settle(2.0)")
        tl = self.timeline
        self.stop_traffic()
        stopped = self.traffic_stopped if self.traffic_stopped is not None else tl.now()
        left = stopped + seconds - tl.now()
        if left > 0:
            self.progress(f"settle: {seconds:g} s after the traffic stopped")
            time.sleep(left)
        met: bool | None = None
        detail, words = "", None
        if until is not None:
            if callable(until) and not isinstance(until, Gate):
                words = getattr(until, "__name__", "a condition")
                met, detail = self._poll(until, 60.0 if deadline is None else deadline, interval)
            else:
                g = gate_of(until, stack_of(self.env))
                if deadline is not None:
                    g = replace(g, attrs={**g.attrs, "deadline": float(deadline)})
                words = g.describe()
                self.progress(f"settle: until {words}")
                try:
                    met, detail = True, wait_until(self.env, g.attrs)
                except NotYet as exc:
                    met, detail = False, str(exc)
        rec = tl.add("settle", traffic_stopped=round(stopped, 6), time=float(seconds), until=words, met=met,
                     waited=round(tl.now() - stopped, 3), detail=detail)
        if met is False:
            self.progress(f"settle: not settled, reading the data as it is: {detail}")
        return rec

    def _poll(self, fn: Callable[[Environment], Any], deadline: float, interval: float) -> tuple[bool, str]:
        end = time.monotonic() + deadline
        attempts = 0
        while True:
            attempts += 1
            if fn(self.env):
                return True, f"true after {attempts} attempt(s)"
            if time.monotonic() + interval > end:
                return False, f"still not true after {deadline:g} s ({attempts} attempts)"
            time.sleep(interval)

    def ground_truth(self, name: str = "writes", *, reader: Any = None, settle: float | None = None,
                     until: Any = None, deadline: float | None = None):
        """Read the ground truth ``name`` now (the environment's declared reader, a plug-in's, or this
        drill's ``readers``; ``reader`` overrides) and record it on the timeline. Returns the
        `drillkit.stack.truth.GroundTruth` (``.ids``, ``.columns``). ``settle`` / ``until`` /
        ``deadline``: first let the stack settle (:meth:`settle`)."""
        if settle is not None or until is not None:
            self.settle(settle or 0.0, until=until, deadline=deadline)
        gt = read_ground_truth(self.env, name, self.readers, reader=reader)
        record(self.timeline, gt)
        self.progress(f"ground truth {name}: {len(gt.ids)} ids ({gt.source}, {gt.seconds} s)")
        return gt

    def runbook(self, runbook: Any, *, fault: Fault | None = None):
        """Run a runbook now — a name of ``x-drillkit.runbooks``, a `drillkit.stack.runbook.Runbook`, or a
        list of steps — each step timed on the timeline. A failed step raises `RunbookFailed` (one
        sentence). ``fault``: its nodes are the target of steps that name none."""
        return run_runbook(self.env, self.timeline, self._runbook(runbook),
                           fault_nodes=list(fault.nodes) if fault else None, progress=self.progress)

    def runbook_heal(self, runbook: Any):
        """A fault's heal that runs a runbook instead of undoing the fault:
        ``drill.inject(Kill(Target("db"), heal=drill.runbook_heal("promote-replica")))`` — the old
        primary is never started again; the runbook's steps are timed on the timeline when the fault
        is healed, and steps that name no target act on the fault's nodes. ``runbook`` as for
        :meth:`runbook`."""
        return runbook_heal(self._runbook(runbook), progress=self.progress)

    def _runbook(self, runbook: Any):
        if isinstance(runbook, str):
            books = stack_of(self.env).runbooks
            if runbook not in books:
                raise DrillkitError(f"environment {self.env.spec.name!r} has no runbook {runbook!r}",
                                    fix=f"declare it under x-drillkit.runbooks (have: {', '.join(books) or 'none'})")
            return books[runbook]
        if not isinstance(runbook, Runbook):
            return Runbook("steps", tuple(runbook))
        return runbook

    def config_snapshot(self, services: list[str] | tuple[str, ...], *, moment: str = "before",
                        settings: list[str] | tuple[str, ...] | None = None):
        """Read the declared settings (``x-drillkit.config``) inside every running node of
        ``services`` now, with testinfra, and record them on the timeline as ``moment`` — what
        `drillkit.verdicts.config_parity` compares. Returns the readings."""
        readings = snapshot(self.env, self.timeline, services, moment=moment, names=settings)
        self.progress(f"config read ({moment}): " + ", ".join(
            f"{r.node} {len(r.values)} settings" + (f", {len(r.errors)} unreadable" if r.errors else "")
            for r in readings))
        return readings

    def role(self, name: str, service: str | None = None):
        """The node holding role ``name`` now (`drillkit.stack.roles.resolve_role`)."""
        return resolve_role(self.env, name, service)

    def role_nodes(self, name: str, service: str | None = None) -> list:
        """Every node holding role ``name`` now (`drillkit.stack.roles.role_nodes`): after a failover
        drill exactly one should hold ``primary`` — two is split brain."""
        return role_nodes(self.env, name, service)

    # -- verdicts ----------------------------------------------------------------------------------

    def check(self, *verdicts: Verdict) -> list[Verdict]:
        """Record verdicts on the timeline; raise DrillFailed naming every failed one — or, in the
        steady phase before any fault, `SteadyStateNotMet`: the drill is not judged, since nothing
        was tried yet (a defect is only what a fault brought out)."""
        for v in verdicts:
            self.verdicts.append(v)
            self.timeline.add("verdict", name=v.name, key=v.kind, status=v.status, sentence=v.sentence,
                              value=v.value, unit=v.unit, target=v.target, details=v.details)
            self.progress(f"verdict: [{v.status}] {v.sentence}")
        failed = [v for v in verdicts if v.status == FAIL]
        if failed and self.phase_name == "steady" and not self.faults:
            raise SteadyStateNotMet("; ".join(v.sentence for v in failed), sentences=[v.sentence for v in failed])
        if failed:
            raise DrillFailed(failed)
        return list(verdicts)

    # -- what nobody asked about ---------------------------------------------------------------------
    def findings(self, verdicts: list[Verdict] | None = None) -> Examination:
        """What the timeline shows that no verdict asked about (`drillkit.verdicts.findings`): a
        population that never worked again, degraded after recovery, two holders of a role,
        unacknowledged writes the stack holds. Examined once traffic has stopped, recorded as
        ``finding`` records and said as progress; never changes the outcome by itself."""
        if self.examination is None:
            self.stop_traffic()
            self.examination = examine(self.timeline, verdicts=[*self.verdicts, *(verdicts or [])])
            for f in self.examination.findings:
                self.timeline.add("finding", finding=f.kind, severity=f.severity, sentence=f.sentence,
                                  subject=f.subject, details=f.details)
                self.progress(f"finding: [{f.severity}] {f.sentence}")
        return self.examination

    def finding_verdicts(self, fail: Any = "fail", verdicts: list[Verdict] | None = None) -> list[Verdict]:
        """The failed verdicts the findings make when the drill opted in (``fail`` as for
        `check_findings`); [] when none fails it."""
        severities, kinds = findings_policy(fail)
        if not severities:
            return []
        found = self.findings(verdicts).findings
        return [finding_verdict(f) for f in failing(found, severities=severities, kinds=kinds)]

    def check_findings(self, fail: Any = "fail") -> list[Finding]:
        """Opt in: findings fail the drill like verdicts (``fail``: "fail" or True — critical and
        warning findings; "critical"; a list of finding kinds; "report" or False — never). Returns
        the findings; raises `DrillFailed` with their sentences when they fail it."""
        found = self.findings().findings
        severities, kinds = findings_policy(fail)
        failed = failing(found, severities=severities, kinds=kinds) if severities else []
        if failed:
            self.check(*[finding_verdict(f) for f in failed])
        return found

    def watch_roles(self, every: float = 1.0, roles: Any = None) -> "RoleWatch":
        """Read every ``every`` s who holds each role of the stack (``x-drillkit.roles``; or
        ``roles``) as ``role-reading`` records, until the traffic stops: what the split-brain
        finding reads. Started by scenarios on stacks that declare roles."""
        if self._role_watch is None:
            names = list(roles or stack_of(self.env).roles)
            self._role_watch = RoleWatch(self, names, every).start()
        return self._role_watch

    def _before_any_fault(self, why: str, *, fix: str) -> DrillkitError:
        """A problem found before the first fault: the steady state did not hold (not judged)."""
        if not self.faults:
            self.timeline.note(f"not judged: {why}")
            return SteadyStateNotMet(why, fix=fix)
        return DrillkitError(why, fix=fix)

    def stop_traffic(self) -> None:
        """Stop every load, probe, user and role watch; ``traffic_stopped`` keeps when the first call returned
        (what :meth:`settle` counts from)."""
        if self._role_watch is not None:
            self._role_watch.stop()
        for g in self.loads:
            g.stop()
        for p in self.probes:
            p.stop()
        for pool in self.pools:
            pool.stop()
        if self.traffic_stopped is None:
            self.traffic_stopped = self.timeline.now()

    def finish(self) -> None:
        """Stop traffic, heal every fault (a failed heal fails the drill loudly), close the record."""
        if self._finished:
            return
        self._finished = True
        self.stop_traffic()
        errors = self.heal_all()
        self.timeline.close()
        if errors:
            raise errors[0]

    def probe_stats(self) -> dict[str, float]:
        return self.probes[0].achieved() if self.probes else {}

    @property
    def timeline_path(self) -> Path | None:
        return self.timeline.path


class RoleWatch:
    """Who holds each role, read every ``every`` s on a thread of its own (``role-reading`` records:
    role, holders, at most ``max_holders``); a reading that could not be made says why and decides
    nothing."""

    def __init__(self, drill: Drill, roles: list[str], every: float):
        self.drill, self.roles, self.every = drill, roles, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dk-role-watch", daemon=True)

    def start(self) -> "RoleWatch":
        if self.roles:
            self._thread.start()
        return self

    def _run(self) -> None:
        tl = self.drill.timeline
        while not self._stop.is_set():
            for role in self.roles:
                t = tl.now()
                errors: dict[str, str] = {}
                try:
                    holders = sorted(n.name for n in role_nodes(self.drill.env, role))
                except Exception as exc:   # noqa: BLE001 - a reading that failed decides nothing
                    holders, errors = [], {"*": one_line(f"{type(exc).__name__}: {exc}", 200)}
                max_holders = getattr(stack_of(self.drill.env).roles.get(role), "max_holders", 1)
                tl.add("role-reading", t=t, t_end=round(tl.now(), 6), role=role, holders=holders,
                       max_holders=max_holders, errors=errors)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def findings_policy(value: Any) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """What fails a drill that opted in to findings: (severities, kinds or None for every kind)."""
    if value in (False, None, "report"):
        return (), None
    if value in (True, "fail"):
        return (CRITICAL, WARNING), None
    if value == "critical":
        return (CRITICAL,), None
    if isinstance(value, (list, tuple)):
        return (CRITICAL, WARNING), tuple(str(v) for v in value)
    raise DrillkitError(f"findings: {value!r} is not report, fail, critical or a list of finding kinds",
                        fix="write findings: fail (critical and warning findings fail the drill)")


# -- the one lifecycle ------------------------------------------------------------------------------
def outcome_of(exc: BaseException | None) -> tuple[str, list[str]]:
    """How a drill ended, from what ended its body: ``passed`` (nothing), ``failed`` (a verdict
    failed: the stack has a defect), ``not-judged`` (its steady state did not hold before any fault),
    ``interrupted`` (Ctrl-C, SIGTERM), ``skipped``, or ``broken`` (the lab, a fixture or the drill's
    own code) — with the sentences a person reads (each failed verdict's, or the error in one line;
    never a traceback). The words are `drillkit.outcome.OUTCOMES`."""
    if exc is None:
        return "passed", []
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return "interrupted", [str(DrillInterrupted(str(exc) or "SIGINT"))]
    if isinstance(exc, DrillInterrupted):
        return "interrupted", [str(exc)]
    if isinstance(exc, SteadyStateNotMet):
        return "not-judged", [f"not judged: steady state not met — no fault injected: {s}" for s in exc.sentences]
    verdicts = getattr(exc, "verdicts", None)
    if isinstance(exc, DrillFailed) or (verdicts and str(exc).startswith("drill failed:")):
        return "failed", [getattr(v, "sentence", str(v)) for v in verdicts or []]
    if type(exc).__name__ in ("Skipped", "SkipTest"):
        return "skipped", [one_line(getattr(exc, "msg", "") or str(exc))]
    if isinstance(exc, DrillkitError):
        return "broken", [one_line(str(exc))]
    text = one_line(str(exc))
    return "broken", [f"{type(exc).__name__}: {text}" if text else type(exc).__name__]


def timeline_file(report_dir: str | Path, name: str) -> Path:
    """Where the timeline of the drill called ``name`` goes: ``<report_dir>/timelines/<name>.jsonl``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "drill"
    return Path(report_dir) / "timelines" / f"{safe}.jsonl"


@contextlib.contextmanager
def drill_run(env: Environment, *, name: str, report_dir: str | Path = "reports",
              meta: dict[str, Any] | None = None, probe_interval: float = 0.05,
              progress: Callable[[str], None] | None = None, allure_steps: bool = True,
              timeline: Path | None = None, report: bool = True) -> Iterator[Drill]:
    """A Drill on a running environment. Its timeline is written as it happens (``timeline``, or
    `timeline_file`); when the body ends — however — traffic stops, every fault heals (a failed heal
    fails the drill loudly), the record closes, the report pipeline attaches chart and verdicts, and
    ``drill.result`` holds the outcome, sentences and duration. ``report=False``: no chart and no
    attachments — the caller reports the runs it keeps (``drill explore`` runs dozens of trials and
    reports the failing ones)."""
    meta = dict(meta or {})
    path = timeline or timeline_file(report_dir, name)
    if path.exists():
        path.unlink()
    stack = stack_of(env)
    tl = Timeline(path, drill=name, run=env.run_id, environment=env.spec.name,
                  meta={"switches": env.spec.chosen, "stack": meta.get("stack") or stack.stack,
                        "backend": env.backend.name, "fault": meta.get("fault", "unspecified"),
                        "scenario": meta.get("scenario", name)})
    d = Drill(env, tl, probe_interval=probe_interval, progress=progress, allure_steps=allure_steps)
    d.meta = {"stack": stack.stack, "fault": "unspecified", "scenario": name, "source": "", "nodeid": name, **meta}
    started = time.monotonic()
    ended: BaseException | None = None
    try:
        yield d
    except BaseException as exc:
        ended = exc
        raise
    finally:
        try:
            if not isinstance(ended, (KeyboardInterrupt, SystemExit)):
                with contextlib.suppress(Exception):   # a finding must never hide the drill's result
                    d.findings()
            d.finish()
        except BaseException as exc:
            ended = ended or exc
            raise
        finally:
            if report:
                attach_drill(d, Path(report_dir))
            outcome, sentences = outcome_of(ended)
            d.result = DrillResult(name=d.meta["nodeid"], stack=d.meta["stack"], fault=d.meta["fault"],
                                   scenario=d.meta["scenario"], outcome=outcome, verdicts=list(d.verdicts),
                                   timeline_path=d.timeline_path, duration=time.monotonic() - started,
                                   sentences=sentences,
                                   findings=[f.as_dict() for f in d.examination.findings] if d.examination else None)


@contextlib.contextmanager
def environment_for(stack: Stack, *, attach: str | None = None, backend: str | None = None,
                    progress: Callable[[str], None] | None = None) -> Iterator[Environment]:
    """The stack's environment, up and healthy — or the running environment of ``attach`` (a `drill
    up` run: used as it is, never removed). What this brought up is removed at the end, also after
    an error, Ctrl-C or SIGTERM (turned into the same unwinding for the time it runs)."""
    if attach:
        yield attach_run(attach, spec=stack, progress=progress)
        return
    env = Environment(stack, progress=progress, backend=backend)
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None

    def on_term(signum, frame):   # a cancelled CI job: heal and remove the lab as on Ctrl-C
        raise KeyboardInterrupt("SIGTERM")

    if previous is not None:
        signal.signal(signal.SIGTERM, on_term)
    try:
        env.up()
        yield env
    finally:
        try:
            env.down()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

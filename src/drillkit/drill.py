"""One drill: phases on the timeline (and as Allure steps), users and probes, faults that always
heal, and verdicts that fail the drill with sentences a manager can read.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from drillkit.errors import DrillkitError
from drillkit.faults.base import Fault
from drillkit.lab.environment import Environment
from drillkit.timeline import Timeline
from drillkit.traffic.probe import Probe
from drillkit.verdicts.base import FAIL, Verdict

__all__ = ["Drill", "DrillFailed"]

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
        self._finished = False

    # -- phases ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.timeline.phase(name, "start")
        self.progress(f"phase: {PHASE_TITLES.get(name, name)}")
        step = contextlib.nullcontext()
        if self.allure_steps:
            try:
                import allure
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
        from drillkit.clients.pool import ClientPool
        if isinstance(kind, ClientPool):
            pool = kind
        else:
            from drillkit.clients.kinds import pool_for
            pool = pool_for(kind, count, timeline=self.timeline, env=self.env, section="users", **opts)
        self.pools.append(pool)
        pool.start(wait_ready=wait_ready)
        total, ready = len(pool.clients), pool.ready
        if require_all and ready < total:
            hint = ""
            errors = getattr(pool, "open_errors", None)
            if errors:
                hint = f" (first error: {next(iter(errors.values()))})"
            raise DrillkitError(f"only {ready} of {total} users could start before the drill{hint}",
                                fix="the steady state does not hold: look at the entry point's logs")
        return pool

    def clients(self, kind: Any, count: int | None = None, *, require_all: bool = True,
                wait_ready: float = 60.0, **opts: Any) -> Any:
        """Start protocol clients (``x-drillkit.clients`` by name, a ClientSpec, a Client subclass or
        a factory); like :meth:`users`, stopped with the drill's traffic."""
        from drillkit.clients.kinds import pool_for
        pool = pool_for(kind, count, timeline=self.timeline, env=self.env, section="clients", **opts)
        self.pools.append(pool)
        pool.start(wait_ready=wait_ready)
        if require_all and pool.ready < len(pool.clients):
            errors = pool.open_errors
            hint = f" (first error: {next(iter(errors.values()))})" if errors else ""
            raise DrillkitError(f"only {pool.ready} of {len(pool.clients)} {pool.name} clients could open{hint}",
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
        from drillkit.load.actions import known_kinds, resolve_actions
        from drillkit.load.generator import OpenLoop
        from drillkit.load.spec import LoadSpec, parse_load
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
        from drillkit.load.actions import kind_names, known_kinds, resolve_actions
        from drillkit.load.generator import OpenLoop
        from drillkit.load.search import SearchSpec, run_search
        from drillkit.load.spec import parse_search
        if not isinstance(spec, SearchSpec):
            spec = parse_search(spec, None, "search", known=known_kinds(self.env.spec), have=kind_names(self.env.spec))
        acts = resolve_actions(list(spec.actions), self.env.spec, timeout=spec.timeout)

        def make(shape, label):
            gen = OpenLoop(shape, acts, timeline=self.timeline, env=self.env, label=label,
                           population=spec.population, concurrency=spec.concurrency, timeout=spec.timeout,
                           seed=spec.seed, base=spec.base, describe=f"constant {shape.value:g}/s")
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

    # -- ground truth, runbooks, roles ------------------------------------------------------------
    def record_ground_truth(self, what: str, ids: list[str]) -> None:
        self.timeline.add("ground-truth", what=what, ids=[str(i) for i in ids])

    def ground_truth(self, name: str = "writes", *, reader: Any = None):
        """Read the ground truth ``name`` now (the environment's declared reader, a plug-in's, or this
        drill's ``readers``; ``reader`` overrides) and record it on the timeline. Returns the
        `drillkit.truth.GroundTruth` (``.ids``, ``.columns``)."""
        from drillkit.truth import read_ground_truth, record
        gt = read_ground_truth(self.env, name, self.readers, reader=reader)
        record(self.timeline, gt)
        self.progress(f"ground truth {name}: {len(gt.ids)} ids ({gt.source}, {gt.seconds} s)")
        return gt

    def runbook(self, runbook: Any, *, fault: Fault | None = None):
        """Run a runbook now — a name of ``x-drillkit.runbooks``, a `drillkit.runbook.Runbook`, or a
        list of steps — each step timed on the timeline. A failed step raises `RunbookFailed` (one
        sentence). ``fault``: its nodes are the target of steps that name none."""
        from drillkit.runbook import run_runbook
        return run_runbook(self.env, self.timeline, self._runbook(runbook),
                           fault_nodes=list(fault.nodes) if fault else None, progress=self.progress)

    def runbook_heal(self, runbook: Any):
        """A fault's heal that runs a runbook instead of undoing the fault:
        ``drill.inject(Kill(Target("db"), heal=drill.runbook_heal("promote-replica")))`` — the old
        primary is never started again; the runbook's steps are timed on the timeline when the fault
        is healed, and steps that name no target act on the fault's nodes. ``runbook`` as for
        :meth:`runbook`."""
        from drillkit.runbook import runbook_heal
        return runbook_heal(self._runbook(runbook), progress=self.progress)

    def _runbook(self, runbook: Any):
        from drillkit.runbook import Runbook
        if isinstance(runbook, str):
            books = self.env.spec.runbooks
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
        from drillkit.effective_config import snapshot
        readings = snapshot(self.env, self.timeline, services, moment=moment, names=settings)
        self.progress(f"config read ({moment}): " + ", ".join(
            f"{r.node} {len(r.values)} settings" + (f", {len(r.errors)} unreadable" if r.errors else "")
            for r in readings))
        return readings

    def role(self, name: str, service: str | None = None):
        """The node holding role ``name`` now (`drillkit.roles.resolve_role`)."""
        from drillkit.roles import resolve_role
        return resolve_role(self.env, name, service)

    def role_nodes(self, name: str, service: str | None = None) -> list:
        """Every node holding role ``name`` now (`drillkit.roles.role_nodes`): after a failover
        drill exactly one should hold ``primary`` — two is split brain."""
        from drillkit.roles import role_nodes
        return role_nodes(self.env, name, service)

    # -- verdicts ----------------------------------------------------------------------------------

    def check(self, *verdicts: Verdict) -> list[Verdict]:
        """Record verdicts on the timeline; raise DrillFailed naming every failed one."""
        for v in verdicts:
            self.verdicts.append(v)
            self.timeline.add("verdict", name=v.name, key=v.kind, status=v.status, sentence=v.sentence,
                              value=v.value, unit=v.unit, target=v.target, details=v.details)
            self.progress(f"verdict: [{v.status}] {v.sentence}")
        failed = [v for v in verdicts if v.status == FAIL]
        if failed:
            raise DrillFailed(failed)
        return list(verdicts)

    def stop_traffic(self) -> None:
        for g in self.loads:
            g.stop()
        for p in self.probes:
            p.stop()
        for pool in self.pools:
            pool.stop()

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

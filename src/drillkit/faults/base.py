"""A fault knows how to inject and heal itself — nothing else. When is the schedule's business;
whether it mattered is the verdicts'. Every inject and heal is an event on the timeline, and the heal
always runs (`Fault.active` is a context manager; the drill heals whatever is still active at the end).

What "heal" means is the fault's ``heal`` setting:

``"start"`` (default)  the kind's own undo: a killed node is started, a toxic deleted, a rule removed.
``"none"``             nothing is undone: the fault is recorded as handed over (to a runbook, to the
                       operator), its nodes stay as they are and ``Environment.reset`` leaves them so.
a callable             ``heal(env, timeline)``: a runbook step replaces the undo (e.g. promote the
                       standby instead of starting the dead primary beside it); its nodes are then the
                       runbook's, and reset leaves them as they are too.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Union

from drillkit.errors import FaultError
from drillkit.lab.environment import Environment
from drillkit.lab.guard import check_blast_radius
from drillkit.lab.node import Node
from drillkit.stack.target import Target, Targets, as_target
from drillkit.timeline import Timeline

__all__ = ["Fault", "Target", "Targets", "check_blast_radius", "HEAL_MODES", "heal_name", "check_heal"]

_ids = itertools.count(1)

HEAL_MODES = ("start", "none")
HealSpec = Union[str, Callable[[Environment, Timeline], Any]]


def heal_name(heal: HealSpec) -> str:
    """How a heal setting is written on the timeline: ``start``, ``none`` or the runbook step's name
    (its ``describe()``, ``step_name`` or function name)."""
    if isinstance(heal, str):
        return heal
    describe = getattr(heal, "describe", None)
    if callable(describe):
        return str(describe())
    return str(getattr(heal, "step_name", None) or getattr(heal, "__name__", None) or type(heal).__name__)


def check_heal(heal: Any) -> HealSpec:
    """The heal setting, checked: ``"start"``, ``"none"`` or a callable ``heal(env, timeline)``."""
    if isinstance(heal, str) and heal in HEAL_MODES or callable(heal) and not isinstance(heal, (str, type)):
        return heal
    raise FaultError(f"heal must be 'start', 'none' or a runbook step heal(env, timeline), got {heal!r}",
                     fix="heal: start (undo the fault), heal: none (leave it to the runbook) or a callable")


class Fault:
    """Base class: subclasses implement `_inject` and `_heal`; this class keeps the record.

    ``heal`` chooses the undo: ``"start"`` (default: the kind's own heal, e.g. start the killed node),
    ``"none"`` (leave it as it is: the node stays down; the heal event says so), or a callable
    ``heal(env, timeline)`` run instead — a runbook, e.g. start the old primary as a replica.
    """

    kind = "fault"

    def __init__(self, target: Target | Targets | str | list | None = None, *, max_nodes: int | None = None,
                 heal: HealSpec = "start"):
        self.target = as_target(target)
        self.max_nodes = max_nodes
        self.heal_mode: HealSpec = check_heal(heal)
        self.fault_id = f"f{next(_ids)}"
        self.attrs: dict[str, Any] = {}     # the kind's attributes as a scenario gave them (kinds.create)
        self.nodes: list[Node] = []
        self.injected = False
        self.healed = False
        self._heal_clock: Callable[[], float] | None = None   # the timeline's clock while healing
        self._healthy_at: list[float] = []                    # when healed nodes passed their checks

    def describe(self) -> str:
        return f"{self.kind} {self.target}" if self.target else self.kind

    def renewed(self, *, heal: HealSpec | None = None) -> "Fault":
        """A fresh fault of the same kind, target and attributes — a new id, nothing injected, the
        checks of its construction already passed: what a schedule injects for each occurrence of
        one step that validation built."""
        fresh = type(self)(self.target, max_nodes=self.max_nodes,
                           heal=self.heal_mode if heal is None else heal, **self.attrs)
        fresh.attrs = dict(self.attrs)
        return fresh

    def targets(self) -> list[str]:
        return [str(n) for n in self.nodes]

    def inject(self, env: Environment, tl: Timeline) -> None:
        if self.target is not None:
            self.nodes = self.target.resolve(env)
            check_blast_radius(env, self.nodes, self.max_nodes)
        self.injected = True  # heal must run even if inject fails halfway
        t = tl.now()
        self._inject(env)
        tl.fault("inject", t=t, fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                 api_seconds=round(tl.now() - t, 4), **self.detail())

    def heal(self, env: Environment, tl: Timeline) -> None:
        """Undo the fault as its ``heal`` setting says, once; recorded as a ``heal`` event whose
        ``heal`` detail says how (``start``, ``none`` or the runbook step) and ``undone`` whether the
        fault's own undo ran. The kind's own undo is stamped when it was called (as every fault
        event); a runbook heal when the runbook has run: until then users still suffer the fault,
        and the runbook's time is part of the recovery.

        Every heal record carries ``started`` (the call began), ``done`` (it returned) and
        ``healthy`` (the last healed node's health check passed — null where the nodes have no
        health check, or the heal left them as they are): a node started again is not serving yet
        when the call that starts it begins (`drillkit.verdicts.recovery` judges the service from
        ``healthy`` on)."""
        if not self.injected or self.healed:
            return
        t = tl.now()
        how = heal_name(self.heal_mode)
        self._heal_clock, self._healthy_at = tl.now, []
        try:
            if self.heal_mode == "start":
                self._heal(env)
                for n in self.nodes:
                    env.release(n)
            else:
                self._stop(env)
                for n in self.nodes:
                    env.leave_as_is(n, f"{self.describe()} ({self.fault_id}) healed by {how}")
                if callable(self.heal_mode):
                    self.heal_mode(env, tl)
        except Exception as exc:
            tl.fault("heal-failed", fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                     error=str(exc), heal=how, started=round(t, 6))
            raise FaultError(f"heal of {self.describe()} ({how}) failed: {exc}",
                             fix="the lab may be left broken; it is torn down at the end of the run") from exc
        finally:
            self._heal_clock = None
        self.healed = True
        done = tl.now()
        times = {"started": round(t, 6), "done": round(done, 6),
                 "healthy": round(max(self._healthy_at), 6) if self._healthy_at else None}
        if callable(self.heal_mode):
            # a runbook is part of the recovery: the fault ends when the runbook has run
            tl.fault("heal", t=done, fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                     api_seconds=round(done - t, 4), heal=how, undone=False, runbook_started=round(t, 6), **times)
        else:
            tl.fault("heal", t=t, fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                     api_seconds=round(done - t, 4), heal=how, undone=self.heal_mode == "start", **times)

    def wait_healthy(self, env: Environment, node: Node, deadline: float) -> float:
        """Wait until ``node``'s health check passes (`Environment.wait_healthy`); while the fault
        heals, note when it passed (for the heal record's ``healthy``). Returns seconds waited."""
        waited = env.wait_healthy(node, deadline=deadline)
        self.note_healthy(env, node)
        return waited

    def note_healthy(self, env: Environment, node: Node) -> None:
        """``node`` passed its health check just now (a heal that waits for it some other way, e.g. a
        zone brought back, says so here). Only nodes whose service has a health check count, and only
        while the fault heals."""
        clock = self._heal_clock
        if clock is None:       # not healing (a heal's own helpers called on their own)
            return
        svc = env.spec.services.get(node.service) if env is not None else None
        if svc is not None and getattr(svc, "healthcheck", None):
            self._healthy_at.append(clock())

    @contextmanager
    def active(self, env: Environment, tl: Timeline) -> Iterator["Fault"]:
        self.inject(env, tl)
        try:
            yield self
        finally:
            self.heal(env, tl)

    def detail(self) -> dict:
        return {}

    def _inject(self, env: Environment) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _heal(self, env: Environment) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _stop(self, env: Environment) -> None:
        """End the fault's own activity (a loop thread) without undoing its effect: heal "none" and
        runbook heals call it. Most kinds have none."""

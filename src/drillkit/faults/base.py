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
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Union

from drillkit import labels as L
from drillkit.errors import BlastRadiusError, FaultError
from drillkit.lab.environment import Environment, Node
from drillkit.timeline import Timeline

__all__ = ["Fault", "Target", "check_blast_radius", "HEAL_MODES", "heal_name", "check_heal"]

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


@dataclass(frozen=True)
class Target:
    """Which nodes a fault hits: by service, replica, zone, a seeded random member, or a role
    (``role="primary"``: the node holding it when the fault is injected, see `drillkit.roles`)."""

    service: str | None = None
    replica: int | None = None
    zone: str | None = None
    random_member: bool = False
    seed: int = 0
    role: str | None = None

    def resolve(self, env: Environment) -> list[Node]:
        if self.role is not None:
            from drillkit.roles import RoleError, resolve_role
            try:
                return [resolve_role(env, self.role, self.service)]
            except RoleError as exc:
                raise FaultError(exc.message, fix=exc.fix) from None
        nodes = [n for n in env.all_nodes() if n.service == self.service]
        if not nodes:
            raise FaultError(f"target service {self.service!r} is not in {env.name}",
                             fix=f"use one of {', '.join(sorted(env.spec.services))}")
        if self.zone is not None:
            nodes = [n for n in nodes if n.zone == self.zone]
        if self.replica is not None:
            nodes = [n for n in nodes if n.replica == self.replica]
        if not nodes:
            raise FaultError(f"target {self} matches no node", fix="check replica/zone against the environment")
        if self.random_member:
            nodes = [random.Random(self.seed).choice(nodes)]
        return nodes

    def __str__(self) -> str:
        if self.role is not None:
            return f"role {self.role}" + (f" of {self.service}" if self.service else "")
        parts = [self.service or ""]
        if self.replica is not None:
            parts.append(f"replica {self.replica}")
        if self.zone is not None:
            parts.append(f"zone {self.zone}")
        if self.random_member:
            parts.append(f"random(seed={self.seed})")
        return " ".join(parts)


def check_blast_radius(env: Environment, nodes: list[Node], max_nodes: int | None = None) -> None:
    """Refuse any object that does not carry the current run's label, and more nodes than allowed."""
    if max_nodes is not None and len(nodes) > max_nodes:
        raise BlastRadiusError(f"fault would touch {len(nodes)} nodes, the drill allows {max_nodes}",
                               fix="narrow the target or raise the drill's max_nodes")
    for n in nodes:
        try:
            lbl = env.backend.labels(n)
        except Exception as exc:
            raise FaultError(f"{n}: container not found ({exc})") from None
        if lbl.get(L.RUN) != env.run_id:
            raise BlastRadiusError(f"{n.container_name} does not belong to run {env.run_id}",
                                   fix="faults only touch objects labelled with the current run")


class Fault:
    """Base class: subclasses implement `_inject` and `_heal`; this class keeps the record.

    ``heal`` chooses the undo: ``"start"`` (default: the kind's own heal, e.g. start the killed node),
    ``"none"`` (leave it as it is: the node stays down; the heal event says so), or a callable
    ``heal(env, timeline)`` run instead — a runbook, e.g. start the old primary as a replica.
    """

    kind = "fault"

    def __init__(self, target: Target | str | None = None, *, max_nodes: int | None = None,
                 heal: HealSpec = "start"):
        self.target = Target(target) if isinstance(target, str) else target
        self.max_nodes = max_nodes
        self.heal_mode: HealSpec = check_heal(heal)
        self.fault_id = f"f{next(_ids)}"
        self.nodes: list[Node] = []
        self.injected = False
        self.healed = False

    def describe(self) -> str:
        return f"{self.kind} {self.target}" if self.target else self.kind

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
        event); a runbook heal when the runbook has run (``runbook_started`` says when it began):
        until then users still suffer the fault, and the runbook's time is part of the recovery."""
        if not self.injected or self.healed:
            return
        t = tl.now()
        how = heal_name(self.heal_mode)
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
                     error=str(exc), heal=how)
            raise FaultError(f"heal of {self.describe()} ({how}) failed: {exc}",
                             fix="the lab may be left broken; it is torn down at the end of the run") from exc
        self.healed = True
        done = tl.now()
        if callable(self.heal_mode):
            # a runbook is part of the recovery: the fault ends when the runbook has run
            tl.fault("heal", t=done, fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                     api_seconds=round(done - t, 4), heal=how, undone=False, runbook_started=round(t, 6))
        else:
            tl.fault("heal", t=t, fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                     api_seconds=round(done - t, 4), heal=how, undone=self.heal_mode == "start")

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

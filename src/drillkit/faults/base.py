"""A fault knows how to inject and heal itself — nothing else. When is the schedule's business;
whether it mattered is the verdicts'. Every inject and heal is an event on the timeline, and the heal
always runs (`Fault.active` is a context manager; the drill heals whatever is still active at the end).
"""

from __future__ import annotations

import itertools
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from drillkit import labels as L
from drillkit.errors import BlastRadiusError, FaultError
from drillkit.lab.environment import Environment, Node
from drillkit.timeline import Timeline

__all__ = ["Fault", "Target", "check_blast_radius"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Target:
    """Which nodes a fault hits: by service, replica, zone, or a seeded random member."""

    service: str
    replica: int | None = None
    zone: str | None = None
    random_member: bool = False
    seed: int = 0

    def resolve(self, env: Environment) -> list[Node]:
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
        parts = [self.service]
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
    """Base class: subclasses implement `_inject` and `_heal`; this class keeps the record."""

    kind = "fault"

    def __init__(self, target: Target | str | None = None, *, max_nodes: int | None = None):
        self.target = Target(target) if isinstance(target, str) else target
        self.max_nodes = max_nodes
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
        if not self.injected or self.healed:
            return
        t = tl.now()
        try:
            self._heal(env)
        except Exception as exc:
            tl.fault("heal-failed", fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                     error=str(exc))
            raise FaultError(f"heal of {self.describe()} failed: {exc}",
                             fix="the lab may be left broken; it is torn down at the end of the run") from exc
        self.healed = True
        tl.fault("heal", t=t, fault=self.kind, fault_id=self.fault_id, targets=self.targets(),
                 api_seconds=round(tl.now() - t, 4))

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

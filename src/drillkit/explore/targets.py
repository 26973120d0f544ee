"""Targets and fault options: the words of the vocabulary, in the scenario's own terms.

A `Target` is what one fault aims at, as a scenario writes it — ``{service: app, replica: 2}``,
``{role: primary}``, ``link: app-db``, ``side_a/side_b``, ``zone: zone-a`` — with a short label
(``app-2``, ``role:primary``, ``link:app-db``, ``app|db``, ``zone:zone-a``). A `FaultOption` is one
kind on one target with its fixed attributes and the variants drawn for it (mildest first: a
latency of 100 ms before one of 1000 ms, so shrinking moves towards the mild one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Target", "FaultOption", "NODE_KINDS", "LINK_KINDS", "ZONE_KINDS", "PAIR_KINDS", "KNOWN_KINDS",
           "RUNBOOK_HEALED_KINDS", "freeze", "thaw"]

#: vocabulary kind -> (scenario kind, fixed attributes). ``hard_restart`` is ``restart`` with ``grace: 0``.
NODE_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "kill": ("kill", {}),
    "stop": ("stop", {}),
    "restart": ("restart", {}),
    "hard_restart": ("restart", {"grace": 0}),
    "pause": ("pause", {}),
}
LINK_KINDS = ("latency", "link_down")
PAIR_KINDS = ("partition",)
ZONE_KINDS = ("zone_kill", "zone_partition")
KNOWN_KINDS = (*NODE_KINDS, *LINK_KINDS, *PAIR_KINDS, *ZONE_KINDS)
#: kinds whose heal starts the node again: a runbook may heal them instead (`Vocabulary.heals`)
RUNBOOK_HEALED_KINDS = ("kill", "stop")


class _FrozenDict(tuple):
    """A mapping frozen into a hashable tuple of items (so options and draws can be compared)."""


def freeze(value: Any) -> Any:
    """Mappings and lists as hashable tuples, recursively; `thaw` undoes it."""
    if isinstance(value, Mapping):
        return _FrozenDict((str(k), freeze(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, (list, tuple)) and not isinstance(value, _FrozenDict):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    if isinstance(value, _FrozenDict):
        return {k: thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Target:
    """What a fault aims at. ``family``: ``node`` (a replica, a whole single-replica service or a role),
    ``link``, ``pair`` (the two sides of a partition) or ``zone``. ``nodes``: the nodes it touches
    (known for replicas and zones; a role's holder is known only when the fault is injected)."""

    label: str
    family: str
    service: str | None = None
    replica: int | None = None
    role: str | None = None
    link: str | None = None
    side_a: tuple[str, ...] = ()
    side_b: tuple[str, ...] = ()
    zone: str | None = None
    nodes: frozenset[str] = field(default=frozenset(), compare=False)

    # -- the five shapes ----------------------------------------------------------------------------
    @classmethod
    def node(cls, service: str, replica: int | None = None, nodes: frozenset[str] | None = None) -> "Target":
        label = service if replica is None else f"{service}-{replica}"
        return cls(label, "node", service=service, replica=replica,
                   nodes=nodes if nodes is not None else frozenset({f"{service}-{replica or 1}"}))

    @classmethod
    def for_role(cls, role: str) -> "Target":
        return cls(f"role:{role}", "node", role=role)

    @classmethod
    def for_link(cls, link: str) -> "Target":
        return cls(f"link:{link}", "link", link=link)

    @classmethod
    def pair(cls, side_a: tuple[str, ...] | list[str], side_b: tuple[str, ...] | list[str],
             nodes: frozenset[str] = frozenset()) -> "Target":
        """The two sides of a partition (services, nodes or roles); ``nodes``: side A's nodes, where
        the rules go (a role on side A counts as one node, by its label)."""
        a, b = tuple(side_a), tuple(side_b)
        return cls(f"{','.join(a)}|{','.join(b)}", "pair", side_a=a, side_b=b, nodes=nodes)

    @classmethod
    def for_zone(cls, zone: str, nodes: frozenset[str] = frozenset()) -> "Target":
        return cls(f"zone:{zone}", "zone", zone=zone, nodes=nodes)

    # -- in a scenario ------------------------------------------------------------------------------
    def fields(self) -> dict[str, Any]:
        """The keys of a scenario fault that say where it acts."""
        if self.family == "node":
            if self.role is not None:
                return {"target": {"role": self.role}}
            t: dict[str, Any] = {"service": self.service}
            if self.replica is not None:
                t["replica"] = self.replica
            return {"target": t}
        if self.family == "link":
            return {"link": self.link}
        if self.family == "pair":
            return {"side_a": list(self.side_a), "side_b": list(self.side_b)}
        return {"zone": self.zone}

    @classmethod
    def from_fields(cls, fault: Mapping[str, Any]) -> "Target | None":
        """The target a scenario fault names (the inverse of `fields`); None when it names none."""
        target = fault.get("target")
        if isinstance(target, Mapping):
            if target.get("role") is not None:
                return cls.for_role(str(target["role"]))
            if target.get("service") is not None:
                return cls.node(str(target["service"]), target.get("replica"))
        if isinstance(target, str):
            return cls.node(target)
        if fault.get("link") is not None:
            return cls.for_link(str(fault["link"]))
        if fault.get("side_a") is not None and fault.get("side_b") is not None:
            def side(v: Any) -> tuple[str, ...]:
                return (str(v),) if isinstance(v, str) else tuple(str(x) for x in v)
            return cls.pair(side(fault["side_a"]), side(fault["side_b"]))
        if fault.get("zone") is not None:
            return cls.for_zone(str(fault["zone"]))
        return None

    def fits(self, kind: str) -> bool:
        """Whether a vocabulary kind can act on this target."""
        return (kind in NODE_KINDS and self.family == "node" or kind in LINK_KINDS and self.family == "link"
                or kind in PAIR_KINDS and self.family == "pair" or kind in ZONE_KINDS and self.family == "zone")


@dataclass(frozen=True)
class FaultOption:
    """One thing the search may do: ``name`` (the vocabulary's kind, e.g. ``hard_restart``, or a change
    fault's name), ``kind`` (the scenario's kind, e.g. ``restart``), the target, fixed ``attrs``
    (frozen), ``variants`` drawn per fault (mildest first) and the ``heal`` (a runbook) if not the
    kind's own."""

    name: str
    kind: str
    target: Target | None
    attrs: tuple[tuple[str, Any], ...] = ()
    variants: tuple[tuple[tuple[str, Any], ...], ...] = ((),)
    heal: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.target.label}" if self.target is not None else self.name

    def attrs_thawed(self) -> dict[str, Any]:
        return {k: thaw(v) for k, v in self.attrs}

    @property
    def footprint(self) -> frozenset[str]:
        """What two faults at once may not share: the same node killed twice, the same link cut
        twice by the same kind. A partition and a kill of one of its nodes may overlap (that is
        the point of overlapping them)."""
        t = self.target
        if t is None:
            return frozenset({f"change:{self.name}"})
        if t.family == "node":
            return t.nodes if t.role is None else frozenset({t.label})
        if self.kind == "zone_kill":
            return t.nodes | {t.label}
        return frozenset({f"{self.kind}:{t.label}"})

    @property
    def down(self) -> frozenset[str]:
        """The nodes it takes down while active (a role's holder by its label), for ``max_nodes``
        counted over faults at once (as the scenario validator does)."""
        t = self.target
        if t is None:
            return frozenset()
        if t.family == "node":
            return t.nodes if t.role is None else frozenset({t.label})
        if self.kind == "zone_kill":
            return t.nodes
        return frozenset()

    @property
    def blast(self) -> int:
        """Nodes the fault itself touches when injected (each fault refuses more than ``max_nodes``):
        a replica or a role's holder 1, a zone its nodes, a partition the nodes of its side A."""
        t = self.target
        if t is None or t.family == "link":
            return 0
        if t.role is not None:
            return 1
        return len(t.nodes)

"""Zone faults: a whole zone lost at once (``zone_kill``) or cut off from the others (``zone_partition``).

A zone is the ``drillkit.zone`` of the replicas (``x-drillkit.zones``); every replica of every service
whose zone is the named one belongs to it. The Toxiproxy container is not in any zone.
"""

from __future__ import annotations

from drillkit.errors import FaultError
from drillkit.faults.kinds import register
from drillkit.faults.network import IptablesFault, Rule, cut_plan
from drillkit.faults.process import Kill
from drillkit.lab.environment import Environment
from drillkit.lab.guard import check_blast_radius
from drillkit.lab.node import Node
from drillkit.timeline import Timeline

__all__ = ["ZoneKill", "ZonePartition", "zone_nodes"]


def zone_nodes(env: Environment, zone: str, kind: str) -> list[Node]:
    """Every node of ``zone``; a FaultError naming the zones there are if it has none."""
    nodes = [n for n in env.all_nodes() if n.zone == zone]
    if not nodes:
        known = sorted({n.zone for n in env.all_nodes()})
        raise FaultError(f"{kind}: {env.name} has no zone {zone!r}",
                         fix=f"use one of {', '.join(known)} (x-drillkit.zones)")
    return nodes


def _no_target(kind: str, target) -> None:
    if target is not None:
        raise FaultError(f"{kind} acts on a zone, not on a target ({target})", fix="write zone: <zone name>")


@register("zone_kill")
class ZoneKill(Kill):
    """The zone's power lost: on one engine SIGKILL to every node of the zone in parallel; on Swarm
    the zone's host is killed with everything on it. Heal brings the zone back and waits for its
    nodes' health checks."""

    def __init__(self, target=None, *, zone: str, **kw):
        _no_target("zone_kill", target)
        super().__init__(None, **kw)
        self.zone = zone

    def describe(self) -> str:
        return f"zone_kill {self.zone}"

    def detail(self) -> dict:
        return {"zone": self.zone, "signal": "SIGKILL"}

    def inject(self, env: Environment, tl: Timeline) -> None:
        self.nodes = zone_nodes(env, self.zone, self.kind)
        check_blast_radius(env, self.nodes, self.max_nodes)
        super().inject(env, tl)

    # the backend knows what a zone is: its nodes' containers (docker), or a whole host (swarm)
    def _inject(self, env: Environment) -> None:
        env.backend.zone_down(self.zone, self.nodes)

    def _heal(self, env: Environment) -> None:
        env.backend.zone_up(self.zone, self.nodes, deadline=self.heal_deadline)   # returns when all are healthy
        for n in self.nodes:
            self.note_healthy(env, n)


@register("zone_partition")
class ZonePartition(IptablesFault):
    """The zone's nodes and the other zones' nodes stop reaching each other, both ways.

    Same iptables rules as ``partition`` (inside the zone's containers, so they need NET_ADMIN and
    iptables); traffic through a Toxiproxy link is cut when the link's far end lies wholly in the
    other zones.
    """

    def __init__(self, target=None, *, zone: str, **kw):
        _no_target("zone_partition", target)
        super().__init__(None, **kw)
        self.zone = zone
        self.peers: list[Node] = []

    def describe(self) -> str:
        return f"zone_partition {self.zone}"

    def detail(self) -> dict:
        return {"zone": self.zone, "peers": [str(n) for n in self.peers]}

    def _resolve(self, env: Environment) -> list[Node]:
        nodes = zone_nodes(env, self.zone, self.kind)
        self.peers = [n for n in env.all_nodes() if n.zone != self.zone]
        if not self.peers:
            raise FaultError(f"zone_partition: {self.zone} is the only zone of {env.name}",
                             fix="declare several zones under x-drillkit.zones")
        return nodes

    def _plan(self, env: Environment) -> dict[Node, list[Rule]]:
        return cut_plan(self, env, self.nodes, self.peers, "both")

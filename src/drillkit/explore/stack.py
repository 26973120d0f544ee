"""What a stack offers to be broken, read from its contract: the `Topology` the vocabulary is derived
from (`Vocabulary.derive`), built from a `drillkit.stack.Stack` (``load_stack``).

- a service per Compose service, with its replicas, the zone of each replica (``x-drillkit.zones``)
  and whether its containers take iptables rules (``cap_add: [NET_ADMIN]``: a partition can be cut
  from its side);
- a link per Toxiproxy link (``x-drillkit.links``);
- a role per ``x-drillkit.roles`` entry, with the runbook that heals the loss of its holder
  (``heal: promote-replica``), which the vocabulary writes as the heal of a kill of the role.
"""

from __future__ import annotations

from drillkit.explore.topology import Link, Role, Service, Topology
from drillkit.stack.model import Stack

__all__ = ["topology_of"]


def _net_admin(cap_add: list[str]) -> bool:
    return any(str(c).upper().removeprefix("CAP_") in ("NET_ADMIN", "ALL") for c in cap_add or ())


def topology_of(stack: Stack) -> Topology:
    """The stack's services, links and roles as plain data (see the module docstring)."""
    services = tuple(Service(s.name, s.replicas, zones=tuple(s.zones), net_admin=_net_admin(s.cap_add))
                     for s in stack.services.values())
    links = tuple(Link(link.name, tuple(link.sources), link.target) for link in stack.links)
    roles = tuple(Role(r.name, tuple(r.services), heal=getattr(r, "heal", None)) for r in stack.roles.values())
    return Topology(stack.stack, services, links, roles)

"""Where everything of an environment goes on a lab swarm: pure functions, decided before anything starts.

One swarm node per zone: the manager holds the zone ``default`` (replicas of services without
``x-drillkit.zones``) and the Toxiproxy service; every declared zone is a worker. Each replica is a
swarm service of one task, pinned to its zone's node by a placement constraint on the node label
``drillkit.zone``. Published ports are host-mode ports on that node (the routing mesh needs IPVS,
which this kernel lacks), each with its own node port, which the node container publishes on the
host's 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.lab.compose import EnvironmentSpec

__all__ = ["MANAGER_ZONE", "ZONE_LABEL", "TOXIPROXY", "TOXIPROXY_API", "PortPlan", "zones", "plan_ports",
           "images_by_zone", "constraint", "service_name"]

MANAGER_ZONE = "default"       # the zone of unzoned replicas (ServiceSpec.zone_of) and of the manager
ZONE_LABEL = "drillkit.zone"   # swarm node label
TOXIPROXY = "toxiproxy"
TOXIPROXY_API = 8474
NODE_PORT_BASE = 30000


@dataclass(frozen=True)
class PortPlan:
    service: str
    replica: int
    target: int          # the container's port
    protocol: str
    zone: str            # the swarm node that publishes it
    node_port: int       # host-mode port on that node (published on 127.0.0.1 by the node container)


def zones(spec: EnvironmentSpec) -> list[str]:
    """Every zone of the environment, the manager's first."""
    found = {svc.zone_of(r) for svc in spec.services.values() for r in range(1, svc.replicas + 1)}
    return [MANAGER_ZONE] + sorted(found - {MANAGER_ZONE})


def plan_ports(spec: EnvironmentSpec) -> list[PortPlan]:
    """Every published port of every replica (and Toxiproxy's API and link listeners), with a
    distinct node port per node."""
    out: list[PortPlan] = []
    nxt: dict[str, int] = {}

    def add(service: str, replica: int, target: int, protocol: str, zone: str) -> None:
        port = nxt.get(zone, NODE_PORT_BASE)
        nxt[zone] = port + 1
        out.append(PortPlan(service, replica, target, protocol, zone, port))

    if spec.links:
        add(TOXIPROXY, 1, TOXIPROXY_API, "tcp", MANAGER_ZONE)
        for link in spec.links:
            add(TOXIPROXY, 1, link.listen, "tcp", MANAGER_ZONE)
    for svc in spec.services.values():
        for r in range(1, svc.replicas + 1):
            for p in svc.ports:
                add(svc.name, r, p.container_port, p.protocol, svc.zone_of(r))
    return out


def images_by_zone(spec: EnvironmentSpec, toxiproxy_image: str | None = None) -> dict[str, list[str]]:
    """The images each node needs (loaded into it before the run)."""
    out: dict[str, set[str]] = {z: set() for z in zones(spec)}
    for svc in spec.services.values():
        for r in range(1, svc.replicas + 1):
            out[svc.zone_of(r)].add(svc.image)
    if spec.links and toxiproxy_image:
        out[MANAGER_ZONE].add(toxiproxy_image)
    return {z: sorted(v) for z, v in out.items()}


def constraint(zone: str) -> str:
    return f"node.labels.{ZONE_LABEL}=={zone}"


def service_name(prefix: str, service: str, replica: int) -> str:
    """The swarm service of one replica (also its Node.container_name)."""
    return f"{prefix}-{service}-{replica}"

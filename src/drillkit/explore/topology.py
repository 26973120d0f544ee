"""What a stack offers to be broken, as plain data: services with their replicas and zones, links,
roles. `Vocabulary.derive` turns it into fault targets; whoever reads the stack's Compose file and
``x-drillkit`` builds it (the explore package itself reads no stack).
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.errors import ConfigError

__all__ = ["Service", "Link", "Role", "Topology"]


@dataclass(frozen=True)
class Service:
    """A service of the stack. ``zones`` is the zone of each replica, cycled as ``x-drillkit.zones``
    says (``[zone-a, zone-b]`` with 4 replicas: 1 a, 2 b, 3 a, 4 b); ``net_admin``: its containers
    take iptables rules (``cap_add: [NET_ADMIN]``), so a partition can be cut from its side."""

    name: str
    replicas: int = 1
    zones: tuple[str, ...] = ()
    net_admin: bool = False

    def nodes(self) -> tuple[str, ...]:
        """Node names as the lab names them: ``app-1`` .. ``app-N``."""
        return tuple(f"{self.name}-{r}" for r in range(1, self.replicas + 1))

    def zone_of(self, replica: int) -> str | None:
        return self.zones[(replica - 1) % len(self.zones)] if self.zones else None


@dataclass(frozen=True)
class Link:
    """A Toxiproxy link (``x-drillkit.links``): traffic of ``sources`` to ``to`` goes through it."""

    name: str
    sources: tuple[str, ...]
    to: str


@dataclass(frozen=True)
class Role:
    """A role (``x-drillkit.roles``) held by one node of ``services``. ``heal``: the runbook that
    heals a lost holder (e.g. ``promote-replica``) instead of starting it beside the new one."""

    name: str
    services: tuple[str, ...]
    heal: str | None = None


@dataclass(frozen=True)
class Topology:
    stack: str
    services: tuple[Service, ...]
    links: tuple[Link, ...] = ()
    roles: tuple[Role, ...] = ()

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if not names:
            raise ConfigError(f"stack {self.stack!r} has no services to explore",
                              fix="describe at least one service in the topology")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"service {dup[0]!r} is described twice", fix="name each service once")
        for s in self.services:
            if s.replicas < 1:
                raise ConfigError(f"service {s.name!r} has {s.replicas} replicas", fix="replicas: 1 or more")
        known = set(names)
        for link in self.links:
            for end in (*link.sources, link.to):
                if end not in known:
                    raise ConfigError(f"link {link.name!r} names service {end!r}, which the stack does not have",
                                      fix=f"use one of {', '.join(names)}")
        for role in self.roles:
            for svc in role.services:
                if svc not in known:
                    raise ConfigError(f"role {role.name!r} names service {svc!r}, which the stack does not have",
                                      fix=f"use one of {', '.join(names)}")

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    @property
    def zones(self) -> tuple[str, ...]:
        """Every zone a node is in, in first-seen order."""
        return tuple(dict.fromkeys(z for s in self.services for z in s.zones))

    def zone_nodes(self, zone: str) -> tuple[str, ...]:
        return tuple(node for s in self.services for r, node in enumerate(s.nodes(), 1) if s.zone_of(r) == zone)

    def nodes(self) -> tuple[str, ...]:
        return tuple(n for s in self.services for n in s.nodes())

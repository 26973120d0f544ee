"""Where a client reaches a service of the run — and nowhere else (the safety rule).

A service that publishes the port on 127.0.0.1 is reached there. Otherwise the client goes to the
container's own address on the run's Docker network (the host routes to its bridge networks); the
address is read from the container of *this* run (found by its name, which carries the run id) and
nothing else is ever accepted: :func:`check_host` refuses any host that is not 127.0.0.1 or an
address of one of the run's containers.
"""

from __future__ import annotations

from typing import Any

from drillkit.errors import ConfigError

__all__ = ["resolve", "check_host", "run_addresses", "node_at", "LOOPBACK"]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run_addresses(env: Any) -> set[str]:
    """Every address the run's containers hold on the run's networks."""
    out: set[str] = set()
    for node in env.all_nodes():
        try:
            out.update(a for a in env.backend.addresses(node).values() if a)
        except Exception:   # a killed-and-removed container has no address any more
            continue
    return out


def node_at(env: Any, host: str) -> str | None:
    """The name of the run's node that holds address ``host`` (``redis-2``), or None."""
    for node in (env.all_nodes() if env is not None else []):
        try:
            if host in env.backend.addresses(node).values():
                return node.name
        except Exception:   # a killed-and-removed container has no address any more
            continue
    return None


def check_host(env: Any, host: str) -> None:
    """Raise unless ``host`` is 127.0.0.1 or an address of one of the run's containers."""
    if host in LOOPBACK:
        return
    if env is not None and host in run_addresses(env):
        return
    raise ConfigError(f"client address {host!r} is neither 127.0.0.1 nor a container of this run",
                      field="clients", fix="name a service of the environment (service: db); drills send "
                                           "traffic only to 127.0.0.1 and the run's own containers")


def resolve(env: Any, service: str, port: int, replica: int = 1) -> tuple[str, int]:
    """``(host, port)`` to reach ``service-replica:port`` of this run from this process."""
    if env is None:
        raise ConfigError(f"no environment to find service {service!r} in", field="clients",
                          fix="run the client inside a drill (drill.clients(...)) or pass base_url")
    if service not in env.spec.services:
        raise ConfigError(f"{service!r} is not a service of environment {env.spec.name!r}", field="clients.service",
                          fix=f"use one of {', '.join(sorted(env.spec.services))}")
    if (service, replica, port) in getattr(env, "published", {}):
        return "127.0.0.1", env.host_port(service, port, replica)
    node = env.node(service, replica)
    addresses = env.backend.addresses(node)
    for net in env.spec.services[service].networks:
        if addresses.get(net):
            return addresses[net], int(port)
    raise ConfigError(f"{service}-{replica} has no address on the run's networks", field="clients.service",
                      fix=f'publish the port: add "{port}" under services.{service}.ports')

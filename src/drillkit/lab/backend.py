"""The lab's backend interface: what realizes an environment, and every primitive faults act through.

An :class:`~drillkit.lab.environment.Environment` is the engine-neutral half of a run (its spec, run
id, nodes with their zones, published ports, Toxiproxy links). Its backend is the other half: it
realizes the environment on an engine and acts on the nodes. Faults, stacks and verdicts only use
this interface, so a drill means the same on every backend:

* ``docker`` (:mod:`drillkit.lab.docker_backend`): containers on one Docker engine (the default);
* ``swarm`` (:mod:`drillkit.lab.swarm`): services on a Docker Swarm whose nodes are
  Docker-in-Docker containers, one per zone, so a zone outage is a whole host gone.

docs/backends.md maps each primitive to Kubernetes.
"""

from __future__ import annotations

import abc
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drillkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node

__all__ = ["Backend", "NodeState", "NetworkInfo", "BACKENDS", "DEFAULT_BACKEND", "BACKEND_ENV",
           "backend_name", "create_backend"]

BACKENDS = ("docker", "swarm")
DEFAULT_BACKEND = "docker"
BACKEND_ENV = "DRILLKIT_BACKEND"


@dataclass(frozen=True)
class NodeState:
    """What the engine says about a node's process right now."""

    running: bool
    paused: bool = False
    health: str | None = None      # None (no health check), "starting", "healthy", "unhealthy"
    status: str = ""               # the engine's word: running, paused, exited, created, pending, ...
    exit_code: int | None = None

    @property
    def up(self) -> bool:
        """Running and not frozen: it can answer."""
        return self.running and not self.paused


@dataclass(frozen=True)
class NetworkInfo:
    """One of the run's networks as the engine realized it."""

    name: str                                   # the engine's name (run-prefixed)
    labels: dict[str, str] = field(default_factory=dict)
    subnets: tuple[tuple[str, str | None], ...] = ()   # (subnet, gateway or None)


def backend_name(value: str | None = None, origin: str = "backend") -> str:
    """The backend to use: ``value`` if given, else $DRILLKIT_BACKEND, else ``docker``; checked."""
    if value is None or value == "":
        value, origin = os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND, f"environment variable {BACKEND_ENV}"
    value = str(value).strip().lower()
    if value not in BACKENDS:
        raise ConfigError(f"unknown backend {value!r}", field=origin,
                          fix=f"use one of {', '.join(BACKENDS)} (e.g. --backend swarm)")
    return value


def create_backend(name: str | None, env: "Environment") -> "Backend":
    """The backend called ``name`` for ``env``; None is the docker backend (the plugin and the CLI
    resolve options and $DRILLKIT_BACKEND before they get here)."""
    name = backend_name(name or DEFAULT_BACKEND)
    if name == "swarm":
        from drillkit.lab.swarm.backend import SwarmBackend
        return SwarmBackend(env)
    from drillkit.lab.docker_backend import DockerBackend
    return DockerBackend(env)


class Backend(abc.ABC):
    """Realizes one Environment on an engine and acts on its nodes.

    ``realize`` fills ``env.nodes`` (in declaration order), ``env.published`` and ``env.links``
    and returns once every service is healthy; on failure it raises with the unhealthy service's
    log lines (the Environment then calls ``teardown``). ``teardown`` removes every object labelled
    with the run, and nothing else. Node primitives act on one replica; a primitive on a node that
    is already in the asked state does nothing.
    """

    name = ""

    def __init__(self, env: "Environment"):
        self.env = env

    # -- lifecycle -------------------------------------------------------------------------------
    @abc.abstractmethod
    def prepare(self) -> None:
        """Everything a run needs before it starts (images built, nodes provisioned); may be slow."""

    @abc.abstractmethod
    def realize(self) -> None:
        """Networks, volumes, the link proxy, every replica; returns when all are healthy."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Remove every object labelled with the run (also after a half-finished realize)."""

    # -- nodes and zones -------------------------------------------------------------------------
    def zones(self) -> dict[str, list["Node"]]:
        """zone -> its nodes, as placed."""
        out: dict[str, list[Node]] = {}
        for n in self.env.all_nodes():
            out.setdefault(n.zone, []).append(n)
        return out

    # -- process primitives ----------------------------------------------------------------------
    @abc.abstractmethod
    def kill(self, node: "Node", signal: str = "SIGKILL") -> None: ...

    @abc.abstractmethod
    def stop(self, node: "Node", timeout: float) -> None:
        """SIGTERM, SIGKILL after ``timeout`` seconds."""

    def stop_signal(self, node: "Node") -> str:
        """The signal that asks the node to stop (its image may say, e.g. SIGINT for PostgreSQL)."""
        return "SIGTERM"

    @abc.abstractmethod
    def pause(self, node: "Node") -> None: ...

    @abc.abstractmethod
    def unpause(self, node: "Node") -> None: ...

    @abc.abstractmethod
    def start(self, node: "Node") -> None:
        """Bring a stopped or killed node back (does not wait for its health check)."""

    @abc.abstractmethod
    def restart(self, node: "Node", timeout: float = 1.0) -> None: ...

    @abc.abstractmethod
    def state(self, node: "Node") -> NodeState: ...

    @abc.abstractmethod
    def wait_healthy(self, node: "Node", deadline: float = 60.0) -> float:
        """Wait until the node's health check passes (or it runs, without one); seconds waited."""

    # -- inside a node ---------------------------------------------------------------------------
    @abc.abstractmethod
    def exec(self, node: "Node", cmd: list[str] | str, *, user: str = "",
             environment: dict[str, str] | None = None) -> tuple[int, str]:
        """Run a command in the node; (exit code, stdout+stderr)."""

    @abc.abstractmethod
    def logs(self, node: "Node", tail: int = 200) -> str: ...

    @abc.abstractmethod
    def labels(self, node: "Node") -> dict[str, str]:
        """The node's labels as the engine holds them (faults check ``drillkit.run`` on them)."""

    @abc.abstractmethod
    def environment_of(self, node: "Node") -> dict[str, str]:
        """The node's process environment as configured (image + service)."""

    # -- network ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def addresses(self, node: "Node") -> dict[str, str]:
        """The node's IPv4 address on each of the run's networks (declared name -> address)."""

    @abc.abstractmethod
    def link_proxy_addresses(self) -> list[str]:
        """Addresses of the Toxiproxy server on the run's networks (empty without links)."""

    @abc.abstractmethod
    def network_info(self, net: str) -> NetworkInfo:
        """One of the run's networks by its declared name."""

    # -- change ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def replace_replica(self, node: "Node", *, image: str | None = None,
                        environment: dict[str, str] | None = None) -> "Node":
        """Replace the node by a new one of the same name, aliases, zone and address (a rolling
        upgrade's one step): stopped with its grace period, removed, created from ``image``
        (default: the service's) with ``environment`` merged over the service's; started, not
        waited for. Returns the new Node (also put into ``env.nodes``)."""

    @abc.abstractmethod
    def add_replicas(self, service: str, replicas: list[int]) -> list["Node"]:
        """Create and start the given replica numbers of a service (scale-out); not waited for."""

    @abc.abstractmethod
    def remove_replica(self, node: "Node") -> None: ...

    # -- zones -----------------------------------------------------------------------------------
    def zone_down(self, zone: str, nodes: list["Node"]) -> None:
        """A zone lost at once (its power). Default: SIGKILL to every node of the zone."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            list(pool.map(lambda n: self.kill(n), nodes))

    def zone_up(self, zone: str, nodes: list["Node"], deadline: float = 60.0) -> None:
        """The zone back: its nodes started and healthy."""
        from concurrent.futures import ThreadPoolExecutor
        end = time.monotonic() + deadline

        def back(n):
            st = self.state(n)
            if st.paused:
                self.unpause(n)
            elif not st.running:
                self.start(n)
            self.wait_healthy(n, deadline=max(1.0, end - time.monotonic()))
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            list(pool.map(back, nodes))

    # -- for reports -----------------------------------------------------------------------------
    def describe(self) -> str:
        return self.name

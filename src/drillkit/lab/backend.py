"""The lab's backend interface: what realizes an environment, and every primitive faults act through.

An :class:`~drillkit.lab.environment.Environment` is the engine-neutral half of a run (its spec, run
id, nodes with their zones, published ports, Toxiproxy links). Its backend is the other half: it
realizes the environment on an engine and acts on the nodes. Faults, stacks and verdicts only use
this interface, so a drill means the same on every backend:

* ``docker`` (:mod:`drillkit.lab.backends.docker.backend`): containers on one Docker engine (the default);
* ``swarm`` (:mod:`drillkit.lab.backends.swarm`): services on a Docker Swarm whose nodes are
  Docker-in-Docker containers, one per zone, so a zone outage is a whole host gone.

docs/backends.md maps each primitive to Kubernetes.
"""

from __future__ import annotations

import abc
import importlib
import os
import pkgutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from drillkit.errors import ConfigError, LabError
from drillkit.lab.compose import ServiceSpec
from drillkit.lab.node import Node

# "Environment" in annotations below is drillkit.lab.environment.Environment, not imported here:
# the environment imports this module to find its backend.

__all__ = ["Backend", "link_hosts", "NodeState", "NetworkInfo", "DEFAULT_BACKEND", "BACKEND_ENV",
           "backend_name", "backend_names", "backend_class", "create_backend", "register_backend"]

DEFAULT_BACKEND = "docker"
BACKEND_ENV = "DRILLKIT_BACKEND"
_BACKENDS_DIR = Path(__file__).parent / "backends"
_REGISTERED: dict[str, type["Backend"]] = {}


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

    @classmethod
    def of(cls, info: dict) -> "NetworkInfo":
        """From the engine's ``inspect_network`` answer (either backend's)."""
        subnets = tuple((cfg.get("Subnet"), cfg.get("Gateway") or None)
                        for cfg in (info.get("IPAM") or {}).get("Config") or [] if cfg.get("Subnet"))
        return cls(info["Name"], info.get("Labels") or {}, subnets)


def link_hosts(spec, svc, proxy_ip: dict[str, str]) -> dict[str, str]:
    """The hosts entries that send a link's sources to Toxiproxy: link target -> the proxy's address
    on a network the source shares with it (``proxy_ip``: network -> address)."""
    hosts = {}
    for link in spec.links:
        if svc.name in link.sources:
            net = next((n for n in svc.networks if n in proxy_ip), None)
            if net is None:
                raise LabError(f"link {link.name!r}: {svc.name} shares no network with toxiproxy")
            hosts[link.target] = proxy_ip[net]
    return hosts


# -- the backends by name ----------------------------------------------------------------------------
def register_backend(name: str) -> Callable[[type["Backend"]], type["Backend"]]:
    """Class decorator of a backend's package (``lab/backends/<name>/``)."""
    def deco(cls: type["Backend"]) -> type["Backend"]:
        if _REGISTERED.get(name, cls) is not cls:
            raise RuntimeError(f"backend {name!r} registered twice")
        cls.name = name
        _REGISTERED[name] = cls
        return cls
    return deco


def backend_names() -> tuple[str, ...]:
    """Every backend, the default first: the folders of ``lab/backends/`` (nothing is imported)."""
    found = sorted(m.name for m in pkgutil.iter_modules([str(_BACKENDS_DIR)]) if m.ispkg)
    return tuple(sorted(found, key=lambda n: n != DEFAULT_BACKEND))


def backend_class(name: str) -> type["Backend"]:
    """The class of backend ``name``, importing its package on first use."""
    if name not in _REGISTERED:
        importlib.import_module(f"drillkit.lab.backends.{name}")
    try:
        return _REGISTERED[name]
    except KeyError:
        raise LabError(f"lab/backends/{name}/ registers no backend",
                       fix=f'decorate its Backend subclass with @register_backend("{name}")') from None


def backend_name(value: str | None = None, origin: str = "backend") -> str:
    """The backend to use: ``value`` if given, else $DRILLKIT_BACKEND, else ``docker``; checked."""
    if value is None or value == "":
        value, origin = os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND, f"environment variable {BACKEND_ENV}"
    value = str(value).strip().lower()
    names = backend_names()
    if value not in names:
        raise ConfigError(f"unknown backend {value!r}", field=origin,
                          fix=f"use one of {', '.join(names)} (e.g. --backend swarm)")
    return value


def create_backend(name: str | None, env: "Environment") -> "Backend":
    """The backend called ``name`` for ``env``; None is the default (the plugin and the CLI resolve
    options and $DRILLKIT_BACKEND before they get here)."""
    return backend_class(backend_name(name or DEFAULT_BACKEND))(env)


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

    def restart_link_server(self) -> None:
        """Restart the run's Toxiproxy server and put every link back as it was (upstream, enabled,
        toxics): the last cure for a listener Toxiproxy lost track of (a proxy removed while a wedged
        update started it again keeps its port bound, and the link cannot be created again)."""
        raise LabError(f"the {self.describe()} backend cannot restart the link server",
                       fix="run the drill on the docker backend, or restart the environment")

    @abc.abstractmethod
    def network_info(self, net: str) -> NetworkInfo:
        """One of the run's networks by its declared name."""

    # -- change ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def replace_replica(self, node: "Node", *, image: str | None = None,
                        environment: dict[str, str] | None = None, service: ServiceSpec | None = None,
                        new_address: bool = True) -> "Node":
        """Replace the node by a new one of the same name, aliases and zone (a rolling upgrade's one
        step): stopped with its grace period, removed, created from ``service`` (another definition
        of the service, e.g. another Compose file's; default: the Compose file's) with ``image`` and
        ``environment`` over it; started, not waited for. Returns the new Node (also put into
        ``env.nodes``).

        ``new_address``: the new replica gets a new address, as Compose, Swarm and Kubernetes give a
        new container or pod (default) — a load balancer that resolved the old one at start-up now
        sends to nobody; ``False`` keeps the old address (a server upgraded in place), where the
        backend can (docker)."""

    @abc.abstractmethod
    def add_replicas(self, service: str, replicas: list[int]) -> list["Node"]:
        """Create and start the given replica numbers of a service (scale-out); not waited for."""

    @abc.abstractmethod
    def remove_replica(self, node: "Node") -> None: ...

    def set_network_aliases(self, node: "Node", net: str, *, add: tuple[str, ...] = (),
                            remove: tuple[str, ...] = ()) -> list[str]:
        """Give a node extra DNS names on one of the run's networks, or take names away (a DNS
        cutover: several nodes sharing a name are several A records). The node keeps its address,
        its service name and its replica name. Returns the node's names on ``net`` afterwards.
        Backends without per-node DNS names refuse."""
        raise LabError(f"the {self.name} backend cannot change a node's DNS names",
                       fix="run DNS cutovers on the docker backend (--backend docker)")

    # -- zones -----------------------------------------------------------------------------------
    def zone_down(self, zone: str, nodes: list["Node"]) -> None:
        """A zone lost at once (its power). Default: SIGKILL to every node of the zone."""
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            list(pool.map(lambda n: self.kill(n), nodes))

    def zone_up(self, zone: str, nodes: list["Node"], deadline: float = 60.0) -> None:
        """The zone back: its nodes started and healthy."""
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

    # -- what a run may leave on the host beside engine objects ---------------------------------
    @classmethod
    def host_leftovers(cls, run_id: str, engine_rows: list[dict]) -> list[str]:
        """Remove what a dead run of this backend left on the host outside the engine (sockets,
        cgroups); ``engine_rows`` are the run's containers as the engine listed them before removal.
        Returns what could not be removed, one line each. Most backends leave nothing."""
        return []

"""The lab on one Docker engine: every replica a container, every network a bridge with a /24.

Start-up is a pipeline: every container is created up front (in start order, a few engine calls at
a time) while the first services already start; a service starts as soon as its dependencies'
conditions hold and its Toxiproxy links are in place, and its health is known the moment the
service's own test passes inside the container (:mod:`drillkit.lab.health`), not at Docker's
first scheduled check. Addresses are fixed per network, so a node started again, or replaced by a
new version, keeps its IP (as a rebooted server does).
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from drillkit import labels as L
from drillkit.errors import HealthCheckFailed, LabError
from drillkit.lab import health
from drillkit.lab.backend import Backend, NetworkInfo, NodeState
from drillkit.lab.compose import ServiceSpec
from drillkit.lab.docker_client import client as docker_client
from drillkit.lab.links import LinkServer
from drillkit.lab.startup import start_in_order

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment, Node

__all__ = ["DockerBackend", "ENGINE_SLOTS", "TOXIPROXY_SERVICE", "pick_subnet"]

TOXIPROXY_SERVICE = "toxiproxy"
# Docker 20.10 can deadlock under many concurrent container starts and execs (seen here: a wedged
# engine, containers stuck in "Created"); the lab keeps its own short engine calls to a few at a time.
ENGINE_SLOTS = threading.BoundedSemaphore(4)
CREATORS = 2   # containers created ahead of need at once (the rest of the slots stay free for starts)


def pick_subnet(c, name: str, labels: dict[str, str], *, driver: str = "bridge", prefix: str = "172.29",
                attachable: bool = False) -> tuple[str, str]:
    """Create network ``name`` on a free /24 of ``prefix``.0.0/16; returns (network id, "a.b.c")."""
    import docker.types
    rng = random.Random()
    for attempt in range(64):
        third = rng.randrange(0, 256)
        ipam = docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet=f"{prefix}.{third}.0/24", gateway=f"{prefix}.{third}.1")])
        try:
            net = c.api.create_network(name, driver=driver, check_duplicate=True, ipam=ipam, labels=labels,
                                       attachable=attachable or None)
        except Exception as exc:
            if "overlap" in str(exc).lower() and attempt < 63:
                continue
            raise
        return net["Id"], f"{prefix}.{third}"
    raise LabError(f"no free /24 in {prefix}.0.0/16 for network {name}", fix="run `drill gc`")


class DockerBackend(Backend):
    """Containers on one Docker engine (``drill run --backend docker``, the default)."""

    name = "docker"

    def __init__(self, env: "Environment"):
        super().__init__(env)
        self._subnets: dict[str, tuple[str, int]] = {}   # network -> (a.b.c, next host number)
        self._ips: dict[tuple[str, str], str] = {}       # (network, container) -> fixed address
        self._ip_lock = threading.Lock()
        self._created: dict[str, threading.Event] = {}   # container name -> created
        self._create_error: list[BaseException] = []
        self._links_ready = threading.Event()
        self._toxiproxy_ip: dict[str, str] = {}

    @property
    def docker(self):
        return docker_client()

    # -- lifecycle -------------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.env.build:
            self.env._build_images(self.docker)

    def realize(self) -> None:
        env, spec, c = self.env, self.env.spec, self.docker
        self._create_networks(c)
        self._create_volumes(c)
        # every address is fixed before anything starts: a link's source knows the proxy's address
        order = [(spec.services[name], r) for level in spec.start_order() for name in level
                 for r in range(1, spec.services[name].replicas + 1)]
        with self._ip_lock:
            if spec.links:
                proxy = self._proxy_name()
                self._toxiproxy_ip = {net: self._address(net, proxy) for net in spec.networks}
            for svc, r in order:
                for net in svc.networks:
                    self._address(net, env.container_name(svc.name, r))
        for n in spec.services:
            env.nodes.setdefault(n, [])
        nodes: dict[tuple[str, int], Node] = {}
        for svc, r in order:
            self._created[env.container_name(svc.name, r)] = threading.Event()
        creator = threading.Thread(target=self._create_all, args=(c, order, nodes), daemon=True,
                                   name="dk-create")
        creator.start()
        links = None
        if spec.links:
            self._start_toxiproxy(c)
            links = threading.Thread(target=self._create_links, daemon=True, name="dk-links")
            links.start()
        else:
            self._links_ready.set()

        def start(svc: ServiceSpec) -> list:
            names = [env.container_name(svc.name, r) for r in range(1, svc.replicas + 1)]
            for name in names:
                while not self._created[name].wait(0.02):
                    if self._create_error:
                        raise self._create_error[0]
                    if env._abort.is_set():
                        raise LabError(f"{svc.name}: start-up aborted")
            mine = [nodes[(svc.name, r)] for r in range(1, svc.replicas + 1)]
            with ThreadPoolExecutor(max_workers=len(mine), thread_name_prefix="dk-start") as pool:
                list(pool.map(lambda n: self._start_container(c, svc, n), mine))
            env.nodes[svc.name] = mine
            return mine

        def gates(svc: ServiceSpec):
            return [self._links_ready] if any(svc.name in l.sources for l in spec.links) else []

        try:
            start_in_order(spec.services, start=start, gates=gates,
                           ready=lambda svc, n, deadline: self._await(c, svc, n, deadline),
                           deadline=time.monotonic() + env.up_timeout, abort=env._abort,
                           progress=env.progress, env_name=spec.name, timeout_s=env.up_timeout)
        finally:
            creator.join()
            if links is not None:
                links.join()
        if self._create_error:   # a link or a container that could not be made stopped the start-up
            raise self._create_error[0]

    def teardown(self) -> None:
        from drillkit.lab.gc import remove_run
        remove_run(self.docker, self.env.run_id)

    # -- creating --------------------------------------------------------------------------------
    def _create_networks(self, c) -> None:
        """Each network gets its own /24, so every container can keep a fixed address: a node that
        is killed and started again comes back under the same IP, as a rebooted server does
        (with dynamic addresses, nodes restarted together can swap IPs under a load balancer
        that still holds the old ones)."""
        env = self.env
        for net in env.spec.networks:
            _, prefix = pick_subnet(c, env.network_name(net), env._labels(**{L.ROLE: "network"}))
            self._subnets[net] = (prefix, 10)

    def _address(self, net: str, container: str) -> str:
        """The fixed address of a container on a network (the same for a container re-created
        under the same name, e.g. a node upgraded in place). Call with ``_ip_lock`` held."""
        key = (net, container)
        if key not in self._ips:
            prefix, nxt = self._subnets[net]
            if nxt > 254:
                raise LabError(f"network {net}: more than 245 containers", fix="split the environment")
            self._ips[key] = f"{prefix}.{nxt}"
            self._subnets[net] = (prefix, nxt + 1)
        return self._ips[key]

    def _create_volumes(self, c) -> None:
        for vol in self.env.spec.volumes:
            c.api.create_volume(self.env.volume_name(vol), labels=self.env._labels(**{L.ROLE: "volume"}))

    def _create_all(self, c, order: list[tuple[ServiceSpec, int]], nodes: dict) -> None:
        """Create every replica's container, in start order, CREATORS at a time."""
        env = self.env

        def one(item):
            svc, r = item
            if self._create_error or env._abort.is_set():
                return
            try:
                nodes[(svc.name, r)] = self._create_container(c, svc, r)
            except BaseException as exc:  # noqa: BLE001 - the waiting service raises it
                self._create_error.append(exc)
            finally:
                self._created[env.container_name(svc.name, r)].set()
        with ThreadPoolExecutor(max_workers=CREATORS, thread_name_prefix="dk-create") as pool:
            list(pool.map(one, order))

    def _proxy_name(self) -> str:
        return f"{self.env._prefix()}-{TOXIPROXY_SERVICE}-1"

    def _start_toxiproxy(self, c) -> None:
        from drillkit.lab.images import TOXIPROXY_IMAGE
        env = self.env
        name = self._proxy_name()
        nets = env.spec.networks
        # the API and every link's listener are published on 127.0.0.1 (a probe can go through a link)
        listens = [l.listen for l in env.spec.links]
        with ENGINE_SLOTS:
            # Toxiproxy dials upstreams without a timeout; a dial to a node killed a moment ago (its
            # address gone, SYNs unanswered) then takes Linux's full SYN retry time (~2 min), and
            # Toxiproxy's update of that link (a runbook's repoint) waits for it. Two SYN retries: ~7 s.
            host_config = c.api.create_host_config(
                port_bindings={8474: ("127.0.0.1", None), **{p: ("127.0.0.1", None) for p in listens}},
                sysctls={"net.ipv4.tcp_syn_retries": "2"})
            netcfg = c.api.create_networking_config({
                env.network_name(nets[0]): c.api.create_endpoint_config(
                    aliases=[TOXIPROXY_SERVICE], ipv4_address=self._toxiproxy_ip[nets[0]])})
            labels = env._labels(**{L.SERVICE: TOXIPROXY_SERVICE, L.REPLICA: "1", L.ZONE: "lab",
                                    L.ROLE: "link-proxy"})
            c.api.create_container(TOXIPROXY_IMAGE, name=name, labels=labels, host_config=host_config,
                                   networking_config=netcfg, ports=[8474, *listens], detach=True)
            for net in nets[1:]:
                c.api.connect_container_to_network(name, env.network_name(net), aliases=[TOXIPROXY_SERVICE],
                                                   ipv4_address=self._toxiproxy_ip[net])
            c.api.start(name)
            ports = c.api.inspect_container(name)["NetworkSettings"]["Ports"]
        port = int(ports["8474/tcp"][0]["HostPort"])
        for p in listens:
            env.published[(TOXIPROXY_SERVICE, 1, p)] = int(ports[f"{p}/tcp"][0]["HostPort"])
        env.links = LinkServer("127.0.0.1", port)

    def _create_links(self) -> None:
        env = self.env
        try:
            env.links.wait_ready()
            for link in env.spec.links:
                env.links.create(link.name, f"0.0.0.0:{link.listen}", f"{link.target}:{link.port}")
            env.progress(f"{env.spec.name}: toxiproxy up with links "
                         f"{', '.join(l.name for l in env.spec.links)}")
            self._links_ready.set()
        except BaseException as exc:  # noqa: BLE001 - a gated service raises it
            self._create_error.append(exc)
            env._abort.set()

    def _extra_hosts(self, svc: ServiceSpec) -> dict[str, str]:
        hosts = {}
        for link in self.env.spec.links:
            if svc.name in link.sources:
                net = next((n for n in svc.networks if n in self._toxiproxy_ip), None)
                if net is None:
                    raise LabError(f"link {link.name!r}: {svc.name} shares no network with toxiproxy")
                hosts[link.target] = self._toxiproxy_ip[net]
        return hosts

    def _create_container(self, c, svc: ServiceSpec, replica: int) -> "Node":
        """Create (not start) a replica's container with its fixed addresses, aliases and labels."""
        from drillkit.lab.environment import Node
        env = self.env
        zone = svc.zone_of(replica)
        name = env.container_name(svc.name, replica)
        node = Node(env.spec.name, svc.name, replica, zone, name, env.run_id)
        environment = {**svc.environment, **env.node_environment(node)}
        labels = {**svc.labels, **env._labels(**{L.SERVICE: svc.name, L.REPLICA: str(replica),
                                                   L.ZONE: zone, L.ROLE: "service"})}
        port_bindings = {f"{p.container_port}/{p.protocol}": ("127.0.0.1", p.host_port) for p in svc.ports}
        binds = [f"{env.volume_name(v)}:{path}:{mode}" for v, path, mode in svc.volumes]
        tmpfs = {}
        for t in svc.tmpfs:
            path, _, opts = t.partition(":")
            tmpfs[path] = opts
        nets = list(svc.networks.items())
        first_net, first_aliases = nets[0]
        with self._ip_lock:
            addrs = {net: self._address(net, name) for net, _ in nets}
        healthcheck = None
        if svc.healthcheck:
            h = svc.healthcheck
            healthcheck = {"test": h["test"], "interval": int(h["interval"] * 1e9),
                           "timeout": int(h["timeout"] * 1e9), "retries": h["retries"],
                           "start_period": int(h["start_period"] * 1e9)}
        kwargs: dict[str, Any] = {}
        if svc.stop_grace_period is not None:
            kwargs["stop_timeout"] = int(svc.stop_grace_period)
        with ENGINE_SLOTS:
            host_config = c.api.create_host_config(
                port_bindings=port_bindings or None, binds=binds or None, cap_add=svc.cap_add or None,
                extra_hosts=self._extra_hosts(svc) or None, tmpfs=tmpfs or None, init=True)
            netcfg = c.api.create_networking_config({
                env.network_name(first_net): c.api.create_endpoint_config(
                    aliases=[svc.name, node.name, *first_aliases], ipv4_address=addrs[first_net])})
            c.api.create_container(
                svc.image, name=name, command=svc.command, entrypoint=svc.entrypoint, environment=environment,
                labels=labels, host_config=host_config, networking_config=netcfg, detach=True,
                ports=[(p.container_port, p.protocol) for p in svc.ports] or None, healthcheck=healthcheck,
                working_dir=svc.working_dir, user=svc.user or "", hostname=node.name, **kwargs)
            for net, extra_aliases in nets[1:]:
                c.api.connect_container_to_network(name, env.network_name(net),
                                                   aliases=[svc.name, node.name, *extra_aliases],
                                                   ipv4_address=addrs[net])
        return node

    def _start_container(self, c, svc: ServiceSpec, node: "Node") -> None:
        with ENGINE_SLOTS:
            c.api.start(node.container_name)
            if svc.ports:
                info = c.api.inspect_container(node.container_name)["NetworkSettings"]["Ports"]
        for p in svc.ports:
            bound = info.get(f"{p.container_port}/{p.protocol}") or []
            if bound:
                self.env.published[(svc.name, node.replica, p.container_port)] = int(bound[0]["HostPort"])

    def _await(self, c, svc: ServiceSpec, node: "Node", deadline: float) -> None:
        env = self.env
        health.await_container(c.api, node.container_name, healthcheck=svc.healthcheck, deadline=deadline,
                               what=node.name, unhealthy=lambda why: env.unhealthy(node, why),
                               aborted=lambda: env._abort.is_set() and not env._up, slots=ENGINE_SLOTS)

    # -- process primitives ----------------------------------------------------------------------
    def kill(self, node: "Node", signal: str = "SIGKILL") -> None:
        self.docker.api.kill(node.container_name, signal=signal)

    def stop(self, node: "Node", timeout: float) -> None:
        self.docker.api.stop(node.container_name, timeout=int(timeout))

    def stop_signal(self, node: "Node") -> str:
        return self.docker.api.inspect_container(node.container_name)["Config"].get("StopSignal") or "SIGTERM"

    def pause(self, node: "Node") -> None:
        self.docker.api.pause(node.container_name)

    def unpause(self, node: "Node") -> None:
        self.docker.api.unpause(node.container_name)

    def start(self, node: "Node") -> None:
        self.docker.api.start(node.container_name)

    def restart(self, node: "Node", timeout: float = 1.0) -> None:
        self.docker.api.restart(node.container_name, timeout=int(timeout))

    def state(self, node: "Node") -> NodeState:
        st = self.docker.api.inspect_container(node.container_name)["State"]
        return NodeState(running=bool(st["Running"]), paused=bool(st["Paused"]),
                         health=(st.get("Health") or {}).get("Status"), status=st.get("Status", ""),
                         exit_code=st.get("ExitCode"))

    def wait_healthy(self, node: "Node", deadline: float = 60.0) -> float:
        svc = self.env.spec.services[node.service]
        t0 = time.monotonic()
        self._await(self.docker, svc, node, t0 + deadline)
        return time.monotonic() - t0

    # -- inside a node ---------------------------------------------------------------------------
    def exec(self, node: "Node", cmd: list[str] | str, *, user: str = "",
             environment: dict[str, str] | None = None) -> tuple[int, str]:
        api = self.docker.api
        ex = api.exec_create(node.container_name, cmd, user=user or "", environment=environment)
        out = api.exec_start(ex["Id"]).decode("utf-8", "replace")
        return api.exec_inspect(ex["Id"])["ExitCode"], out

    def logs(self, node: "Node", tail: int = 200) -> str:
        return self.docker.api.logs(node.container_name, tail=tail, timestamps=False).decode("utf-8", "replace")

    def labels(self, node: "Node") -> dict[str, str]:
        return self.docker.api.inspect_container(node.container_name)["Config"]["Labels"] or {}

    def environment_of(self, node: "Node") -> dict[str, str]:
        cfg = self.docker.api.inspect_container(node.container_name)["Config"]
        return dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)

    # -- network ---------------------------------------------------------------------------------
    def _ips_of(self, container: str) -> dict[str, str]:
        info = self.docker.api.inspect_container(container)
        by_name = {self.env.network_name(n): n for n in self.env.spec.networks}
        return {by_name[k]: v["IPAddress"] for k, v in (info["NetworkSettings"]["Networks"] or {}).items()
                if k in by_name and v.get("IPAddress")}

    def addresses(self, node: "Node") -> dict[str, str]:
        return self._ips_of(node.container_name)

    def link_proxy_addresses(self) -> list[str]:
        found = self.docker.api.containers(filters={"label": [f"{L.RUN}={self.env.run_id}",
                                                              f"{L.ROLE}=link-proxy"]})
        return [ip for x in found for ip in self._ips_of(x["Names"][0].lstrip("/")).values()]

    def network_info(self, net: str) -> NetworkInfo:
        info = self.docker.api.inspect_network(self.env.network_name(net))
        subnets = tuple((cfg.get("Subnet"), cfg.get("Gateway") or None)
                        for cfg in (info.get("IPAM") or {}).get("Config") or [] if cfg.get("Subnet"))
        return NetworkInfo(info["Name"], info.get("Labels") or {}, subnets)

    # -- change ----------------------------------------------------------------------------------
    def replace_replica(self, node: "Node", *, image: str | None = None,
                        environment: dict[str, str] | None = None) -> "Node":
        import dataclasses
        import docker.errors
        env, c = self.env, self.docker
        svc = env.spec.services[node.service]
        try:
            c.api.stop(node.container_name, timeout=int(svc.stop_grace_period or 2))
        except docker.errors.APIError:  # already stopped or gone: it is removed next anyway
            pass
        try:
            c.api.remove_container(node.container_name, force=True)
        except docker.errors.NotFound:
            pass
        new_svc = dataclasses.replace(svc, image=image or svc.image,
                                      environment={**svc.environment, **(environment or {})})
        new = self._create_container(c, new_svc, node.replica)
        self._start_container(c, new_svc, new)
        env.nodes[node.service][node.replica - 1] = new
        return new

    def add_replicas(self, service: str, replicas: list[int]) -> list["Node"]:
        svc, c = self.env.spec.services[service], self.docker

        def one(r: int):
            n = self._create_container(c, svc, r)
            self._start_container(c, svc, n)
            return n
        with ThreadPoolExecutor(max_workers=max(1, len(replicas))) as pool:
            return list(pool.map(one, replicas))

    def remove_replica(self, node: "Node") -> None:
        self.docker.api.remove_container(node.container_name, force=True)

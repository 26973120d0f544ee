"""The lab on one Docker engine: every replica a container, every network a bridge with a /24.

Start-up is a pipeline: every container is created up front (in start order, a few engine calls at
a time) while the first services already start; a service starts as soon as its dependencies'
conditions hold and its Toxiproxy links are in place, and its health is known the moment the
service's own test passes inside the container (:mod:`drillkit.lab.health`), not at Docker's
first scheduled check. Addresses are fixed per network, so a node started again keeps its IP (as a
rebooted server does); a node replaced by a new version gets a new one, as a new container does under
Compose (``replace_replica(new_address=False)`` keeps it: a server upgraded in place).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import docker.errors

from drillkit import labels as L
from drillkit.errors import LabError
from drillkit.lab import health
from drillkit.lab.backend import Backend, NetworkInfo, NodeState, link_hosts, register_backend
from drillkit.lab.compose import ServiceSpec
from drillkit.lab.engine import ENGINE_SLOTS, pick_subnet
from drillkit.lab.engine import client as docker_client
from drillkit.lab.gc import remove_run
from drillkit.lab.images import TOXIPROXY_IMAGE
from drillkit.lab.links import TOXIPROXY_SERVICE, LinkServer, Toxic
from drillkit.lab.node import Node
from drillkit.lab.startup import start_in_order

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment

__all__ = ["DockerBackend"]

CREATORS = 2   # containers created ahead of need at once (the rest of the slots stay free for starts)


def _aliases(service: str, node: "Node", extra) -> list[str]:
    """A replica's DNS names on a network: its service, its node name, ``<service>-<n>`` (also for a
    single replica, whose node name is the service's), and the Compose file's own aliases."""
    return list(dict.fromkeys([service, *node.names, *extra]))


@register_backend("docker")
class DockerBackend(Backend):
    """Containers on one Docker engine (``drill run --backend docker``, the default)."""

    name = "docker"

    def __init__(self, env: "Environment"):
        super().__init__(env)
        self._subnets: dict[str, tuple[str, int]] = {}   # network -> (a.b.c, next host number)
        self._ips: dict[tuple[str, str], str] = {}       # (network, container) -> fixed address
        self._released: dict[str, list[str]] = {}        # network -> addresses given up (reused last)
        self._defined: dict[str, ServiceSpec] = {}       # container -> the definition it runs, if not the file's
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
            if nxt <= 254:
                self._ips[key] = f"{prefix}.{nxt}"
                self._subnets[net] = (prefix, nxt + 1)
            elif self._released.get(net):         # every number used once: the longest unused first
                self._ips[key] = self._released[net].pop(0)
            else:
                raise LabError(f"network {net}: more than 245 containers", fix="split the environment")
        return self._ips[key]

    def _new_address(self, container: str, networks) -> None:
        """Give ``container`` new addresses on ``networks`` when it is created next (a replaced
        replica): its old ones are released, to be reused only once every other number was used."""
        with self._ip_lock:
            for net in networks:
                old = self._ips.pop((net, container), None)
                if old is not None:
                    self._released.setdefault(net, []).append(old)

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

    def restart_link_server(self) -> None:
        env, c = self.env, self.docker
        before = env.links.proxies()
        name = self._proxy_name()
        with ENGINE_SLOTS:
            c.api.restart(name, timeout=1)
        ports = c.api.inspect_container(name)["NetworkSettings"]["Ports"]
        env.links = LinkServer("127.0.0.1", int(ports["8474/tcp"][0]["HostPort"]))
        for p in [l.listen for l in env.spec.links]:       # a restart may publish on other host ports
            env.published[(TOXIPROXY_SERVICE, 1, p)] = int(ports[f"{p}/tcp"][0]["HostPort"])
        env.links.wait_ready()
        links = {l.name: l for l in env.spec.links}
        for pname, state in before.items():
            if pname not in links:
                continue
            env.links.create(pname, state.get("listen") or f"0.0.0.0:{links[pname].listen}",
                             state.get("upstream") or f"{links[pname].target}:{links[pname].port}",
                             enabled=bool(state.get("enabled", True)))
        for pname, link in links.items():                  # a link the orphan took out of the table
            if pname not in before:
                env.links.create(pname, f"0.0.0.0:{link.listen}", f"{link.target}:{link.port}")
        for pname, state in before.items():
            for t in state.get("toxics") or []:
                if pname in links and isinstance(t, dict):
                    env.links.add_toxic(pname, Toxic(t["type"], dict(t.get("attributes") or {}),
                                                     t.get("stream", "downstream"),
                                                     float(t.get("toxicity", 1.0)), t.get("name")))
        env.progress(f"{env.spec.name}: toxiproxy restarted, links {', '.join(links)} put back")

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
        return link_hosts(self.env.spec, svc, self._toxiproxy_ip)

    def _create_container(self, c, svc: ServiceSpec, replica: int) -> "Node":
        """Create (not start) a replica's container with its fixed addresses, aliases and labels."""
        env = self.env
        zone = svc.zone_of(replica)
        name = env.container_name(svc.name, replica)
        node = Node(env.spec.name, svc.name, replica, zone, name, env.run_id,
                    single=svc.replicas == 1 and replica == 1)
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
                    aliases=_aliases(svc.name, node, first_aliases), ipv4_address=addrs[first_net])})
            c.api.create_container(
                svc.image, name=name, command=svc.command, entrypoint=svc.entrypoint, environment=environment,
                labels=labels, host_config=host_config, networking_config=netcfg, detach=True,
                ports=[(p.container_port, p.protocol) for p in svc.ports] or None, healthcheck=healthcheck,
                working_dir=svc.working_dir, user=svc.user or "", hostname=node.name, **kwargs)
            for net, extra_aliases in nets[1:]:
                c.api.connect_container_to_network(name, env.network_name(net),
                                                   aliases=_aliases(svc.name, node, extra_aliases),
                                                   ipv4_address=addrs[net])
        return node

    def _start_container(self, c, svc: ServiceSpec, node: "Node") -> None:
        with ENGINE_SLOTS:
            try:
                c.api.start(node.container_name)
            except docker.errors.APIError as exc:
                raise self._start_error(svc, node, exc) from None
            if svc.ports:
                info = c.api.inspect_container(node.container_name)["NetworkSettings"]["Ports"]
        for p in svc.ports:
            bound = info.get(f"{p.container_port}/{p.protocol}") or []
            if bound:
                self.env.published[(svc.name, node.replica, p.container_port)] = int(bound[0]["HostPort"])

    def _start_error(self, svc: ServiceSpec, node: "Node", exc: "docker.errors.APIError") -> Exception:
        """The engine's refusal to start a container, in the lab's words where we know them: a host
        port already in use (Docker: ``500 … bind: address already in use`` or ``port is already
        allocated``) is one line naming the Compose file:line, the service and the port, with a fix."""
        text = str(getattr(exc, "explanation", None) or exc)
        if "address already in use" not in text and "port is already allocated" not in text:
            return exc
        fixed = [p for p in svc.ports if p.host_port is not None]
        m = re.search(r"(?:127\.0\.0\.1|0\.0\.0\.0):(\d+)", text)
        busy = next((p for p in fixed if m and p.host_port == int(m.group(1))), fixed[0] if len(fixed) == 1 else None)
        where = f"{self.env.spec.file}:{busy.line}" if busy is not None and busy.line else str(self.env.spec.file)
        if busy is None:   # the engine did not say which: name the service's fixed ports
            ports = ", ".join(f"{p.host_port}" for p in fixed) or "?"
            return LabError(f"{where}: services.{svc.name}.ports: a host port of {node.name} ({ports}) on 127.0.0.1 "
                            "is already in use", fix="free the port, or publish the container port alone "
                                                     "and let the lab pick a free one")
        return LabError(f"{where}: services.{svc.name}.ports: host port {busy.host_port} on 127.0.0.1 is already in "
                        f"use, so {node.name} cannot publish its port {busy.container_port}",
                        fix=f"free port {busy.host_port} (`ss -ltnp 'sport = :{busy.host_port}'` shows who holds it), "
                            f"or publish \"{busy.container_port}\" and let the lab pick a free port")

    def _await(self, c, svc: ServiceSpec, node: "Node", deadline: float) -> None:
        env = self.env
        health.await_container(c.api, node.container_name, healthcheck=svc.healthcheck, deadline=deadline,
                               what=node.name, unhealthy=lambda why: env.unhealthy(node, why),
                               aborted=lambda: env._abort.is_set() and not env._up, slots=ENGINE_SLOTS)

    # -- process primitives ----------------------------------------------------------------------
    def kill(self, node: "Node", signal: str = "SIGKILL") -> None:
        try:
            self.docker.api.kill(node.container_name, signal=signal)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:   # 409: not running (any more): nothing to kill
                raise

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
        svc = self._defined.get(node.container_name) or self.env.spec.services[node.service]
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
        return NetworkInfo.of(self.docker.api.inspect_network(self.env.network_name(net)))

    # -- change ----------------------------------------------------------------------------------
    def replace_replica(self, node: "Node", *, image: str | None = None,
                        environment: dict[str, str] | None = None, service: ServiceSpec | None = None,
                        new_address: bool = True) -> "Node":
        env, c = self.env, self.docker
        current = self._defined.get(node.container_name) or env.spec.services[node.service]
        try:
            c.api.stop(node.container_name, timeout=int(current.stop_grace_period or 2))
        except docker.errors.APIError:  # already stopped or gone: it is removed next anyway
            pass
        try:
            c.api.remove_container(node.container_name, force=True)
        except docker.errors.NotFound:
            pass
        base = service or env.spec.services[node.service]
        new_svc = dataclasses.replace(base, image=image or base.image,
                                      environment={**base.environment, **(environment or {})})
        if new_address:
            self._new_address(node.container_name, new_svc.networks)
        new = self._create_container(c, new_svc, node.replica)
        if service is not None or image or environment:
            self._defined[new.container_name] = new_svc
        else:
            self._defined.pop(new.container_name, None)
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

    def set_network_aliases(self, node: "Node", net: str, *, add: tuple[str, ...] = (),
                            remove: tuple[str, ...] = ()) -> list[str]:
        # Docker cannot change an endpoint's aliases in place: the node is disconnected from the
        # network and connected again under the same address with the new names (a blip of a few ms
        # on that network; connections survive, as the address does not change).
        env, c = self.env, self.docker
        if net not in env.spec.networks:
            raise LabError(f"no network {net!r} in {env.spec.name}", fix=f"use one of {', '.join(env.spec.networks)}")
        svc = env.spec.services[node.service]
        fixed = {svc.name, *node.names}
        name = env.network_name(net)
        with ENGINE_SLOTS:
            info = c.api.inspect_container(node.container_name)
            ep = (info["NetworkSettings"]["Networks"] or {}).get(name)
            if ep is None:
                raise LabError(f"{node} is not on network {net}", fix=f"{node.service} is on {', '.join(svc.networks)}")
            short_id = info["Id"][:12]
            current = [a for a in (ep.get("Aliases") or []) if a != short_id]
            wanted = [a for a in dict.fromkeys([svc.name, *node.names, *current, *add]) if a not in remove or a in fixed]
            address = ep.get("IPAMConfig", {}) and ep["IPAMConfig"].get("IPv4Address") or ep.get("IPAddress")
            c.api.disconnect_container_from_network(node.container_name, name)
            c.api.connect_container_to_network(node.container_name, name, aliases=wanted, ipv4_address=address)
        return wanted

"""An environment realized with the Docker SDK: networks, volumes, Toxiproxy links, replicas.

`Environment.up()` starts services in parallel as their dependencies allow and returns when every
health check passes — or raises :class:`HealthCheckFailed` with the unhealthy service's last log
lines after removing everything the run created. `down()` removes exactly the run's objects.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from drillkit import labels as L
from drillkit.errors import HealthCheckFailed, LabError
from drillkit.lab.compose import EnvironmentSpec, ServiceSpec
from drillkit.lab.docker_client import client as docker_client
from drillkit.lab.links import LinkServer

__all__ = ["Environment", "Node"]

log = logging.getLogger("drillkit.lab")
TOXIPROXY_SERVICE = "toxiproxy"
# Docker 20.10 can deadlock under many concurrent container starts and execs (seen here: a wedged
# engine, containers stuck in "Created"); the lab keeps its own engine calls to a few at a time.
ENGINE_SLOTS = threading.BoundedSemaphore(4)


@dataclass(frozen=True)
class Node:
    """One replica of a service: what faults aim at."""

    environment: str
    service: str
    replica: int
    zone: str
    container_name: str
    run: str

    @property
    def name(self) -> str:
        return f"{self.service}-{self.replica}"

    def __str__(self) -> str:
        return f"{self.environment}/{self.name}"


class Environment:
    """A running (or about to run) environment of one drill run; a context manager."""

    def __init__(self, spec: EnvironmentSpec, run_id: str | None = None, *,
                 progress: Callable[[str], None] | None = None, up_timeout: float = 120.0,
                 build: bool = True):
        self.spec = spec
        self.run_id = run_id or L.new_run_id()
        self.progress = progress or (lambda msg: log.info(msg))
        self.up_timeout = up_timeout
        self.build = build
        self.owner = L.owner_token()
        self.nodes: dict[str, list[Node]] = {}
        self.links: LinkServer | None = None
        self.published: dict[tuple[str, int, int], int] = {}  # (service, replica, port) -> host port
        self._toxiproxy_ip: dict[str, str] = {}
        self._subnets: dict[str, tuple[str, int]] = {}   # network -> (a.b.c, next host number)
        self._ips: dict[tuple[str, str], str] = {}       # (network, container) -> fixed address
        self._ip_lock = threading.Lock()
        self._abort = threading.Event()
        self._up = False
        # container name -> why: nodes a fault handed over (heal "none" or a runbook); reset leaves them
        self.left_as_is: dict[str, str] = {}

    # -- naming ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    def _prefix(self) -> str:
        return f"{self.run_id}-{self.spec.name}"

    def _labels(self, **extra: str) -> dict[str, str]:
        return {**L.run_labels(self.run_id, self.spec.name, self.owner), **extra}

    def network_name(self, net: str) -> str:
        return f"{self._prefix()}-{net}"

    def volume_name(self, vol: str) -> str:
        return f"{self._prefix()}-{vol}"

    def container_name(self, service: str, replica: int) -> str:
        return f"{self._prefix()}-{service}-{replica}"

    # -- public API ------------------------------------------------------------------------------
    def __enter__(self) -> "Environment":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    @property
    def docker(self):
        return docker_client()

    def up(self) -> "Environment":
        c = self.docker
        t0 = time.monotonic()
        if not self.owner.startswith("keep:"):
            L.hold_run(self.run_id)  # proof of life for gc, released by the kernel if we die
        if self.build:
            self._build_images(c)
        try:
            self.progress(f"{self.spec.name}: starting (run {self.run_id})")
            self._create_networks(c)
            self._create_volumes(c)
            if self.spec.links:
                self._start_toxiproxy(c)
            self._start_services(c)
        except BaseException:
            self.down()
            raise
        self._up = True
        self.progress(f"{self.spec.name}: healthy in {time.monotonic() - t0:.1f} s "
                      f"({sum(len(v) for v in self.nodes.values())} containers)")
        return self

    def down(self) -> None:
        """Remove every container, network and volume labelled with this run (and nothing else)."""
        from drillkit.lab.gc import remove_run
        remove_run(self.docker, self.run_id)
        L.release_run(self.run_id)
        self._up = False

    def url(self, path: str = "") -> str:
        """The user-facing entry point on 127.0.0.1."""
        if not self.spec.entrypoint:
            raise LabError(f"environment {self.spec.name!r} declares no entry point",
                           fix="add x-drillkit.entrypoint: {service: ..., port: ...}")
        svc, port = self.spec.entrypoint
        return f"http://127.0.0.1:{self.host_port(svc, port)}{path}"

    def host_port(self, service: str, port: int, replica: int = 1) -> int:
        try:
            return self.published[(service, replica, port)]
        except KeyError:
            raise LabError(f"{service}-{replica} does not publish port {port}",
                           fix=f'add "{port}" to services.{service}.ports') from None

    def link_url(self, link: str, path: str = "") -> str:
        """A link's listener on 127.0.0.1: traffic sent here passes the link (and its toxics)."""
        spec = next((l for l in self.spec.links if l.name == link), None)
        if spec is None:
            raise LabError(f"no link {link!r} in {self.spec.name}",
                           fix=f"links: {', '.join(l.name for l in self.spec.links) or 'none declared'}")
        return f"http://127.0.0.1:{self.host_port(TOXIPROXY_SERVICE, spec.listen)}{path}"

    def node(self, service: str, replica: int = 1) -> Node:
        try:
            return self.nodes[service][replica - 1]
        except (KeyError, IndexError):
            raise LabError(f"no node {service}-{replica} in {self.spec.name}",
                           fix=f"services: {', '.join(self.nodes)}") from None

    def all_nodes(self) -> list[Node]:
        return [n for ns in self.nodes.values() for n in ns]

    def container(self, node: Node):
        return self.docker.containers.get(node.container_name)

    def logs(self, service: str, tail: int = 200) -> str:
        out = []
        for n in self.nodes.get(service, []):
            try:
                text = self.docker.api.logs(n.container_name, tail=tail, timestamps=False).decode("utf-8", "replace")
            except Exception as exc:  # container gone
                text = f"(no logs: {exc})"
            out.append(f"=== {n.name} ===\n{text}")
        return "\n".join(out)

    def exec(self, node: Node, cmd: list[str] | str, *, user: str | None = None, check: bool = True) -> str:
        c = self.docker
        res = c.api.exec_create(node.container_name, cmd, user=user or "")
        output = c.api.exec_start(res["Id"]).decode("utf-8", "replace")
        code = c.api.exec_inspect(res["Id"])["ExitCode"]
        if check and code != 0:
            raise LabError(f"{node}: `{cmd if isinstance(cmd, str) else ' '.join(cmd)}` exited {code}: "
                           f"{output.strip()[-300:]}")
        return output

    def is_running(self, node: Node) -> bool:
        try:
            st = self.docker.api.inspect_container(node.container_name)["State"]
            return bool(st["Running"]) and not st["Paused"]
        except Exception:
            return False

    def leave_as_is(self, node: Node, why: str) -> None:
        """Mark a node as handed over (a fault healed by ``none`` or a runbook): `reset` will not
        start, unpause or otherwise resurrect it (a fenced database primary stays down)."""
        self.left_as_is[node.container_name] = why

    def release(self, node: Node) -> None:
        """The node is the lab's again (a fault brought it back): `reset` looks after it."""
        self.left_as_is.pop(node.container_name, None)

    def reset(self, timeout: float = 60.0) -> None:
        """Back to the state after `up`: toxics removed, links up, killed/stopped/paused nodes back —
        except nodes marked `leave_as_is` (see `left_as_is`), which stay as they are."""
        if self.links:
            self.links.reset()
        c = self.docker
        todo = []
        for n in self.all_nodes():
            if n.container_name in self.left_as_is:
                self.progress(f"{self.spec.name}: reset leaves {n.name} as it is "
                              f"({self.left_as_is[n.container_name]})")
                continue
            st = c.api.inspect_container(n.container_name)["State"]
            if st["Paused"]:
                c.api.unpause(n.container_name)
            if not st["Running"]:
                c.api.start(n.container_name)
                todo.append(n)
            elif st.get("Health", {}).get("Status") not in (None, "healthy"):
                todo.append(n)
        for n in todo:
            self.wait_healthy(n, deadline=timeout)

    def scale(self, service: str, replicas: int, *, deadline: float = 60.0) -> list[Node]:
        """Add replicas to a running service (scale-out during a drill) or remove the newest ones.

        New replicas get the next numbers (aliases ``<service>-<n>``), the service's zones cycled,
        and the same labels; the call returns when they are healthy. Returns the nodes added.
        """
        svc = self.spec.services.get(service)
        if svc is None:
            raise LabError(f"no service {service!r} in {self.spec.name}", fix=f"services: {', '.join(self.spec.services)}")
        if not 1 <= replicas <= 50:
            raise LabError(f"replicas must be 1..50, got {replicas}", fix="give a whole number between 1 and 50")
        c = self.docker
        current = self.nodes.setdefault(service, [])
        added: list[Node] = []
        if replicas > len(current):
            with ThreadPoolExecutor(max_workers=replicas - len(current)) as pool:
                added = list(pool.map(lambda r: self._create_replica(c, svc, r),
                                      range(len(current) + 1, replicas + 1)))
            current.extend(added)
            t_end = time.monotonic() + deadline
            for n in added:
                self._await_state(c, svc, n, need_health=svc.healthcheck is not None, deadline=t_end)
        else:
            while len(current) > replicas:
                n = current.pop()
                c.api.remove_container(n.container_name, force=True)
        self.progress(f"{self.spec.name}: {service} scaled to {replicas}")
        return added

    def wait_healthy(self, node: Node, deadline: float = 60.0) -> float:
        """Wait until a node's health check passes (or it runs, without one); returns seconds waited."""
        svc = self.spec.services[node.service]
        t0 = time.monotonic()
        self._await_state(self.docker, svc, node, need_health=svc.healthcheck is not None,
                          deadline=t0 + deadline)
        return time.monotonic() - t0

    # -- building --------------------------------------------------------------------------------
    def build_specs(self) -> list:
        from drillkit.lab.images import BuildSpec
        specs = []
        seen = set()
        for s in self.spec.services.values():
            if s.build_context and s.image not in seen:
                seen.add(s.image)
                specs.append(BuildSpec(tag=s.image, context=s.build_context, dockerfile=s.dockerfile,
                                       args=s.build_args or None))
        return specs

    def _build_images(self, c) -> None:
        from drillkit.lab import images
        specs = self.build_specs()
        if specs:
            images.ensure_base_images(c, specs, progress=self.progress)
            images.build_images(c, specs, progress=self.progress)
        if self.spec.links:
            images.ensure_toxiproxy_image(c, progress=self.progress)

    # -- creating --------------------------------------------------------------------------------
    def _create_networks(self, c) -> None:
        """Each network gets its own /24, so every container can keep a fixed address: a node that
        is killed and started again comes back under the same IP, as a rebooted server does
        (with dynamic addresses, nodes restarted together can swap IPs under a load balancer
        that still holds the old ones)."""
        import docker.types
        import random
        rng = random.Random()
        for net in self.spec.networks:
            for attempt in range(64):
                third = rng.randrange(0, 256)
                subnet = f"172.29.{third}.0/24"
                ipam = docker.types.IPAMConfig(pool_configs=[
                    docker.types.IPAMPool(subnet=subnet, gateway=f"172.29.{third}.1")])
                try:
                    c.api.create_network(self.network_name(net), driver="bridge", check_duplicate=True,
                                         ipam=ipam, labels=self._labels(**{L.ROLE: "network"}))
                except Exception as exc:
                    if "overlap" in str(exc).lower() and attempt < 63:
                        continue
                    raise
                self._subnets[net] = (f"172.29.{third}", 10)
                break

    def _address(self, net: str, container: str) -> str:
        """The fixed address of a container on a network (the same for a container re-created
        under the same name, e.g. a node upgraded in place)."""
        key = (net, container)
        if key not in self._ips:
            prefix, nxt = self._subnets[net]
            if nxt > 254:
                raise LabError(f"network {net}: more than 245 containers", fix="split the environment")
            self._ips[key] = f"{prefix}.{nxt}"
            self._subnets[net] = (prefix, nxt + 1)
        return self._ips[key]

    def _create_volumes(self, c) -> None:
        for vol in self.spec.volumes:
            c.api.create_volume(self.volume_name(vol), labels=self._labels(**{L.ROLE: "volume"}))

    def _start_toxiproxy(self, c) -> None:
        from drillkit.lab.images import TOXIPROXY_IMAGE
        name = f"{self._prefix()}-{TOXIPROXY_SERVICE}-1"
        nets = self.spec.networks
        # the API and every link's listener are published on 127.0.0.1 (a probe can go through a link)
        listens = [l.listen for l in self.spec.links]
        # Toxiproxy dials upstreams without a timeout; a dial to a node killed a moment ago (its address
        # gone, SYNs unanswered) then takes Linux's full SYN retry time (~2 min), and Toxiproxy's update
        # of that link (a runbook's repoint) waits for it. Two SYN retries bound it to ~7 s.
        host_config = c.api.create_host_config(
            port_bindings={8474: ("127.0.0.1", None), **{p: ("127.0.0.1", None) for p in listens}},
            sysctls={"net.ipv4.tcp_syn_retries": "2"})
        with self._ip_lock:
            addrs = {net: self._address(net, name) for net in nets}
        netcfg = c.api.create_networking_config({
            self.network_name(nets[0]): c.api.create_endpoint_config(aliases=[TOXIPROXY_SERVICE],
                                                                     ipv4_address=addrs[nets[0]])})
        labels = self._labels(**{L.SERVICE: TOXIPROXY_SERVICE, L.REPLICA: "1", L.ZONE: "lab",
                                 L.ROLE: "link-proxy"})
        c.api.create_container(TOXIPROXY_IMAGE, name=name, labels=labels, host_config=host_config,
                               networking_config=netcfg, ports=[8474, *listens], detach=True)
        for net in nets[1:]:
            c.api.connect_container_to_network(name, self.network_name(net), aliases=[TOXIPROXY_SERVICE],
                                               ipv4_address=addrs[net])
        c.api.start(name)
        info = c.api.inspect_container(name)
        ports = info["NetworkSettings"]["Ports"]
        port = int(ports["8474/tcp"][0]["HostPort"])
        for p in listens:
            self.published[(TOXIPROXY_SERVICE, 1, p)] = int(ports[f"{p}/tcp"][0]["HostPort"])
        for net in nets:
            self._toxiproxy_ip[net] = info["NetworkSettings"]["Networks"][self.network_name(net)]["IPAddress"]
        self.links = LinkServer("127.0.0.1", port)
        self.links.wait_ready()
        for link in self.spec.links:
            self.links.create(link.name, f"0.0.0.0:{link.listen}", f"{link.target}:{link.port}")
        self.progress(f"{self.spec.name}: toxiproxy up with links "
                      f"{', '.join(l.name for l in self.spec.links)}")

    def _extra_hosts(self, svc: ServiceSpec) -> dict[str, str]:
        hosts = {}
        for link in self.spec.links:
            if svc.name in link.sources:
                net = next((n for n in svc.networks if n in self._toxiproxy_ip), None)
                if net is None:
                    raise LabError(f"link {link.name!r}: {svc.name} shares no network with toxiproxy")
                hosts[link.target] = self._toxiproxy_ip[net]
        return hosts

    def _create_replica(self, c, svc: ServiceSpec, replica: int) -> Node:
        with ENGINE_SLOTS:
            return self._create_replica_unbounded(c, svc, replica)

    def _create_replica_unbounded(self, c, svc: ServiceSpec, replica: int) -> Node:
        zone = svc.zone_of(replica)
        name = self.container_name(svc.name, replica)
        node = Node(self.spec.name, svc.name, replica, zone, name, self.run_id)
        env = {**svc.environment, "DRILLKIT_SERVICE": svc.name, "DRILLKIT_REPLICA": str(replica),
               "DRILLKIT_NODE": node.name, "DRILLKIT_ZONE": zone, "DRILLKIT_RUN": self.run_id}
        labels = {**svc.labels, **self._labels(**{L.SERVICE: svc.name, L.REPLICA: str(replica),
                                                   L.ZONE: zone, L.ROLE: "service"})}
        port_bindings = {f"{p.container_port}/{p.protocol}": ("127.0.0.1", p.host_port) for p in svc.ports}
        binds = [f"{self.volume_name(v)}:{path}:{mode}" for v, path, mode in svc.volumes]
        tmpfs = {}
        for t in svc.tmpfs:
            path, _, opts = t.partition(":")
            tmpfs[path] = opts
        host_config = c.api.create_host_config(
            port_bindings=port_bindings or None, binds=binds or None, cap_add=svc.cap_add or None,
            extra_hosts=self._extra_hosts(svc) or None, tmpfs=tmpfs or None, init=True)
        nets = list(svc.networks.items())
        first_net, first_aliases = nets[0]
        aliases = [svc.name, node.name, *first_aliases]
        with self._ip_lock:
            addrs = {net: self._address(net, name) for net, _ in nets}
        netcfg = c.api.create_networking_config({
            self.network_name(first_net): c.api.create_endpoint_config(aliases=aliases,
                                                                       ipv4_address=addrs[first_net])})
        healthcheck = None
        if svc.healthcheck:
            h = svc.healthcheck
            healthcheck = {"test": h["test"], "interval": int(h["interval"] * 1e9),
                           "timeout": int(h["timeout"] * 1e9), "retries": h["retries"],
                           "start_period": int(h["start_period"] * 1e9)}
        kwargs: dict[str, Any] = {}
        if svc.stop_grace_period is not None:
            kwargs["stop_timeout"] = int(svc.stop_grace_period)
        c.api.create_container(
            svc.image, name=name, command=svc.command, entrypoint=svc.entrypoint, environment=env,
            labels=labels, host_config=host_config, networking_config=netcfg, detach=True,
            ports=[(p.container_port, p.protocol) for p in svc.ports] or None, healthcheck=healthcheck,
            working_dir=svc.working_dir, user=svc.user or "", hostname=node.name, **kwargs)
        for net, extra_aliases in nets[1:]:
            c.api.connect_container_to_network(name, self.network_name(net),
                                               aliases=[svc.name, node.name, *extra_aliases],
                                               ipv4_address=addrs[net])
        c.api.start(name)
        if svc.ports:
            info = c.api.inspect_container(name)["NetworkSettings"]["Ports"]
            for p in svc.ports:
                bound = info.get(f"{p.container_port}/{p.protocol}") or []
                if bound:
                    self.published[(svc.name, replica, p.container_port)] = int(bound[0]["HostPort"])
        return node

    def _start_services(self, c) -> None:
        services = self.spec.services
        started = {n: threading.Event() for n in services}
        healthy = {n: threading.Event() for n in services}
        errors: list[BaseException] = []
        deadline = time.monotonic() + self.up_timeout

        def run(svc: ServiceSpec) -> None:
            try:
                for dep, cond in svc.depends_on.items():
                    ev = healthy[dep] if cond == "service_healthy" else started[dep]
                    while not ev.wait(0.05):
                        if self._abort.is_set():
                            return
                        if time.monotonic() > deadline:
                            raise LabError(f"{svc.name}: still waiting for {dep} after {self.up_timeout:.0f} s")
                with ThreadPoolExecutor(max_workers=svc.replicas, thread_name_prefix="dk-rep") as reps:
                    nodes = list(reps.map(lambda r: self._create_replica(c, svc, r),
                                          range(1, svc.replicas + 1)))
                    self.nodes[svc.name] = nodes
                    started[svc.name].set()
                    list(reps.map(lambda n: self._await_state(c, svc, n, need_health=svc.healthcheck is not None,
                                                              deadline=deadline), nodes))
                healthy[svc.name].set()
                self.progress(f"{self.spec.name}: {svc.name} ready ({len(nodes)} × "
                              f"{'healthy' if svc.healthcheck else 'running'})")
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                errors.append(exc)
                self._abort.set()

        # keep node order stable for callers: fill in declaration order
        for n in services:
            self.nodes.setdefault(n, [])
        with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="dk-up") as pool:
            list(pool.map(run, services.values()))
        if errors:
            first = next((e for e in errors if isinstance(e, HealthCheckFailed)), errors[0])
            raise first

    @staticmethod
    def health_grace(svc: ServiceSpec) -> float:
        """How long an `unhealthy` node may take to turn healthy before start-up gives up on it.

        Docker turns `unhealthy` back to `healthy` on the next passing check, and a busy machine can
        make the first checks time out; a check that never passes still fails well within this.
        """
        h = svc.healthcheck or {}
        one_round = h.get("start_period", 0) + h.get("retries", 3) * (h.get("interval", 1) + h.get("timeout", 2))
        return max(15.0, 3 * one_round)

    def _check_now(self, c, svc: ServiceSpec, node: Node) -> bool:
        """Run the service's own health test in the container right away (Docker runs its first
        check only after `interval`); the same test, so passing it is the health check passing."""
        test = (svc.healthcheck or {}).get("test") or []
        if not test or test[0] not in ("CMD", "CMD-SHELL"):
            return False
        cmd = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        limit = max(1, int(round(svc.healthcheck.get("timeout", 2))))
        try:
            with ENGINE_SLOTS:
                ex = c.api.exec_create(node.container_name, ["timeout", str(limit), *cmd], stdout=False,
                                       stderr=False)
                c.api.exec_start(ex["Id"])
                return c.api.exec_inspect(ex["Id"]).get("ExitCode") == 0
        except Exception:  # no `timeout` in the image, container gone: Docker's own status decides
            return False

    def _await_state(self, c, svc: ServiceSpec, node: Node, *, need_health: bool, deadline: float) -> None:
        unhealthy_since: float | None = None
        grace = self.health_grace(svc)
        own_checks = 0
        while True:
            if self._abort.is_set() and not self._up:
                raise LabError(f"{node.name}: start-up aborted (another service failed)")
            st = c.api.inspect_container(node.container_name)["State"]
            if not st["Running"] and st["Status"] in ("exited", "dead"):
                raise self._unhealthy(node, f"exited with code {st.get('ExitCode')}")
            health = (st.get("Health") or {}).get("Status")
            if st["Running"] and (not need_health or health == "healthy"):
                return
            if st["Running"] and health == "starting" and own_checks < 200:
                own_checks += 1
                if self._check_now(c, svc, node):
                    return
                time.sleep(0.1)
                continue
            if health == "unhealthy":
                unhealthy_since = unhealthy_since or time.monotonic()
                if time.monotonic() - unhealthy_since > grace:
                    last = ((st.get("Health") or {}).get("Log") or [{}])[-1].get("Output", "").strip()
                    raise self._unhealthy(node, f"health check failed for {grace:.0f} s "
                                                f"({last[-200:] or 'no output'})")
            else:
                unhealthy_since = None
            if time.monotonic() > deadline:
                raise self._unhealthy(node, f"not healthy after {self.up_timeout:.0f} s")
            time.sleep(0.05)

    def _unhealthy(self, node: Node, why: str) -> HealthCheckFailed:
        try:
            logs = self.docker.api.logs(node.container_name, tail=20).decode("utf-8", "replace").rstrip()
        except Exception:
            logs = "(no logs)"
        last = " | ".join(l for l in logs.splitlines()[-5:] if l.strip()) or "(no output)"
        return HealthCheckFailed(f"{self.spec.name}: service {node.service} ({node.name}) {why}; "
                                 f"last log lines: {last}", service=node.service, logs=logs,
                                 fix=f"look at {self.spec.file} services.{node.service} "
                                     "(healthcheck, command) and the log above")

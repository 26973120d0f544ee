"""The lab on a Docker Swarm (``--backend swarm``): each replica a swarm service, each zone a host.

What differs from the docker backend, and why:

* A replica is a swarm service with one task (``<run>-<env>-<service>-<n>``), so it keeps its own
  network alias ``<service>-<n>`` and its zone; all replicas share the alias ``<service>``.
* Endpoints are ``dnsrr``: the names resolve to the tasks' own addresses (VIPs and the ingress
  routing mesh need IPVS, which this kernel lacks), so load balancers see each replica.
* A zone is a node label; each replica is pinned to its zone's node. ``zone_kill`` kills the zone's
  whole host (the Docker-in-Docker node) and everything on it; heal starts the host again.
* Restart policy ``none``: a killed replica stays down until the fault heals it, as on one engine.
  Bringing a replica back means a new task (``service update --force``): same name, aliases and
  zone, but a new address (dnsrr resolvers follow; the lab's resolvers re-read every second).
* Toxiproxy runs as a service on the manager; link sources get a hosts entry to its address.
* A paused replica fails its health check; swarm then stops its task: a long ``pause`` ends as a
  ``kill`` here (one engine leaves it frozen).

Every object carries the run's labels: services, their containers, networks, node labels;
teardown removes the run's services, networks, configs and secrets from the swarm and, when the
backend made the cluster, the nodes themselves.
"""

from __future__ import annotations

import dataclasses
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import docker.errors
import docker.types

from drillkit import labels as L
from drillkit.errors import LabError
from drillkit.lab import health, images
from drillkit.lab.backend import Backend, NetworkInfo, NodeState, link_hosts, register_backend
from drillkit.lab.backends.swarm import plan as P
from drillkit.lab.backends.swarm.cluster import SwarmCluster, cleanup_host
from drillkit.lab.compose import ServiceSpec
from drillkit.lab.engine import ENGINE_SLOTS
from drillkit.lab.images import TOXIPROXY_IMAGE
from drillkit.lab.links import LinkServer
from drillkit.lab.node import Node
from drillkit.lab.startup import start_in_order

if TYPE_CHECKING:  # pragma: no cover
    from drillkit.lab.environment import Environment

__all__ = ["SwarmBackend", "remove_swarm_objects"]

TASK_WAIT_S = 60.0
UPDATE_ATTEMPTS = 5   # a service update that lost a race with the swarm (out of sequence): read again, retry
# task states after which swarm (restart policy none) will not run the replica again by itself;
# "exited"/"dead"/"created"/"removed": the task's container as its engine reports it
TERMINAL = {"failed", "shutdown", "complete", "rejected", "orphaned", "remove", "none",
            "exited", "dead", "created", "removed"}


def remove_swarm_objects(manager, run_id: str, *, nodes: list | None = None, wait: float = 60.0) -> dict[str, int]:
    """Remove the run's services, networks, configs and secrets from a swarm (by label), and wait
    until the services' containers are gone from ``nodes`` (inner engine clients). The containers
    are killed first, as on one engine: a lab run needs no graceful stop (a PostgreSQL task would
    otherwise take its whole grace period)."""
    flt = {"label": f"{L.RUN}={run_id}"}
    api = manager.api

    def kill_all(c) -> None:
        try:
            for x in c.api.containers(filters=flt):
                try:
                    c.api.kill(x["Id"], signal="SIGKILL")
                except docker.errors.APIError:   # gone or stopped meanwhile
                    pass
        except Exception:   # a node that is down has nothing left to kill
            pass
    if nodes:
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(kill_all, nodes))
    services = api.services(filters=flt)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(services)))) as pool:
        list(pool.map(lambda s: _ignore_missing(api.remove_service, s["ID"]), services))
    end = time.monotonic() + wait
    while nodes and time.monotonic() < end:
        left = 0
        for c in nodes:
            try:
                left += len(c.api.containers(all=True, filters=flt))
            except Exception:   # a node that is down has nothing to stop
                pass
        if not left:
            break
        time.sleep(0.1)
    counts = {"services": len(services), "networks": 0, "configs": 0, "secrets": 0}
    for net in api.networks(filters=flt):
        for attempt in range(50):   # a network is busy while its last tasks detach
            try:
                api.remove_network(net["Id"])
                counts["networks"] += 1
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                time.sleep(0.1)
    for cfg in api.configs(filters=flt):
        _ignore_missing(api.remove_config, cfg["ID"])
        counts["configs"] += 1
    for sec in api.secrets(filters=flt):
        _ignore_missing(api.remove_secret, sec["ID"])
        counts["secrets"] += 1
    return counts


def _ignore_missing(fn, *args) -> None:
    try:
        fn(*args)
    except docker.errors.NotFound:
        pass


@register_backend("swarm")
class SwarmBackend(Backend):
    """Services on a Docker Swarm of Docker-in-Docker nodes, one per zone."""

    name = "swarm"

    def __init__(self, env: "Environment", cluster: SwarmCluster | None = None):
        super().__init__(env)
        self.cluster = cluster
        self.owns_cluster = cluster is None
        self.ports = {(p.service, p.replica, p.target): p for p in P.plan_ports(env.spec)}
        self._networks: dict[str, str] = {}        # declared name -> network id
        self._toxiproxy_ip: dict[str, str] = {}
        self._service_ids: dict[str, str] = {}     # service name -> id
        self._superseded: set[str] = set()         # task ids replaced by a forced update
        self._defined: dict[str, ServiceSpec] = {}  # replica service -> the definition it runs, if not the file's
        self._lock = threading.Lock()

    @classmethod
    def host_leftovers(cls, run_id: str, engine_rows: list[dict]) -> list[str]:
        """A run's swarm nodes leave a socket folder and cgroups on the host (sign: a node container
        among the run's rows, or the run's socket folder still there)."""
        if any((r.get("Labels") or {}).get(L.ROLE) == "swarm-node" for r in engine_rows) \
                or (L.RUN_DIR / f"{run_id}.swarm").exists():
            return [f"could not remove {p}" for p in cleanup_host(run_id)]
        return []

    def describe(self) -> str:
        n = len(self.cluster.nodes) if self.cluster else len(P.zones(self.env.spec))
        return f"swarm of {n} node(s)"

    # -- lifecycle -------------------------------------------------------------------------------
    def prepare(self) -> None:
        env = self.env
        if env.build:
            env._build_images()
        elif env.spec.links:
            images.ensure_toxiproxy_image(env.docker, progress=env.progress)
        if self.cluster is None:
            self.cluster = SwarmCluster.for_environment(env.spec, env.run_id, owner=env.owner,
                                                        progress=env.progress)
            self.cluster.create()

    def realize(self) -> None:
        env, spec = self.env, self.env.spec
        mgr = self.cluster.manager
        for net in spec.networks:
            res = mgr.api.create_network(env.network_name(net), driver="overlay", attachable=True,
                                         labels=env._labels(**{L.ROLE: "network"}))
            self._networks[net] = res["Id"]
        for n in spec.services:
            env.nodes.setdefault(n, [])
        links_ready, link_error = threading.Event(), []
        proxy = None
        if spec.links:   # in parallel: only the links' sources wait for it (they need its address)
            def links() -> None:
                try:
                    self._start_toxiproxy()
                    links_ready.set()
                except BaseException as exc:  # noqa: BLE001 - raised below
                    link_error.append(exc)
                    env._abort.set()
            proxy = threading.Thread(target=links, daemon=True, name="dk-swarm-links")
            proxy.start()
        else:
            links_ready.set()

        def start(svc: ServiceSpec) -> list:
            nodes = [self._create_service(svc, r) for r in range(1, svc.replicas + 1)]
            env.nodes[svc.name] = nodes
            return nodes

        try:
            start_in_order(spec.services, start=start,
                           ready=lambda svc, n, deadline: self._await(n, deadline),
                           gates=lambda svc: [links_ready] if any(svc.name in l.sources for l in spec.links) else [],
                           deadline=time.monotonic() + env.up_timeout, abort=env._abort,
                           progress=env.progress, env_name=spec.name, timeout_s=env.up_timeout)
        finally:
            if proxy is not None:
                proxy.join()
        if link_error:
            raise link_error[0]
        self.refresh_published()

    def teardown(self) -> None:
        if self.cluster is None:
            return
        if self.owns_cluster:
            self.cluster.destroy()   # the swarm and everything in it goes with its nodes
            return
        remove_swarm_objects(self.cluster.manager, self.env.run_id, nodes=self._live_clients())

    def _live_clients(self) -> list:
        return [self.cluster.client(z) for z in self.cluster.nodes if self.cluster.node_running(z)]

    def refresh_published(self) -> None:
        """Host ports of every published port (a node started again may get new ones)."""
        for (service, replica, target), p in self.ports.items():
            if self.cluster.node_running(p.zone):
                self.env.published[(service, replica, target)] = self.cluster.host_port(p.zone, p.node_port)
        if self.env.spec.links:
            self.env.links = LinkServer("127.0.0.1", self.env.published[(P.TOXIPROXY, 1, P.TOXIPROXY_API)])

    # -- creating --------------------------------------------------------------------------------
    def _endpoint(self, service: str, replica: int, ports: list[tuple[int, str]]):
        spec_ports = {}
        for target, proto in ports:
            p = self.ports[(service, replica, target)]
            spec_ports[p.node_port] = (target, proto, "host")
        return docker.types.EndpointSpec(mode="dnsrr", ports=spec_ports or None)

    def _start_toxiproxy(self) -> None:
        env = self.env
        name = P.service_name(env._prefix(), P.TOXIPROXY, 1)
        labels = env._labels(**{L.SERVICE: P.TOXIPROXY, L.REPLICA: "1", L.ZONE: P.MANAGER_ZONE,
                                L.ROLE: "link-proxy"})
        cs = docker.types.ContainerSpec(TOXIPROXY_IMAGE, labels=labels, hostname=P.TOXIPROXY)
        nets = [docker.types.NetworkAttachmentConfig(self._networks[n], aliases=[P.TOXIPROXY])
                for n in env.spec.networks]
        tt = docker.types.TaskTemplate(cs, restart_policy=docker.types.RestartPolicy(condition="none"),
                                       placement=docker.types.Placement(constraints=[P.constraint(P.MANAGER_ZONE)]),
                                       networks=nets)
        ports = [(P.TOXIPROXY_API, "tcp")] + [(l.listen, "tcp") for l in env.spec.links]
        res = self.cluster.manager.api.create_service(tt, name=name, labels=labels,
                                                      endpoint_spec=self._endpoint(P.TOXIPROXY, 1, ports))
        self._service_ids[name] = res["ID"]
        proxy = self._proxy_node()
        self._wait_task(proxy, time.monotonic() + TASK_WAIT_S)
        self._toxiproxy_ip = self.addresses(proxy)
        self.refresh_published()
        env.links.wait_ready()
        for link in env.spec.links:
            env.links.create(link.name, f"0.0.0.0:{link.listen}", f"{link.target}:{link.port}")
        env.progress(f"{env.spec.name}: toxiproxy service up with links {', '.join(l.name for l in env.spec.links)}")

    def _proxy_node(self) -> "Node":
        env = self.env
        return Node(env.spec.name, P.TOXIPROXY, 1, P.MANAGER_ZONE,
                    P.service_name(env._prefix(), P.TOXIPROXY, 1), env.run_id)

    def _hosts(self, svc: ServiceSpec) -> dict[str, str]:
        return link_hosts(self.env.spec, svc, self._toxiproxy_ip)

    def _task_template(self, svc: ServiceSpec, node: "Node") -> docker.types.TaskTemplate:
        env = self.env
        labels = {**svc.labels, **env._labels(**{L.SERVICE: svc.name, L.REPLICA: str(node.replica),
                                                   L.ZONE: node.zone, L.ROLE: "service"})}
        mounts = [docker.types.Mount(path, env.volume_name(v), type="volume", read_only=(mode == "ro"),
                                     labels=env._labels(**{L.ROLE: "volume"}))
                  for v, path, mode in svc.volumes]
        for t in svc.tmpfs:
            path, _, opts = t.partition(":")
            size = next((o.split("=", 1)[1] for o in opts.split(",") if o.startswith("size=")), None)
            mounts.append(docker.types.Mount(path, None, type="tmpfs", tmpfs_size=size))
        healthcheck = None
        if svc.healthcheck:
            h = svc.healthcheck
            healthcheck = docker.types.Healthcheck(test=h["test"], interval=int(h["interval"] * 1e9),
                                                   timeout=int(h["timeout"] * 1e9), retries=h["retries"],
                                                   start_period=int(h["start_period"] * 1e9))
        # a string is split like the engine's API client splits it for `docker run`
        entry = shlex.split(svc.entrypoint) if isinstance(svc.entrypoint, str) else svc.entrypoint
        args = shlex.split(svc.command) if isinstance(svc.command, str) else svc.command
        cs = docker.types.ContainerSpec(
            svc.image, command=entry, args=args, hostname=node.name,
            env={**svc.environment, **env.node_environment(node)}, workdir=svc.working_dir,
            user=svc.user or None, labels=labels, mounts=mounts or None,
            stop_grace_period=int(svc.stop_grace_period * 1e9) if svc.stop_grace_period is not None else None,
            healthcheck=healthcheck, hosts=self._hosts(svc) or None, init=True, cap_add=svc.cap_add or None)
        nets = [docker.types.NetworkAttachmentConfig(self._networks[net],
                                                     aliases=list(dict.fromkeys([svc.name, *node.names, *aliases])))
                for net, aliases in svc.networks.items()]
        return docker.types.TaskTemplate(cs, restart_policy=docker.types.RestartPolicy(condition="none"),
                                         placement=docker.types.Placement(constraints=[P.constraint(node.zone)]),
                                         networks=nets)

    def _create_service(self, svc: ServiceSpec, replica: int, *, image: str | None = None,
                        environment: dict[str, str] | None = None) -> "Node":
        env = self.env
        node = Node(env.spec.name, svc.name, replica, svc.zone_of(replica),
                    P.service_name(env._prefix(), svc.name, replica), env.run_id,
                    single=svc.replicas == 1 and replica == 1)
        if image or environment:
            svc = dataclasses.replace(svc, image=image or svc.image,
                                      environment={**svc.environment, **(environment or {})})
        if svc.zone_of(replica) not in self.cluster.nodes:
            raise LabError(f"{node}: zone {node.zone} has no swarm node", fix="zones are fixed when the swarm is made")
        labels = {**svc.labels, **env._labels(**{L.SERVICE: svc.name, L.REPLICA: str(replica),
                                                   L.ZONE: node.zone, L.ROLE: "service"})}
        with ENGINE_SLOTS:
            res = self.cluster.manager.api.create_service(
                self._task_template(svc, node), name=node.container_name, labels=labels,
                endpoint_spec=self._endpoint(svc.name, replica, [(p.container_port, p.protocol) for p in svc.ports]))
        with self._lock:
            self._service_ids[node.container_name] = res["ID"]
        return node

    # -- tasks -----------------------------------------------------------------------------------
    def _service_id(self, node: "Node") -> str:
        sid = self._service_ids.get(node.container_name)
        if sid is None:
            sid = self.cluster.manager.api.inspect_service(node.container_name)["ID"]
            self._service_ids[node.container_name] = sid
        return sid

    def _task(self, node: "Node") -> dict | None:
        """The replica's newest task (None before the first is scheduled)."""
        tasks = self.cluster.manager.api.tasks(filters={"service": self._service_id(node)})
        return max((t for t in tasks if t["ID"] not in self._superseded),
                   key=lambda t: t.get("CreatedAt", ""), default=None)

    def _container(self, node: "Node"):
        """(inner engine client, container id) of the replica's current task, or (None, None)."""
        task = self._task(node)
        cid = ((task or {}).get("Status") or {}).get("ContainerStatus", {}).get("ContainerID")
        zone = self.cluster.zone_of_node_id((task or {}).get("NodeID", ""))
        if not cid or zone is None or not self.cluster.node_running(zone):
            return None, None
        return self.cluster.client(zone), cid

    def _require(self, node: "Node"):
        c, cid = self._container(node)
        if c is None:
            raise LabError(f"{node}: no running task (its replica or its zone's host is down)",
                           fix="heal the fault that took it down first")
        return c, cid

    def _wait_task(self, node: "Node", deadline: float) -> tuple:
        """Until the newest task has a container that runs; (client, container id)."""
        while True:
            task = self._task(node)
            state = ((task or {}).get("Status") or {}).get("State")
            if state in ("failed", "rejected"):   # the newest task ended: it will not come up
                err = (task.get("Status") or {}).get("Err") or state
                raise self.env.unhealthy(node, f"task {state}: {err}")
            c, cid = self._container(node)
            if c is not None:
                try:
                    if c.api.inspect_container(cid)["State"]["Running"]:
                        return c, cid
                except docker.errors.NotFound:
                    pass
            if time.monotonic() > deadline:
                err = ((task or {}).get("Status") or {}).get("Err")
                raise self.env.unhealthy(node, f"no running task in time (task {state or 'not scheduled'}"
                                               f"{': ' + err if err else ''})")
            time.sleep(0.05)

    def _await(self, node: "Node", deadline: float) -> None:
        env = self.env
        svc = self._defined.get(node.container_name) or env.spec.services[node.service]
        c, cid = self._wait_task(node, deadline)
        health.await_container(c.api, cid, healthcheck=svc.healthcheck, deadline=deadline, what=node.name,
                               unhealthy=lambda why: env.unhealthy(node, why),
                               aborted=lambda: env._abort.is_set() and not env._up, slots=ENGINE_SLOTS)

    def _force_update(self, node: "Node", attempts: int = UPDATE_ATTEMPTS) -> None:
        """A new task for the replica (swarm's way to start it again). An update names the service's
        version it read; when the swarm changed the service in between (seen as the zone's node came
        back: "update out of sequence"), the service is read again and the update retried."""
        api = self.cluster.manager.api
        sid = self._service_id(node)
        self._superseded.update(t["ID"] for t in api.tasks(filters={"service": sid}))
        for attempt in range(1, attempts + 1):
            info = api.inspect_service(sid)
            tt = info["Spec"]["TaskTemplate"]
            tt["ForceUpdate"] = int(tt.get("ForceUpdate", 0)) + 1
            try:
                api.update_service(sid, info["Version"]["Index"], task_template=tt, fetch_current_spec=True)
                return
            except docker.errors.APIError as exc:
                if "update out of sequence" not in str(exc) or attempt == attempts:
                    raise
            time.sleep(0.1 * attempt)

    # -- process primitives ----------------------------------------------------------------------
    def kill(self, node: "Node", signal: str = "SIGKILL") -> None:
        c, cid = self._require(node)
        try:
            c.api.kill(cid, signal=signal)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:   # 409: not running (any more): nothing to kill
                raise

    def stop(self, node: "Node", timeout: float) -> None:
        c, cid = self._require(node)
        c.api.stop(cid, timeout=int(timeout))

    def pause(self, node: "Node") -> None:
        c, cid = self._require(node)
        c.api.pause(cid)

    def unpause(self, node: "Node") -> None:
        c, cid = self._require(node)
        c.api.unpause(cid)

    def start(self, node: "Node") -> None:
        st = self.state(node)
        if st.paused:
            self.unpause(node)
        elif not st.running and st.status in TERMINAL:   # a task on its way up is left alone
            self._force_update(node)

    def restart(self, node: "Node", timeout: float = 1.0) -> None:
        self._force_update(node)   # swarm stops the old task (its grace period) and starts a new one

    def state(self, node: "Node") -> NodeState:
        task = self._task(node)
        c, cid = self._container(node)
        if c is None:
            return NodeState(running=False, status=((task or {}).get("Status") or {}).get("State", "none"))
        try:
            st = c.api.inspect_container(cid)["State"]
        except docker.errors.NotFound:
            return NodeState(running=False, status="removed")
        return NodeState(running=bool(st["Running"]), paused=bool(st["Paused"]),
                         health=(st.get("Health") or {}).get("Status"), status=st.get("Status", ""),
                         exit_code=st.get("ExitCode"))

    def wait_healthy(self, node: "Node", deadline: float = 60.0) -> float:
        t0 = time.monotonic()
        self._await(node, t0 + deadline)
        return time.monotonic() - t0

    # -- inside a node ---------------------------------------------------------------------------
    def exec(self, node: "Node", cmd: list[str] | str, *, user: str = "",
             environment: dict[str, str] | None = None) -> tuple[int, str]:
        c, cid = self._require(node)
        ex = c.api.exec_create(cid, cmd, user=user or "", environment=environment)
        out = c.api.exec_start(ex["Id"]).decode("utf-8", "replace")
        return c.api.exec_inspect(ex["Id"])["ExitCode"], out

    def logs(self, node: "Node", tail: int = 200) -> str:
        c, cid = self._container(node)
        if c is None:
            return "(no running task)"
        return c.api.logs(cid, tail=tail, timestamps=False).decode("utf-8", "replace")

    def labels(self, node: "Node") -> dict[str, str]:
        c, cid = self._container(node)
        if c is not None:
            return c.api.inspect_container(cid)["Config"]["Labels"] or {}
        return self.cluster.manager.api.inspect_service(self._service_id(node))["Spec"].get("Labels") or {}

    def environment_of(self, node: "Node") -> dict[str, str]:
        c, cid = self._require(node)
        cfg = c.api.inspect_container(cid)["Config"]
        return dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)

    # -- network ---------------------------------------------------------------------------------
    def addresses(self, node: "Node") -> dict[str, str]:
        c, cid = self._container(node)
        if c is None:
            return {}
        info = c.api.inspect_container(cid)
        by_name = {self.env.network_name(n): n for n in self.env.spec.networks}
        return {by_name[k]: v["IPAddress"] for k, v in (info["NetworkSettings"]["Networks"] or {}).items()
                if k in by_name and v.get("IPAddress")}

    def link_proxy_addresses(self) -> list[str]:
        return list(self.addresses(self._proxy_node()).values()) if self.env.spec.links else []

    def network_info(self, net: str) -> NetworkInfo:
        api = self.cluster.manager.api
        return NetworkInfo.of(api.inspect_network(self._networks.get(net) or self.env.network_name(net)))

    # -- change ----------------------------------------------------------------------------------
    def replace_replica(self, node: "Node", *, image: str | None = None,
                        environment: dict[str, str] | None = None, service: ServiceSpec | None = None,
                        new_address: bool = True) -> "Node":
        if not new_address:
            raise LabError(f"{node}: the swarm backend cannot keep a replaced replica's address (a new task "
                           "always gets a new one)", fix="new_address: true, or run the drill on --backend docker")
        svc = service or self.env.spec.services[node.service]
        api = self.cluster.manager.api
        sid = self._service_id(node)
        api.remove_service(sid)
        self._service_ids.pop(node.container_name, None)
        end = time.monotonic() + TASK_WAIT_S
        while True:   # the name is taken until the old service is gone
            try:
                api.inspect_service(node.container_name)
            except docker.errors.NotFound:
                break
            if time.monotonic() > end:
                raise LabError(f"{node}: its old service was not removed in time")
            time.sleep(0.05)
        new = self._create_service(svc, node.replica, image=image, environment=environment)
        if service is not None or image or environment:
            self._defined[new.container_name] = dataclasses.replace(
                svc, image=image or svc.image, environment={**svc.environment, **(environment or {})})
        else:
            self._defined.pop(new.container_name, None)
        return new

    def add_replicas(self, service: str, replicas: list[int]) -> list["Node"]:
        svc = self.env.spec.services[service]
        if svc.ports:
            raise LabError(f"{service}: swarm replicas with published ports cannot be added after the start",
                           fix="declare the replicas in deploy.replicas, or scale a service without ports")
        return [self._create_service(svc, r) for r in replicas]

    def remove_replica(self, node: "Node") -> None:
        self.cluster.manager.api.remove_service(self._service_id(node))
        self._service_ids.pop(node.container_name, None)

    # -- zones -----------------------------------------------------------------------------------
    def zone_down(self, zone: str, nodes: list["Node"]) -> None:
        """The zone's host killed with everything on it (the manager's zone: its replicas only,
        the manager carries the swarm itself)."""
        if zone == P.MANAGER_ZONE:
            return super().zone_down(zone, nodes)
        self.cluster.kill_node(zone)

    def zone_up(self, zone: str, nodes: list["Node"], deadline: float = 60.0) -> None:
        if zone == P.MANAGER_ZONE:
            return super().zone_up(zone, nodes, deadline)
        end = time.monotonic() + deadline
        if not self.cluster.node_running(zone):
            self.cluster.start_node(zone, deadline)
            self.refresh_published()
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            list(pool.map(self._force_update, [n for n in nodes if not self.state(n).up]))
            list(pool.map(lambda n: self._await(n, end), nodes))

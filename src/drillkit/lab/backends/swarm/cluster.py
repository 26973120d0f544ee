"""A Docker Swarm of several hosts on one machine: Docker-in-Docker nodes, one per zone.

Each node is a container of the host engine, built from Debian's ``docker.io`` on the lab's base
image, running its own dockerd (overlay2 on a volume of its own). ``--privileged`` is refused on
these machines; what works (LAB.md) is ``--cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt
seccomp=unconfined --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw``, plus ``SYS_PTRACE``:
without it the inner runc cannot join the namespaces of a process of another user, so ``exec``
into any container whose image sets ``USER`` (PostgreSQL, Redis) fails with "error executing setns
process" — and with it the health checks of such services. The nodes share one bridge
network of the run with fixed addresses (a node killed and started again keeps its address, so the
swarm finds it again), form one swarm (the first node is the only manager) and carry the label
``drillkit.zone``. Images reach the inner engines by ``docker save`` on the host and ``load`` in each
node that needs them. Each inner engine is reached on a unix socket in a root-only folder of the run
(no TCP port); its containers' cgroups live under ``/drillkit-<run>-n<i>`` so they can be removed
even when a node was killed with them.

The host engine's own swarm mode is never touched. Every object on the host carries the run's
labels, so teardown and ``drill gc`` remove the nodes like any other container of a run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from drillkit import labels as L
from drillkit.errors import LabError
from drillkit.lab import images
from drillkit.lab.backends.swarm import plan as P
from drillkit.lab.engine import client as host_client
from drillkit.lab.engine import pick_subnet
from drillkit.lab.gc import remove_run
from drillkit.lab.images import TOXIPROXY_IMAGE

__all__ = ["SwarmCluster", "ClusterNode", "NODE_IMAGE", "NODE_DOCKERFILE", "cleanup_host", "socket_root"]

NODE_IMAGE = "drillkit/swarm-node:20.10"
NODE_DOCKERFILE = r"""
# A Docker Swarm node for the lab (Docker-in-Docker): Debian's docker.io on the lab's base image.
FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        docker.io iptables procps \
    && rm -rf /var/lib/apt/lists/*
# A node started again (a zone back after an outage) boots like a host: no run state of the last boot.
RUN printf '#!/bin/sh\nrm -rf /var/run/docker.pid /var/run/docker /run/drillkit/docker.sock\nexec dockerd "$@"\n' \
        > /usr/local/bin/swarm-node && chmod 0755 /usr/local/bin/swarm-node
VOLUME /var/lib/docker
ENTRYPOINT ["/usr/local/bin/swarm-node"]
"""
NODE_CAPS = ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]
INNER_POOL = "10.210.0.0/16"      # the inner engines' local bridges
OVERLAY_POOL = "10.220.0.0/16"    # the swarm's overlay networks
ENGINE_WAIT_S = 60.0
# `docker save` of the images swarm nodes load, one file per image id (not a run's object: like the
# images themselves, shared by every run and replaced when an image is rebuilt)
IMAGE_CACHE = Path(os.environ.get("DRILLKIT_SWARM_IMAGE_CACHE",
                                  Path(tempfile.gettempdir()) / "drillkit-swarm-images"))


def socket_root(run_id: str) -> Path:
    """Where the run's inner engines' sockets live on the host (removed with the run)."""
    return L.RUN_DIR / f"{run_id}.swarm"


def saved_image(image: str) -> Path:
    """``docker save`` of an image, cached as a file per image id (one file per tag is kept: a tag
    rebuilt replaces its old file)."""
    c = host_client()
    image_id = c.api.inspect_image(image)["Id"].split(":")[-1][:16]
    stem = image.replace("/", "_").replace(":", "_")
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    path = IMAGE_CACHE / f"{stem}@{image_id}.tar"
    if path.exists():
        return path
    for old in IMAGE_CACHE.glob(f"{stem}@*.tar"):
        old.unlink(missing_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
    try:
        with open(tmp, "wb") as fh:
            for chunk in c.api.get_image(image):
                fh.write(chunk)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def cgroup_parent(run_id: str, index: int) -> str:
    return f"drillkit-{run_id}-n{index}"


def cleanup_host(run_id: str) -> list[str]:
    """Remove what a run's swarm nodes leave on the host besides labelled objects: their socket
    folder and their containers' (empty) cgroups. Returns what could not be removed."""
    left: list[str] = []
    shutil.rmtree(socket_root(run_id), ignore_errors=True)
    roots = {Path("/sys/fs/cgroup")} | {p.resolve() for p in Path("/sys/fs/cgroup").glob("*") if p.is_dir()}
    prefix = f"drillkit-{run_id}-n"
    for root in sorted(roots):
        try:
            found = [p for p in root.iterdir() if p.name.startswith(prefix) and p.is_dir()]
        except OSError:
            continue
        for top in found:
            for dirpath, dirnames, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(dirpath)   # cgroupfs: only empty groups go; files vanish with them
                except OSError as exc:
                    left.append(f"{dirpath}: {exc.strerror}")
    return left


@dataclass
class ClusterNode:
    index: int
    zone: str
    container: str            # the node's container on the host engine
    volume: str               # its /var/lib/docker
    address: str              # fixed, on the run's swarm network
    socket_dir: Path
    node_ports: list[int] = field(default_factory=list)
    node_id: str | None = None

    @property
    def hostname(self) -> str:
        return f"node{self.index}"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_dir}/docker.sock"

    @property
    def manager(self) -> bool:
        return self.index == 0


class SwarmCluster:
    """The swarm nodes of one run: create, reach, kill/start a node, destroy."""

    def __init__(self, run_id: str, environment: str, zones: list[str], *,
                 node_ports: dict[str, list[int]] | None = None, images: dict[str, list[str]] | None = None,
                 owner: str | None = None, progress: Callable[[str], None] = lambda m: None):
        if not zones or zones[0] != P.MANAGER_ZONE:
            zones = [P.MANAGER_ZONE] + [z for z in zones if z != P.MANAGER_ZONE]
        self.run_id, self.environment = run_id, environment
        self.owner = owner or L.owner_token()
        self.progress = progress
        self.images = images or {}
        prefix = f"{run_id}-{environment}-swarm"
        self.network = prefix
        self.nodes: dict[str, ClusterNode] = {
            z: ClusterNode(i, z, f"{prefix}-n{i}", f"{prefix}-n{i}", "", socket_root(run_id) / f"n{i}",
                           sorted((node_ports or {}).get(z, [])))
            for i, z in enumerate(zones)}
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self.created = False

    @classmethod
    def for_environment(cls, spec, run_id: str | None = None, *, owner: str | None = None,
                        progress: Callable[[str], None] = lambda m: None) -> "SwarmCluster":
        ports: dict[str, list[int]] = {}
        for p in P.plan_ports(spec):
            ports.setdefault(p.zone, []).append(p.node_port)
        return cls(run_id or L.new_run_id(), spec.name, P.zones(spec), node_ports=ports,
                   images=P.images_by_zone(spec, TOXIPROXY_IMAGE), owner=owner, progress=progress)

    # -- reaching the nodes ----------------------------------------------------------------------
    def _labels(self, **extra: str) -> dict[str, str]:
        return {**L.run_labels(self.run_id, self.environment, self.owner), **extra}

    def client(self, zone: str):
        """A docker SDK client of a node's inner engine."""
        import docker  # deferred: the Docker SDK is heavy; only what talks to the engine needs it
        with self._lock:
            if zone not in self._clients:
                self._clients[zone] = docker.DockerClient(base_url=self.nodes[zone].url, timeout=120)
            return self._clients[zone]

    @property
    def manager(self):
        return self.client(P.MANAGER_ZONE)

    @property
    def manager_url(self) -> str:
        return self.nodes[P.MANAGER_ZONE].url

    def node_clients(self) -> list:
        return [self.client(z) for z in self.nodes]

    def zone_of_node_id(self, node_id: str) -> str | None:
        return next((z for z, n in self.nodes.items() if n.node_id == node_id), None)

    def host_port(self, zone: str, node_port: int) -> int:
        """The host's 127.0.0.1 port that reaches ``node_port`` of a node."""
        ports = host_client().api.inspect_container(self.nodes[zone].container)["NetworkSettings"]["Ports"]
        bound = ports.get(f"{node_port}/tcp") or []
        if not bound:
            raise LabError(f"swarm node {self.nodes[zone].hostname} ({zone}) publishes no port {node_port}",
                           fix="is the node running? (zone outage not healed)")
        return int(bound[0]["HostPort"])

    # -- creating --------------------------------------------------------------------------------
    def ensure_node_image(self) -> None:
        ensure_node_image(self.progress)

    def create(self) -> "SwarmCluster":
        """Nodes started and joined, zone labels set, images loaded. On failure everything goes."""
        t0 = time.monotonic()
        self.created = True   # from here on, destroy() has something to do
        try:
            self.ensure_node_image()
            c = host_client()
            _, prefix = pick_subnet(c, self.network, self._labels(**{L.ROLE: "network"}))
            for n in self.nodes.values():
                n.address = f"{prefix}.{10 + n.index}"
            root = socket_root(self.run_id)
            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o700)   # the inner engines' sockets: root only, like the host's
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
                list(pool.map(self._run_node, self.nodes.values()))
                list(pool.map(lambda n: self._wait_engine(n.zone), self.nodes.values()))
            self._form_swarm()
            self.progress(f"swarm: {len(self.nodes)} nodes joined in {time.monotonic() - t0:.1f} s "
                          f"({', '.join(f'{n.hostname}={z}' for z, n in self.nodes.items())})")
            self.load_images()
        except BaseException:
            self.destroy()
            raise
        self.progress(f"swarm: ready in {time.monotonic() - t0:.1f} s")
        return self

    def _run_node(self, n: ClusterNode) -> None:
        c = host_client()
        c.api.create_volume(n.volume, labels=self._labels(**{L.ROLE: "volume", L.ZONE: n.zone}))
        n.socket_dir.mkdir(parents=True, exist_ok=True)
        args = [f"--host=unix:///run/drillkit/docker.sock", "--host=unix:///var/run/docker.sock",
                "--storage-driver=overlay2", f"--default-address-pool=base={INNER_POOL},size=24",
                f"--cgroup-parent=/{cgroup_parent(self.run_id, n.index)}", "--log-level=warn"]
        host_config = c.api.create_host_config(
            cap_add=NODE_CAPS, security_opt=["seccomp=unconfined"], cgroupns="host",
            binds=["/sys/fs/cgroup:/sys/fs/cgroup:rw", f"{n.volume}:/var/lib/docker",
                   f"{n.socket_dir}:/run/drillkit"],
            port_bindings={p: ("127.0.0.1", None) for p in n.node_ports} or None, init=False)
        netcfg = c.api.create_networking_config({
            self.network: c.api.create_endpoint_config(ipv4_address=n.address)})
        c.api.create_container(NODE_IMAGE, name=n.container, hostname=n.hostname, command=args,
                               labels=self._labels(**{L.ROLE: "swarm-node", L.ZONE: n.zone,
                                                      L.SERVICE: "swarm-node", L.REPLICA: str(n.index)}),
                               host_config=host_config, networking_config=netcfg,
                               ports=n.node_ports or None, detach=True)
        c.api.start(n.container)

    def _wait_engine(self, zone: str, deadline: float = ENGINE_WAIT_S) -> None:
        n = self.nodes[zone]
        end = time.monotonic() + deadline
        last: Exception | None = None
        while time.monotonic() < end:
            st = host_client().api.inspect_container(n.container)["State"]
            if not st["Running"]:
                logs = host_client().api.logs(n.container, tail=10).decode("utf-8", "replace").strip()
                raise LabError(f"swarm node {n.hostname} ({zone}) stopped: {logs[-400:]}",
                               fix="see LAB.md: Docker-in-Docker needs SYS_ADMIN, NET_ADMIN, seccomp=unconfined, "
                                   "cgroupns=host and /sys/fs/cgroup mounted")
            try:
                if os.path.exists(n.socket_dir / "docker.sock"):
                    self.client(zone).ping()
                    return
            except Exception as exc:  # not listening yet
                last = exc
            time.sleep(0.1)
        raise LabError(f"swarm node {n.hostname} ({zone}): its engine did not answer in {deadline:.0f} s ({last})")

    def _form_swarm(self) -> None:
        mgr_node = self.nodes[P.MANAGER_ZONE]
        mgr = self.manager
        mgr.api.init_swarm(advertise_addr=mgr_node.address, listen_addr=f"{mgr_node.address}:2377",
                           default_addr_pool=[OVERLAY_POOL], subnet_size=24)
        token = mgr.api.inspect_swarm()["JoinTokens"]["Worker"]
        workers = [n for n in self.nodes.values() if not n.manager]
        if workers:
            with ThreadPoolExecutor(max_workers=len(workers)) as pool:
                list(pool.map(lambda n: self.client(n.zone).api.join_swarm(
                    [f"{mgr_node.address}:2377"], token, listen_addr=f"{n.address}:2377",
                    advertise_addr=n.address), workers))
        by_host = {}
        end = time.monotonic() + 30
        while len(by_host) < len(self.nodes):
            # a node that just joined may not have described itself yet
            by_host = {x["Description"]["Hostname"]: x for x in mgr.api.nodes()
                       if (x.get("Description") or {}).get("Hostname")}
            if time.monotonic() > end:
                raise LabError(f"swarm: only {sorted(by_host)} joined")
            time.sleep(0.1)
        for n in self.nodes.values():
            x = by_host[n.hostname]
            n.node_id = x["ID"]
            spec = dict(x["Spec"])
            spec["Labels"] = {**(spec.get("Labels") or {}), P.ZONE_LABEL: n.zone, L.RUN: self.run_id}
            mgr.api.update_node(x["ID"], x["Version"]["Index"], spec)

    def load_images(self) -> None:
        """Each image saved once on the host (kept per image id: the next run reuses the file), then
        loaded into every node that needs it."""
        wanted = sorted({img for imgs in self.images.values() for img in imgs})
        if not wanted:
            return
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            files = dict(zip(wanted, pool.map(saved_image, wanted)))

        def load(zone: str) -> None:
            inner = self.client(zone)
            for img in self.images.get(zone, []):
                with open(files[img], "rb") as fh:
                    for _ in inner.api.load_image(fh, quiet=True):
                        pass
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(load, self.nodes))
        self.progress(f"swarm: {len(wanted)} image(s) loaded into the nodes in {time.monotonic() - t0:.1f} s")

    # -- a node lost and back --------------------------------------------------------------------
    def kill_node(self, zone: str) -> None:
        """The zone's host gone at once, with everything running on it."""
        self._check_zone(zone)
        host_client().api.kill(self.nodes[zone].container, signal="SIGKILL")
        with self._lock:
            self._clients.pop(zone, None)

    def start_node(self, zone: str, deadline: float = 60.0) -> None:
        """The host back: its engine up and the node Ready in the swarm again."""
        self._check_zone(zone)
        n = self.nodes[zone]
        host_client().api.start(n.container)
        end = time.monotonic() + deadline
        self._wait_engine(zone, deadline)
        while True:   # the node's own agent connected to the manager again, and the manager agrees
            try:
                if (self.client(zone).info()["Swarm"]["LocalNodeState"] == "active"
                        and self.manager.api.inspect_node(n.node_id)["Status"]["State"] == "ready"):
                    return
            except Exception:
                pass
            if time.monotonic() > end:
                raise LabError(f"swarm node {n.hostname} ({zone}) not Ready {deadline:.0f} s after its start")
            time.sleep(0.1)

    def node_running(self, zone: str) -> bool:
        try:
            return bool(host_client().api.inspect_container(self.nodes[zone].container)["State"]["Running"])
        except Exception:
            return False

    def _check_zone(self, zone: str) -> None:
        if zone not in self.nodes:
            raise LabError(f"no swarm node for zone {zone!r}", fix=f"zones: {', '.join(self.nodes)}")

    # -- removing --------------------------------------------------------------------------------
    def destroy(self) -> None:
        """Every node, its volume and the network gone (by the run's label), and what the nodes
        left on the host (sockets, cgroups). The inner swarm goes with its nodes."""
        with self._lock:
            for cl in self._clients.values():
                try:
                    cl.close()
                except Exception:
                    pass
            self._clients.clear()
        remove_run(host_client(), self.run_id)   # also calls cleanup_host


def ensure_node_image(progress=print) -> None:
    """Build the swarm nodes' image (Docker-in-Docker on Debian's docker.io; cached by content): every
    cluster does before it starts its nodes; the test suite does before its first test."""
    with tempfile.TemporaryDirectory(prefix="drillkit-swarm-node-") as ctx:
        (Path(ctx) / "Dockerfile").write_text(NODE_DOCKERFILE)
        spec = images.BuildSpec(tag=NODE_IMAGE, context=Path(ctx))
        c = host_client()
        images.ensure_base_images(c, [spec], progress=progress)
        images.build_images(c, [spec], progress=progress)

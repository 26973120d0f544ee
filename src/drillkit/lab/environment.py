"""An environment of one drill run: its spec, its nodes with their zones, its links — realized by a
backend (:mod:`drillkit.lab.backend`: one Docker engine by default, or a Docker Swarm).

`Environment.up()` returns when every health check passes — or raises :class:`HealthCheckFailed`
with the unhealthy service's last log lines after removing everything the run created. `down()`
removes exactly the run's objects. Faults act on nodes through ``env.backend``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from drillkit import labels as L
from drillkit.errors import HealthCheckFailed, LabError
from drillkit.lab import health, images
from drillkit.lab.backend import Backend, create_backend
from drillkit.lab.compose import EnvironmentSpec, ServiceSpec
from drillkit.lab.engine import client as docker_client
from drillkit.lab.links import TOXIPROXY_SERVICE, LinkServer
from drillkit.lab.node import Node

__all__ = ["Environment"]

log = logging.getLogger("drillkit.lab")


class Environment:
    """A running (or about to run) environment of one drill run; a context manager."""

    def __init__(self, spec: EnvironmentSpec, run_id: str | None = None, *,
                 progress: Callable[[str], None] | None = None, up_timeout: float = 120.0,
                 build: bool = True, backend: str | Backend | None = None):
        self.spec = spec
        self.run_id = run_id or L.new_run_id()
        self.progress = progress or (lambda msg: log.info(msg))
        self.up_timeout = up_timeout
        self.build = build
        self.owner = L.owner_token()
        self.nodes: dict[str, list[Node]] = {}
        self.links: LinkServer | None = None
        self.published: dict[tuple[str, int, int], int] = {}  # (service, replica, port) -> host port
        self._abort = threading.Event()
        self._up = False
        self.backend: Backend = backend if isinstance(backend, Backend) else create_backend(backend, self)
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

    def node_environment(self, node: Node) -> dict[str, str]:
        """Variables every replica gets on every backend: who and where it is."""
        return {"DRILLKIT_SERVICE": node.service, "DRILLKIT_REPLICA": str(node.replica),
                "DRILLKIT_NODE": node.name, "DRILLKIT_ZONE": node.zone, "DRILLKIT_RUN": self.run_id}

    # -- public API ------------------------------------------------------------------------------
    def __enter__(self) -> "Environment":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    @property
    def docker(self):
        """The Docker engine the lab builds images on (and, with the docker backend, runs on)."""
        return docker_client()

    def up(self) -> "Environment":
        t0 = time.monotonic()
        if not self.owner.startswith("keep:"):
            L.hold_run(self.run_id)  # proof of life for gc, released by the kernel if we die
        try:
            self.backend.prepare()
            self.progress(f"{self.spec.name}: starting (run {self.run_id}, {self.backend.describe()})")
            self.backend.realize()
        except BaseException:
            self.down()
            raise
        self._up = True
        self.progress(f"{self.spec.name}: healthy in {time.monotonic() - t0:.1f} s "
                      f"({sum(len(v) for v in self.nodes.values())} replicas)")
        return self

    def down(self) -> None:
        """Remove every object labelled with this run (and nothing else)."""
        self.backend.teardown()
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

    def has_image(self, tag: str) -> bool:
        """Whether the engine the lab builds on has image ``tag``."""
        try:
            self.docker.api.inspect_image(tag)
        except Exception:
            return False
        return True

    def container(self, node: Node):
        """The docker SDK container of a node (docker backend only)."""
        return self.docker.containers.get(node.container_name)

    def logs(self, service: str, tail: int = 200) -> str:
        out = []
        for n in self.nodes.get(service, []):
            try:
                text = self.backend.logs(n, tail=tail)
            except Exception as exc:  # container gone
                text = f"(no logs: {exc})"
            out.append(f"=== {n.name} ===\n{text}")
        return "\n".join(out)

    def exec(self, node: Node, cmd: list[str] | str, *, user: str | None = None, check: bool = True) -> str:
        code, output = self.backend.exec(node, cmd, user=user or "")
        if check and code != 0:
            raise LabError(f"{node}: `{cmd if isinstance(cmd, str) else ' '.join(cmd)}` exited {code}: "
                           f"{output.strip()[-300:]}")
        return output

    def exec_bounded(self, node: Node, cmd: tuple[str, ...] | list[str], timeout: float,
                     user: str | None = None) -> tuple[int | None, str]:
        """Run a command in a node, giving up after ``timeout`` s: (exit code, output); code None =
        timed out or could not run (the output then says why). The exec keeps running in the
        container if it hangs; the caller does not wait for it."""
        result: dict[str, object] = {}

        def go() -> None:
            try:
                result["code"], result["out"] = self.backend.exec(node, list(cmd), user=user or "")
            except Exception as exc:  # container gone, engine error: the caller reports it
                result["out"] = f"{type(exc).__name__}: {exc}"
                result["code"] = None

        th = threading.Thread(target=go, name=f"dk-exec-{node.name}", daemon=True)
        th.start()
        th.join(timeout)
        if th.is_alive():
            return None, f"did not finish within {timeout:g} s"
        return result.get("code"), str(result.get("out", ""))  # type: ignore[return-value]

    def is_running(self, node: Node) -> bool:
        try:
            return self.backend.state(node).up
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
        todo = []
        for n in self.all_nodes():
            if n.container_name in self.left_as_is:
                self.progress(f"{self.spec.name}: reset leaves {n.name} as it is "
                              f"({self.left_as_is[n.container_name]})")
                continue
            st = self.backend.state(n)
            if st.paused:
                self.backend.unpause(n)
            if not st.running:
                self.backend.start(n)
                todo.append(n)
            elif st.health is not None:
                # its test, run now: Docker's status is as old as its last scheduled check (a node
                # that a fault left failing can still read "healthy" for retries × interval)
                todo.append(n)
        if todo:
            with ThreadPoolExecutor(max_workers=min(8, len(todo)), thread_name_prefix="reset") as pool:
                for f in [pool.submit(self.wait_healthy, n, timeout) for n in todo]:
                    f.result()

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
        current = self.nodes.setdefault(service, [])
        added: list[Node] = []
        if replicas > len(current):
            added = self.backend.add_replicas(service, list(range(len(current) + 1, replicas + 1)))
            current.extend(added)
            t_end = time.monotonic() + deadline
            with ThreadPoolExecutor(max_workers=len(added)) as pool:
                list(pool.map(lambda n: self.backend.wait_healthy(n, max(1.0, t_end - time.monotonic())), added))
        else:
            while len(current) > replicas:
                self.backend.remove_replica(current.pop())
        self.progress(f"{self.spec.name}: {service} scaled to {replicas}")
        return added

    def wait_healthy(self, node: Node, deadline: float = 60.0) -> float:
        """Wait until a node's health check passes (or it runs, without one); returns seconds waited."""
        return self.backend.wait_healthy(node, deadline=deadline)

    def replace_replica(self, node: Node, *, image: str | None = None,
                        environment: dict[str, str] | None = None, service: ServiceSpec | None = None,
                        new_address: bool = True) -> Node:
        """Replace a replica by a new one with the same name, aliases and zone — from ``service``
        (another definition of it, `drillkit.lab.compose.redefined`; default: the Compose file's),
        ``image`` (default: the definition's) with ``environment`` merged over the definition's — one
        step of a rolling upgrade or a redeploy. ``new_address``: a new address, as a new container
        gets under Compose, Swarm or Kubernetes (default), or the old one kept (docker only: a server
        upgraded in place). The new replica is started, not waited for: call :meth:`wait_healthy`.
        Faults and ``Target`` then hit the new one."""
        if node not in self.nodes.get(node.service, []):
            raise LabError(f"{node} is not a current node of {self.spec.name}",
                           fix="pass a node from env.nodes / env.node(service, replica)")
        new = self.backend.replace_replica(node, image=image, environment=environment, service=service,
                                           new_address=new_address)
        self.nodes[node.service][node.replica - 1] = new
        return new

    # -- building --------------------------------------------------------------------------------
    def build_specs(self) -> list:
        specs = []
        seen = set()
        for s in self.spec.services.values():
            if s.build_context and s.image not in seen:
                seen.add(s.image)
                specs.append(images.BuildSpec(tag=s.image, context=s.build_context, dockerfile=s.dockerfile,
                                       args=s.build_args or None))
        return specs

    def _build_images(self, c=None) -> None:
        """Build the environment's images (and Toxiproxy's) on the host engine; cached by content."""
        c = c or self.docker
        specs = self.build_specs()
        if specs:
            images.ensure_base_images(c, specs, progress=self.progress)
            images.build_images(c, specs, progress=self.progress)
        if self.spec.links:
            images.ensure_toxiproxy_image(c, progress=self.progress)

    def variant_image(self, service: str, build_args: dict[str, str]) -> str:
        """The tag of ``service``'s image built with other build arguments (e.g. ``APP_VERSION=2``):
        the service's repository, tagged by the arguments (``drillkit/app:args-3f2a…``)."""
        svc = self.spec.services[service]
        repo = svc.image.rsplit(":", 1)[0] if ":" in svc.image.rsplit("/", 1)[-1] else svc.image
        digest = hashlib.sha1(json.dumps(build_args, sort_keys=True).encode()).hexdigest()[:10]
        return f"{repo}:args-{digest}"

    def build_definition(self, svc: ServiceSpec) -> str:
        """Build the image of a service definition from another Compose file (its ``build:``, cached
        by content like every lab image); returns its tag. A definition without ``build:`` names an
        image that must be on the engine already."""
        if svc.build_context is None:
            if not svc.image or not self.has_image(svc.image):
                raise LabError(f"no image {svc.image!r} on the engine for service {svc.name}",
                               fix="build it first, or give the service a build: in that Compose file")
            return svc.image
        spec = images.BuildSpec(tag=svc.image, context=svc.build_context, dockerfile=svc.dockerfile,
                                args=svc.build_args or None)
        images.ensure_base_images(self.docker, [spec], progress=self.progress)
        images.build_images(self.docker, [spec], progress=self.progress)
        return svc.image

    def build_variant(self, service: str, build_args: dict[str, str]) -> str:
        """Build ``service``'s image from its own build context with ``build_args`` over the Compose
        file's (cached by content like every lab image); returns the tag."""
        svc = self.spec.services[service]
        if not svc.build_context:
            raise LabError(f"service {service!r} has no build: in {self.spec.file}, so it cannot be built "
                           "with other build arguments", fix="give image: <tag of the new version> instead")
        tag = self.variant_image(service, build_args)
        spec = images.BuildSpec(tag=tag, context=svc.build_context, dockerfile=svc.dockerfile,
                                args={**(svc.build_args or {}), **build_args})
        images.ensure_base_images(self.docker, [spec], progress=self.progress)
        images.build_images(self.docker, [spec], progress=self.progress)
        return tag

    @staticmethod
    def health_grace(svc: ServiceSpec) -> float:
        """How long an `unhealthy` node may take to turn healthy before start-up gives up on it."""
        return health.health_grace(svc.healthcheck)

    def unhealthy(self, node: Node, why: str) -> HealthCheckFailed:
        """The error for a node that did not come up: its last log lines and where to look."""
        try:
            logs = self.backend.logs(node, tail=20).rstrip()
        except Exception:
            logs = "(no logs)"
        last = " | ".join(l for l in logs.splitlines()[-5:] if l.strip()) or "(no output)"
        return HealthCheckFailed(f"{self.spec.name}: service {node.service} ({node.name}) {why}; "
                                 f"last log lines: {last}", service=node.service, logs=logs,
                                 fix=f"look at {self.spec.file} services.{node.service} "
                                     "(healthcheck, command) and the log above")

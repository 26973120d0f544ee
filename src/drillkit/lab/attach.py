"""An :class:`Environment` for a run that is already up (`drill up`), rebuilt from its labels.

`drill inject`, `drill heal` and `drill run SCENARIO --attach RUN` work on an environment another
process brought up. Everything they need is on the engine: the run's containers carry
``drillkit.run / environment / service / replica / zone / role`` (``labels.py``), their published
ports are in the engine's container list, and the Toxiproxy container (role ``link-proxy``) publishes
its API port 8474 and the links' listeners. The environment's spec (services, links, zones, switches)
is read again from its Compose file.

What this module relies on from ``lab/environment.py`` (kept small on purpose): the constructor
``Environment(spec, run_id, progress=, build=)``, the attributes ``nodes`` (service -> [Node] by
replica), ``published`` ((service, replica, container port) -> host port), ``links`` (a
:class:`~drillkit.lab.links.LinkServer` or None), ``owner`` and the docker backend's ``_toxiproxy_ip`` (network ->
address; only `scale` reads it), ``_up``, the :class:`Node` dataclass and ``TOXIPROXY_SERVICE``.
An attached environment is never brought up or torn down by whoever attached it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drillkit import labels as L
from drillkit.errors import LabError
from drillkit.lab.compose import EnvironmentSpec, load_environment
from drillkit.lab.engine import client as docker_client
from drillkit.lab.environment import Environment
from drillkit.lab.links import TOXIPROXY_API_PORT, LinkServer
from drillkit.lab.node import Node

__all__ = ["attach", "run_containers"]


def run_containers(c, run_id: str) -> list[dict[str, Any]]:
    """The engine's rows (``docker ps -a``) of every container labelled with ``run_id``."""
    return c.api.containers(all=True, filters={"label": f"{L.RUN}={run_id}"})


def attach(run_id: str, *, spec: EnvironmentSpec | None = None, environment: str | None = None,
           switches: dict[str, str] | None = None,
           progress: Callable[[str], None] | None = None) -> Environment:
    """The running environment of ``run_id``. Its spec is ``spec``, or loaded from ``environment``
    (a name or compose path) with ``switches``, or from the environment name on the labels."""
    c = docker_client()
    rows = run_containers(c, run_id)
    if not rows:
        raise LabError(f"no containers of run {run_id!r} on this engine",
                       fix="`drill ps` lists the runs; `drill up ENV` brings one up")
    names = {(r.get("Labels") or {}).get(L.ENVIRONMENT) for r in rows} - {None}
    if len(names) != 1:
        raise LabError(f"run {run_id} has containers of {len(names)} environments ({', '.join(sorted(names))})",
                       fix="attach to a run made by `drill up`")
    label_name = names.pop()
    if spec is None:
        spec = load_environment(environment or label_name, switches or {})
    if spec.name != label_name:
        raise LabError(f"run {run_id} is environment {label_name!r}, not {spec.name!r}",
                       fix=f"attach a drill of {label_name}, or bring {spec.name} up with `drill up`")

    env = Environment(spec, run_id=run_id, progress=progress, build=False)
    nodes: dict[str, list[Node]] = {}
    for r in rows:
        lb = r.get("Labels") or {}
        service, replica = lb.get(L.SERVICE), lb.get(L.REPLICA)
        if not service or not replica:
            continue
        container = r["Names"][0].lstrip("/")
        role = lb.get(L.ROLE, "service")
        for p in r.get("Ports") or []:
            if p.get("PublicPort") and p.get("IP") in ("127.0.0.1", "0.0.0.0", None):
                env.published[(service, int(replica), int(p["PrivatePort"]))] = int(p["PublicPort"])
        if role == "link-proxy":
            api = env.published.get((service, int(replica), TOXIPROXY_API_PORT))
            if api is None:
                raise LabError(f"run {run_id}: the Toxiproxy container publishes no API port",
                               fix="bring the environment up again with `drill up`")
            env.links = LinkServer("127.0.0.1", api)
            nets = ((r.get("NetworkSettings") or {}).get("Networks") or {})
            for net in spec.networks:
                address = (nets.get(env.network_name(net)) or {}).get("IPAddress")
                if address:
                    env.backend._toxiproxy_ip[net] = address
            continue
        if role != "service":
            continue
        nodes.setdefault(service, []).append(
            Node(spec.name, service, int(replica), lb.get(L.ZONE, ""), container, run_id,
                 single=service in spec.services and spec.services[service].replicas == 1 and int(replica) == 1))
    missing = [s for s in spec.services if s not in nodes]
    if missing:
        raise LabError(f"run {run_id} has no container of {', '.join(missing)} (declared in {spec.file})",
                       fix="the run is not what its Compose file says: `drill down` it and `drill up` again")
    env.nodes = {s: sorted(nodes[s], key=lambda n: n.replica) for s in spec.services}
    if spec.links and env.links is None:
        raise LabError(f"run {run_id}: {spec.name} declares links but no Toxiproxy container runs",
                       fix="bring the environment up again with `drill up`")
    owners = {(r.get("Labels") or {}).get(L.OWNER) for r in rows} - {None}
    if owners:
        env.owner = sorted(owners)[0]
    env._up = True
    return env


#!/usr/bin/env python3
"""drillkit's lab against docker-compose v1 (and its Swarm backend against `docker stack deploy`), on
the same Compose file, side by side.

Docker engine, per environment, rounds alternating who goes first, images already built:
  drillkit : Environment.up() (returns when every health check passes) and down()
  compose  : `docker-compose --compatibility up -d --no-build`, then polling until every container
             runs and is healthy; `docker-compose down -v`
The shipped files come up under plain docker-compose as they are (ports bound to 127.0.0.1; the lb's
per-replica servers fall back to the service name; links are direct connections). A compose project
is always taken down, also after a failure or Ctrl-C (`down -v --remove-orphans`).

Swarm (--swarm): one lab cluster of Docker-in-Docker nodes (one per zone + the manager) is made once
and reused; on it, per round:
  drillkit : Environment(backend=swarm on that cluster).up() / down()
  stack    : `docker stack deploy` of the same file (plus endpoint_mode dnsrr and host-mode ports,
             as the kernel has no IPVS), polling until every task runs and is healthy; `docker stack
             rm` and polling until its containers are gone.
The cluster is removed at the end, whatever happens.

Prints a table of medians with ratios. Usage:
    .venv/bin/python benchmarks/lab_vs_compose.py [--env registry --env booking] [--rounds 3] [--swarm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from drillkit.lab.compose import find_environment, load_environment  # noqa: E402
from drillkit.lab.engine import client  # noqa: E402
from drillkit.lab.environment import Environment  # noqa: E402

HEALTH_DEADLINE = 180.0
GOALS = {"up": 0.60, "down": 0.50}


def _poll_healthy(api, flt: dict, expected: int, what: str) -> None:
    t0 = time.monotonic()
    while True:
        ids = api.containers(all=True, filters=flt)
        states = [api.inspect_container(x["Id"])["State"] for x in ids]
        if len(states) >= expected and all(
                s["Running"] and (s.get("Health") or {}).get("Status", "healthy") == "healthy" for s in states):
            return
        if time.monotonic() - t0 > HEALTH_DEADLINE:
            raise RuntimeError(f"{what}: not all {expected} containers healthy after {HEALTH_DEADLINE:.0f} s")
        time.sleep(0.05)


# -- docker-compose v1 ------------------------------------------------------------------------------
def compose_round(file: Path, project: str, expected: int) -> tuple[float, float]:
    base = [shutil.which("docker-compose"), "-p", project, "-f", str(file), "--compatibility"]
    down_done = False
    try:
        t0 = time.monotonic()
        subprocess.run(base + ["up", "-d", "--no-build"], check=True, capture_output=True, text=True)
        _poll_healthy(client().api, {"label": f"com.docker.compose.project={project}"}, expected, project)
        up = time.monotonic() - t0
        t1 = time.monotonic()
        subprocess.run(base + ["down", "-v"], check=True, capture_output=True, text=True)
        down_done = True
        return up, time.monotonic() - t1
    finally:
        if not down_done:  # after a failure or Ctrl-C: never leave the project running
            subprocess.run(base + ["down", "-v", "--remove-orphans", "-t", "1"], capture_output=True)


def drillkit_round(env_name: str, backend=None) -> tuple[float, float]:
    env = Environment(load_environment(env_name), build=False, backend=backend)
    t0 = time.monotonic()
    try:
        env.up()
        up = time.monotonic() - t0
    except BaseException:
        env.down()
        raise
    t1 = time.monotonic()
    env.down()
    return up, time.monotonic() - t1


# -- docker stack deploy ----------------------------------------------------------------------------
def stack_file(src: Path, dst: Path) -> int:
    """The same file for `docker stack deploy`: dnsrr endpoints and host-mode ports (no IPVS here),
    placed as the lab places them (unzoned services on the manager, zoned ones spread over their
    zones' nodes: the images are loaded where the lab needs them); `build` and `depends_on` dropped
    (stack deploy ignores both). Returns the number of tasks."""
    data = yaml.safe_load(src.read_text())
    zoned = (data.get("x-drillkit") or {}).get("zones") or {}
    tasks = 0
    for name, svc in data["services"].items():
        svc.pop("build", None)
        svc.pop("depends_on", None)
        deploy = svc.setdefault("deploy", {})
        deploy["endpoint_mode"] = "dnsrr"
        if name in zoned:
            deploy["placement"] = {"constraints": [f"node.labels.drillkit.zone != default"],
                                   "preferences": [{"spread": "node.labels.drillkit.zone"}]}
        else:
            deploy["placement"] = {"constraints": ["node.labels.drillkit.zone == default"]}
        tasks += int(deploy.get("replicas", 1))
        ports = []
        for p in svc.get("ports", []):
            target = int(str(p).split(":")[-1].split("/")[0])
            ports.append({"target": target, "mode": "host"})
        if ports:
            svc["ports"] = ports
    dst.write_text(yaml.safe_dump(data, sort_keys=False))
    return tasks


def stack_round(cluster, file: Path, stack: str, tasks: int, env_vars: dict) -> tuple[float, float]:
    host = {**os.environ, "DOCKER_HOST": cluster.manager_url, **env_vars}
    removed = False
    managers = cluster.node_clients()
    try:
        t0 = time.monotonic()
        subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(file), stack],
                       check=True, capture_output=True, text=True, env=host)
        t_end = t0 + HEALTH_DEADLINE
        while True:
            states = []
            for c in managers:
                for x in c.api.containers(filters={"label": f"com.docker.stack.namespace={stack}"}):
                    states.append(c.api.inspect_container(x["Id"])["State"])
            if len(states) >= tasks and all(
                    s["Running"] and (s.get("Health") or {}).get("Status", "healthy") == "healthy" for s in states):
                break
            if time.monotonic() > t_end:
                raise RuntimeError(f"stack {stack}: not all {tasks} tasks healthy after {HEALTH_DEADLINE:.0f} s")
            time.sleep(0.05)
        up = time.monotonic() - t0
        t1 = time.monotonic()
        subprocess.run(["docker", "stack", "rm", stack], check=True, capture_output=True, env=host)
        removed = True
        while any(c.api.containers(all=True, filters={"label": f"com.docker.stack.namespace={stack}"})
                  for c in managers):
            if time.monotonic() - t1 > HEALTH_DEADLINE:
                raise RuntimeError(f"stack {stack}: containers still there after {HEALTH_DEADLINE:.0f} s")
            time.sleep(0.05)
        return up, time.monotonic() - t1
    finally:
        if not removed:
            subprocess.run(["docker", "stack", "rm", stack], capture_output=True, env=host)


# -- the table ----------------------------------------------------------------------------------------
def table(title: str, other: str, rows: dict[str, dict[str, tuple[list, list]]], goals: dict | None = None) -> str:
    m = statistics.median
    lines = [title, f"{'environment':12} {'step':5} {'drillkit':>9} {other:>14} {'ratio':>6} {'goal':>6}  rounds"]
    for env_name, steps in rows.items():
        for step, (dk, ot) in steps.items():
            if not dk or not ot:
                continue
            ratio = m(dk) / m(ot)
            goal = (goals or {}).get(step)
            lines.append(f"{env_name:12} {step:5} {m(dk):8.2f}s {m(ot):13.2f}s {ratio:6.2f} "
                         f"{'≤' + format(goal, '.2f') if goal else '':>6}  "
                         f"dk {' '.join(f'{x:.1f}' for x in dk)} | {' '.join(f'{x:.1f}' for x in ot)}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", action="append", help="environment (repeatable; default registry and booking)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--swarm", action="store_true", help="also the Swarm backend vs docker stack deploy")
    ap.add_argument("--no-compose", action="store_true", help="skip the docker engine vs docker-compose part")
    args = ap.parse_args()
    envs = args.env or ["registry", "booking"]
    if not args.no_compose and not shutil.which("docker-compose"):
        raise SystemExit("docker-compose (v1) is needed: apt-get install docker-compose")
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    for e in envs:  # images built before any timing
        Environment(load_environment(e))._build_images(client())

    if not args.no_compose:
        rows: dict = {}
        for e in envs:
            spec = load_environment(e)
            expected = sum(s.replicas for s in spec.services.values())
            up_dk, down_dk, up_dc, down_dc = [], [], [], []
            for i in range(args.rounds):
                for who in (("dk", "dc") if i % 2 == 0 else ("dc", "dk")):
                    if who == "dk":
                        u, d = drillkit_round(e)
                        up_dk.append(u); down_dk.append(d)
                    else:
                        u, d = compose_round(find_environment(e), f"dkbench{os.getpid()}{i}", expected)
                        up_dc.append(u); down_dc.append(d)
                    print(f"{e} round {i + 1} {who}: up {u:.2f} s, down {d:.2f} s", flush=True)
            rows[e] = {"up": (up_dk, up_dc), "down": (down_dk, down_dc)}
        print()
        print(table(f"drillkit lab (docker engine) vs docker-compose v1, medians of {args.rounds}", "compose v1", rows,
                    GOALS))
        print(json.dumps({"docker_vs_compose": rows}))

    if args.swarm:
        from drillkit.lab.backends.swarm.cluster import SwarmCluster
        rows = {}
        for e in envs:
            spec = load_environment(e)
            cluster = SwarmCluster.for_environment(spec, progress=lambda m: print("  " + m, flush=True))
            t0 = time.monotonic()
            try:
                cluster.create()
                print(f"{e}: swarm of {len(cluster.nodes)} nodes ready in {time.monotonic() - t0:.1f} s "
                      f"(nodes, images loaded)", flush=True)
                with tempfile.TemporaryDirectory() as tmp:
                    file = Path(tmp) / "stack.yaml"
                    tasks = stack_file(find_environment(e), file)
                    up_dk, down_dk, up_st, down_st = [], [], [], []
                    for i in range(args.rounds):
                        for who in (("dk", "st") if i % 2 == 0 else ("st", "dk")):
                            if who == "dk":
                                from drillkit.lab.backends.swarm.backend import SwarmBackend
                                env = Environment(spec, build=False, backend="docker")
                                env.backend = SwarmBackend(env, cluster=cluster)
                                t = time.monotonic()
                                try:
                                    env.up()
                                    u = time.monotonic() - t
                                finally:
                                    t = time.monotonic()
                                    env.down()
                                    d = time.monotonic() - t
                                up_dk.append(u); down_dk.append(d)
                            else:
                                u, d = stack_round(cluster, file, f"dkbench{i}", tasks, {})
                                up_st.append(u); down_st.append(d)
                            print(f"{e} swarm round {i + 1} {who}: up {u:.2f} s, down {d:.2f} s", flush=True)
                    rows[e] = {"up": (up_dk, up_st), "down": (down_dk, down_st)}
            finally:
                cluster.destroy()
        print()
        print(table(f"drillkit Swarm backend vs docker stack deploy/rm (same swarm), medians of {args.rounds}",
                    "stack deploy", rows))
        print(json.dumps({"swarm_vs_stack": rows}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

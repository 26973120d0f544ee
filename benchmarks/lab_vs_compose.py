#!/usr/bin/env python3
"""drillkit's lab against docker-compose v1 on the same Compose file, side by side in one script.

For each round (alternating who goes first, images already built):
  drillkit: Environment.up() (returns when every health check passes) and down()
  compose : `docker-compose --compatibility up -d`, then polling until every container is healthy,
            and `docker-compose down -v`
Prints both medians and the ratios (goals: up ≤ 0.7×, down ≤ 0.5×), then runs the 50 ms probe
against the running stack and prints the interval actually achieved (goal: p99 lateness ≤ 10 ms).

The compose run uses a copy of the file whose ports are bound to 127.0.0.1 (drillkit does that by
itself; the copy keeps the benchmark within the lab's safety rule). Usage:
    .venv/bin/python benchmarks/lab_vs_compose.py [--env registry] [--rounds 3] [--probe-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from drillkit.lab.compose import find_environment, load_environment  # noqa: E402
from drillkit.lab.docker_client import client  # noqa: E402
from drillkit.lab.environment import Environment  # noqa: E402
from drillkit.timeline import Timeline  # noqa: E402
from drillkit.traffic.probe import Probe  # noqa: E402


def compose_copy(src: Path) -> Path:
    data = yaml.safe_load(src.read_text())
    for svc in data["services"].values():
        svc["ports"] = [f"127.0.0.1::{str(p).split(':')[-1]}" for p in svc.get("ports", [])]
    dst = src.parent / ".bench-compose.yaml"
    dst.write_text(yaml.safe_dump(data, sort_keys=False))
    return dst


def compose_round(file: Path, project: str) -> tuple[float, float]:
    dc = shutil.which("docker-compose")
    base = [dc, "-p", project, "-f", str(file), "--compatibility"]
    t0 = time.monotonic()
    subprocess.run(base + ["up", "-d", "--no-build"], check=True, capture_output=True)
    c = client()
    while True:
        ids = c.api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
        states = [c.api.inspect_container(x["Id"])["State"] for x in ids]
        if states and all((s.get("Health") or {}).get("Status", "healthy") == "healthy" and s["Running"] for s in states):
            break
        if time.monotonic() - t0 > 180:
            raise SystemExit("compose stack did not become healthy in 180 s")
        time.sleep(0.05)
    up = time.monotonic() - t0
    t1 = time.monotonic()
    subprocess.run(base + ["down", "-v"], check=True, capture_output=True)
    return up, time.monotonic() - t1


def drillkit_round(env_name: str) -> tuple[float, float, Environment | None]:
    env = Environment(load_environment(env_name), build=False)
    t0 = time.monotonic()
    env.up()
    up = time.monotonic() - t0
    t1 = time.monotonic()
    env.down()
    return up, time.monotonic() - t1, None


def probe_quality(env_name: str, seconds: float, interval: float = 0.05) -> dict:
    env = Environment(load_environment(env_name), build=False)
    env.up()
    try:
        tl = Timeline()
        p = Probe(env.url(), tl, interval=interval).start()
        time.sleep(seconds)
        p.stop()
        stats = p.achieved()
        sends = [r["t"] for r in tl.probes("probe")]
        gaps = sorted(b - a for a, b in zip(sends, sends[1:]))
        if gaps:
            stats["interval_p50_ms"] = gaps[len(gaps) // 2] * 1000
            stats["interval_p99_ms"] = gaps[int(0.99 * (len(gaps) - 1))] * 1000
        stats["ok_ratio"] = sum(r["ok"] for r in tl.probes("probe")) / max(1, len(tl.probes("probe")))
        return stats
    finally:
        env.down()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="registry")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--probe-seconds", type=float, default=10.0)
    args = ap.parse_args()
    if not shutil.which("docker-compose"):
        raise SystemExit("docker-compose (v1) is needed: apt-get install docker-compose")
    src = find_environment(args.env)
    Environment(load_environment(args.env))._build_images(client())  # images built before timing
    copy = compose_copy(src)
    dk_up, dk_down, dc_up, dc_down = [], [], [], []
    try:
        for i in range(args.rounds):
            order = ("dk", "dc") if i % 2 == 0 else ("dc", "dk")
            for who in order:
                if who == "dk":
                    u, d, _ = drillkit_round(args.env)
                    dk_up.append(u); dk_down.append(d)
                else:
                    u, d = compose_round(copy, f"dkbench{i}")
                    dc_up.append(u); dc_down.append(d)
                print(f"round {i + 1} {who}: up {u:.2f} s, down {d:.2f} s", flush=True)
    finally:
        copy.unlink(missing_ok=True)
    m = statistics.median
    print()
    print(f"{'':10} {'drillkit':>10} {'compose v1':>11} {'ratio':>7} {'goal':>6}")
    print(f"{'up':10} {m(dk_up):9.2f}s {m(dc_up):10.2f}s {m(dk_up) / m(dc_up):7.2f} {'≤0.70':>6}")
    print(f"{'down':10} {m(dk_down):9.2f}s {m(dc_down):10.2f}s {m(dk_down) / m(dc_down):7.2f} {'≤0.50':>6}")
    q = probe_quality(args.env, args.probe_seconds)
    print()
    print("probe (target interval 50 ms): " + json.dumps({k: round(v, 2) for k, v in q.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

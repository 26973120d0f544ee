#!/usr/bin/env python3
"""How exact are drillkit's measurements? Two tables, on the lab's tiny test environment.

1. Recovery-time accuracy against ground truth: a Toxiproxy link is taken down for exactly T seconds
   (T = 1, 3, 10) while the probe (50 ms) goes through it; the outage the verdict measures is
   compared with T. Goal: |error| ≤ 2 × probe interval.
2. Fault-to-effect latency per fault kind: from the API call (the inject event's time) to the first
   probe that sees the effect.

Usage: .venv/bin/python benchmarks/fault_accuracy.py [--interval 0.05]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from drillkit.faults.link import Latency, LinkDown, ResetPeer
from drillkit.faults.process import Kill, Pause, Stop
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack
from drillkit.stack.target import Target
from drillkit.timeline import Timeline
from drillkit.traffic.probe import Probe
from drillkit.verdicts import outage_window

TINY = ROOT / "tests/lab/environments/tiny/compose.yaml"


def accuracy(env: Environment, interval: float) -> list[tuple[float, float, float]]:
    rows = []
    for T in (1.0, 3.0, 10.0):
        tl = Timeline()
        with Probe(env.link_url("client-web"), tl, interval=interval, path="/", population="probe", timeout=1.0):
            time.sleep(1.5)
            f = LinkDown(link="client-web")
            f.inject(env, tl)
            t_down = time.monotonic()
            time.sleep(max(0.0, T - (time.monotonic() - t_down)))
            f.heal(env, tl)
            time.sleep(1.5)
        v = outage_window(tl, "probe")
        rows.append((T, v.value, v.value - T))
    return rows


def effect_latency(env: Environment, interval: float) -> list[tuple[str, float | None]]:
    cases = [
        ("kill", lambda: Kill(Target("web", replica=1)), "node", lambda r: not r["ok"]),
        ("stop", lambda: Stop(Target("web", replica=1), grace=1), "node", lambda r: not r["ok"]),
        ("pause", lambda: Pause(Target("web", replica=1)), "node", lambda r: not r["ok"]),
        ("link_down", lambda: LinkDown(link="client-web"), "link", lambda r: not r["ok"]),
        ("latency 500 ms", lambda: Latency(link="client-web", latency=500), "link", lambda r: r["latency"] >= 0.5),
        ("reset_peer", lambda: ResetPeer(link="client-web"), "link", lambda r: not r["ok"]),
    ]
    rows = []
    for name, make, via, seen in cases:
        url = env.link_url("client-web") if via == "link" else f"http://127.0.0.1:{env.host_port('web', 8000, 1)}"
        tl = Timeline()
        f = make()
        with Probe(url, tl, interval=interval, path="/", population="probe", timeout=2.0):
            time.sleep(1.0)
            f.inject(env, tl)
            time.sleep(2.5)
            f.heal(env, tl)
        t_inject = next(r["t"] for r in tl.of("fault") if r["event"] == "inject")
        hit = next((r for r in tl.probes("probe") if r["t"] >= t_inject and seen(r)), None)
        rows.append((name, None if hit is None else hit["t_end"] - t_inject))
        time.sleep(0.5)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    env = Environment(load_stack(TINY))
    env.up()
    try:
        acc = accuracy(env, args.interval)
        lat = effect_latency(env, args.interval)
    finally:
        env.down()
    bound = 2 * args.interval
    print(f"recovery-time accuracy (probe every {args.interval * 1000:.0f} ms; goal |error| ≤ {bound * 1000:.0f} ms)")
    print(f"{'link down T':>12} {'measured':>10} {'error':>9} {'ok':>4}")
    for T, m, e in acc:
        print(f"{T:11.1f}s {m:9.3f}s {e * 1000:+8.0f}ms {'yes' if abs(e) <= bound else 'NO':>4}")
    print()
    print("fault-to-effect latency (API call -> first probe that sees it)")
    for name, d in lat:
        print(f"  {name:16} {'not seen' if d is None else f'{d * 1000:7.0f} ms'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

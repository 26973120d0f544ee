"""drillkit's open-loop generator vs wrk, on the same endpoint and the same core, side by side.

    .venv/bin/python benchmarks/load_vs_wrk.py [--seconds 5] [--connections 32] [--saturation | --saturation-only]

1. The endpoint: HAProxy answering 200 itself (benchmarks/environments/fastpath), its container pinned
   to core 1 (``docker update --cpuset-cpus``), so the client's own speed is what is measured.
2. wrk (Debian's ``wrk``; installed with apt-get when missing), pinned to core 0 with ``taskset``:
   one thread, ``--connections`` connections, ``--seconds`` s: its requests/s.
3. drillkit's generator (``drillkit.load.OpenLoop`` with the user kind ``hits`` of the environment:
   the same code a drill runs — journey, client contract, timeline written to a file), in a process
   pinned to core 0: an open-loop rate a little above what one core can send (1.25× a 2 s calibration
   run), ``--connections`` workers; the requests/s it sent and got answered over the whole run's wall
   time (the shape plus the backlog it answers after the shape's end; arrivals that found no free
   worker within the timeout are recorded as never sent and not counted). The ratio drillkit / wrk
   is the figure (goal ≥ 0.3).
4. ``--saturation`` (``--saturation-only``: just this): each reference stack's saturation point — the
   breaking-point search (``drill.search``) with the SLO p95 ≤ 1 s and ≥ 99 % served, from 5 arrivals/s up; the arrivals/s
   (and requests/s) of the last step that held, with the first user kind the stack's Compose file
   declares (``x-drillkit.users``).

Bounded: every load ≤ ``--seconds`` (≤ 30) per run, 127.0.0.1 only; every container is removed at the
end. Nothing here asserts a time: the figures are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from drillkit.lab.compose import load_environment  # noqa: E402
from drillkit.lab.engine import client  # noqa: E402
from drillkit.lab.environment import Environment  # noqa: E402

FASTPATH = ROOT / "benchmarks" / "environments" / "fastpath" / "compose.yaml"

GENERATOR = r"""
import json, sys, time
sys.path.insert(0, {src!r})
from drillkit.stack import load_stack
from drillkit.load.actions import resolve_actions
from drillkit.load.generator import OpenLoop
from drillkit.timeline import Timeline
from drillkit.traffic.shapes import Constant
spec = load_stack({compose!r})
tl = Timeline({timeline!r})
gen = OpenLoop(Constant({rate}, {seconds}), resolve_actions("hits", spec), timeline=tl, base_url={url!r},
               concurrency={connections}, timeout=2.0, max_arrivals=200000)
t = time.monotonic()
c = gen.run()
wall = time.monotonic() - t
tl.close()
print(json.dumps({{"answered": c.requests, "ok": c.ok, "never_sent": c.never_sent, "wall": wall,
                  "seconds": {seconds}, "workers": c.workers}}))
"""


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def pin(prefix: list[str]) -> list[str]:
    return (["taskset", "-c", "0"] + prefix) if shutil.which("taskset") else prefix


def run_wrk(url: str, seconds: float, connections: int) -> float:
    out = subprocess.run(pin([ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", url]),
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk printed no rate: {out[-500:]}")
    return float(m.group(1))


def run_drillkit(url: str, seconds: float, connections: int, rate: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        code = GENERATOR.format(src=str(ROOT / "src"), compose=str(FASTPATH), timeline=str(Path(d) / "t.jsonl"),
                                rate=rate, seconds=seconds, url=url, connections=connections)
        out = subprocess.run(pin([sys.executable, "-c", code]), capture_output=True, text=True,
                             timeout=seconds * 4 + 60)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
    # requests actually sent and answered (an arrival that found no free worker within the timeout is
    # recorded as never sent: it counts for the users, not for the generator's speed)
    r["sent"] = r["answered"] - r["never_sent"]
    r["rate"] = r["sent"] / r["wall"]     # the whole run: arrivals still waiting at the shape's end count too
    return r


def saturation(stack: str, seconds: float) -> str:
    from drillkit.drill import Drill
    from drillkit.load.search import SearchSpec
    from drillkit.timeline import Timeline
    spec = load_stack(stack)
    source = "x-drillkit.users"
    if not spec.users:
        return f"| {stack} | — | — | no user kind as data yet |"
    kind = next(iter(spec.users))
    env = Environment(spec, progress=lambda m: None)
    try:
        env.up()
        tl = Timeline()
        d = Drill(env, tl, allure_steps=False)
        s = SearchSpec(base=5.0, actions=((kind, 1.0),), p95=1.0, served=0.99,
                       factors=(1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128), hold=seconds, settle=2.0, refine=1, timeout=5.0,
                       concurrency=400, max_duration=300)
        r = d.search(s)
        d.finish()
        held = r.held_at
        if held is None:
            return f"| {stack} | {kind} ({source}) | below 5/s | p95 over 1 s already at 5 arrivals/s |"
        step = max((x for x in r.steps if x.factor == held), key=lambda x: x.factor)
        req = sum(1 for p in tl.probes() if p.get("load") == f"×{held:g}") / seconds
        broke = "not reached" if r.broke_at is None else f"breaks at {5 * r.broke_at:g}/s"
        return (f"| {stack} | {kind} ({source}) | {step.rate:g} arrivals/s (~{req:.0f} requests/s), "
                f"p95 {step.p95 * 1000:.0f} ms | {broke} |")
    finally:
        env.down()


def saturation_table(seconds: float) -> int:
    print("\n## Saturation point of each stack (search: p95 ≤ 1 s and ≥ 99 % served per step, from 5 arrivals/s)\n")
    print("| stack | action | last step that held | |\n|---|---|---|---|")
    for stack in ("registry", "booking", "identity"):
        print(saturation(stack, min(seconds, 8.0)), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="wrk, drillkit, wrk, drillkit, ... (median of each)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="the generator's open-loop rate; default: 1.25x what a 2 s calibration run at 20,000/s sent")
    ap.add_argument("--saturation", action="store_true", help="also each reference stack's saturation point")
    ap.add_argument("--saturation-only", action="store_true", help="only the saturation points (no wrk comparison)")
    args = ap.parse_args()
    if not 1 <= args.seconds <= 30:
        ap.error("--seconds must be 1..30 (loads stay short)")
    if args.saturation_only:
        return saturation_table(args.seconds)
    env = Environment(load_stack(FASTPATH), progress=lambda m: None)
    try:
        env.up()
        node = env.nodes["lb"][0]
        try:
            client().api.update_container(node.container_name, cpuset_cpus="1")
            pinned = "endpoint on core 1, clients on core 0"
        except Exception as exc:  # an engine that cannot pin: say so, measure anyway
            pinned = f"endpoint not pinned ({exc.__class__.__name__})"
        url = env.url() + "/"
        wrk, dk = [], []
        rate = args.rate
        if not rate:
            # far above what one core sends, most arrivals find no free worker and are recorded as never
            # sent — records that cost the same core: ask for a little more than it can send instead
            rate = round(1.25 * run_drillkit(url, 2.0, args.connections, 20000.0)["rate"])
        for _ in range(args.rounds):
            wrk.append(run_wrk(url, args.seconds, args.connections))
            dk.append(run_drillkit(url, args.seconds, args.connections, rate))
        import statistics
        w = statistics.median(wrk)
        d = statistics.median(x["rate"] for x in dk)
        print(f"\n## Load generator vs wrk ({pinned}; {args.connections} connections, {args.seconds:g} s, "
              f"median of {args.rounds})\n")
        print("| client | requests/s | rounds |\n|---|---|---|")
        print(f"| wrk (1 thread) | {w:,.0f} | {', '.join(f'{x:,.0f}' for x in wrk)} |")
        rounds_dk = ", ".join(f"{x['rate']:,.0f}" for x in dk)
        print(f"| drillkit OpenLoop (user kind `hits`, timeline to a file; offered {rate:,.0f}/s) | {d:,.0f} | "
              f"{rounds_dk} |")
        print(f"\nratio drillkit / wrk: {d / w:.2f} (goal ≥ 0.30)")
    finally:
        env.down()
    if args.saturation:
        saturation_table(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

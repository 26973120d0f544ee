"""Capacity of the three reference stacks on this machine: a script that prints a table (not a test).

    .venv/bin/python benchmarks/capacity.py [--quick]

1. Builds the images (cached) first, then starts registry, booking and identity *together* and
   reports each one's time to healthy (images built) and the wall time until all three are healthy.
2. Total memory of the run's containers from ``docker stats --no-stream`` (per stack and in total).
3. Throughput of each stack's main user path at its baseline user count (closed loop, 5 s), with
   the user kinds each stack declares in its compose.yaml: registry 20 ``clerks`` (read records,
   every 4th a move), booking 10 ``citizens-any-day`` (list → hold → book), identity 5 ``logins``
   (new logins back to back).
4. Saturation point of each stack: an open-loop rate stepped up (2 s per step, at most 10 s per
   load) until the p95 latency of a step exceeds 1 s; the last step under 1 s is the saturation
   point (requests/s answered in that step). Each arrival is one iteration of the same user kind
   (``drillkit.load.OpenLoop`` with ``resolve_actions``).

Booking baseline: the source system was sized for 25,000 bookings per quarter. The drill compresses
one quarter of opening hours (13 weeks x 42 h = 546 h) into one hour of drill time (compression
546 : 1), so the baseline is 25,000 / 3600 s = 6.9 bookings/s (~21 requests/s: list, hold, book),
the x4 overload of 2023 is 27.8 bookings/s, and the 100,000 bookings it got are that same x4.

Every load goes to 127.0.0.1 only, is bounded in time and count, and stops by itself; every object
is labelled with this run and removed at the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from drillkit import labels as L  # noqa: E402
from drillkit.lab import images  # noqa: E402
from drillkit.lab.compose import load_environment  # noqa: E402
from drillkit.lab.engine import client as docker_client  # noqa: E402
from drillkit.lab.environment import Environment  # noqa: E402
from drillkit.load import OpenLoop  # noqa: E402
from drillkit.load.actions import resolve_actions  # noqa: E402
from drillkit.timeline import Timeline  # noqa: E402
from drillkit.traffic.shapes import Steps, per_second, percentile  # noqa: E402

BASELINE_PER_QUARTER = 25_000
DRILL_SECONDS_PER_QUARTER = 3600.0
BOOKING_BASELINE = per_second(BASELINE_PER_QUARTER, drill_seconds_per_quarter=DRILL_SECONDS_PER_QUARTER)
P95_LIMIT = 1.0
STEP_SECONDS = 2.0


SATURATION = {
    # stack: (user kind, first rate, step, max rate) in iterations/s; a booking iteration is 3 requests
    "registry": ("clerks", 20, 30, 140),
    "booking": ("citizens-any-day", 5, 7, 33),
    "identity": ("logins", 4, 4, 20),
}
# stack: (user kind, users, the population its work counts for)
BASELINE = {"registry": ("clerks", 20, "existing-sessions"), "booking": ("citizens-any-day", 10, "citizens"),
            "identity": ("logins", 5, "new-logins")}


# --- measuring -------------------------------------------------------------------------------
def memory_mib(run_ids: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"],
                         capture_output=True, text=True, timeout=60).stdout
    units = {"B": 1 / 2**20, "KiB": 1 / 1024, "kB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024}
    per = {k: 0.0 for k in run_ids}
    for line in out.splitlines():
        name, _, usage = line.partition("\t")
        for stack, run in run_ids.items():
            if name.startswith(f"{run}-"):
                m = re.match(r"([\d.]+)\s*([A-Za-z]+)", usage.split("/")[0].strip())
                if m:
                    per[stack] += float(m.group(1)) * units.get(m.group(2), 1)
    return per


def baseline(stack: str, env: Environment, seconds: float = 5.0) -> dict:
    tl = Timeline()
    kind, n, pop = BASELINE[stack]
    unit = {"registry": "requests", "booking": "bookings", "identity": "logins"}[stack]
    pool = pool_for(kind, n, timeline=tl, env=env, think=0.2, max_duration=seconds + 5)
    pool.start(wait_ready=20)
    t0 = tl.now()
    time.sleep(seconds)
    t1 = tl.now()
    pool.stop()
    probes = [p for p in tl.probes(pop) if t0 <= p["t"] < t1]
    ok = [p for p in probes if p["ok"]]
    if stack == "booking":
        done = len([w for w in tl.writes(ledger="bookings", outcome="ok") if t0 <= w["t"] < t1 + 3])
    elif stack == "identity":
        done = len([p for p in ok if p["op"] == "POST /login"])
    else:
        done = len(ok)
    lat = [p["latency"] for p in ok]
    return {"users": n, "req_s": len(probes) / (t1 - t0), "ok_ratio": len(ok) / max(1, len(probes)),
            "unit": unit, "done_s": done / (t1 - t0), "p50": percentile(lat, 0.5), "p95": percentile(lat, 0.95)}


def saturation(stack: str, env: Environment) -> dict:
    kind, first, step, top = SATURATION[stack]
    tl = Timeline()        # this load's own: every probe on it is the load's
    shape = Steps(first, step, STEP_SECONDS, top)
    t_start = tl.now()
    OpenLoop(shape, resolve_actions(kind, env.spec, timeout=5.0), timeline=tl, env=env, population="sat",
             concurrency=128, timeout=5.0, max_arrivals=50_000).run()
    steps = []
    for k in range(shape.count):
        a, b = t_start + k * STEP_SECONDS, t_start + (k + 1) * STEP_SECONDS
        ps = [p for p in tl.probes() if a <= p["t"] < b]
        lat = [p["latency"] if p["status"] is not None else 5.0 for p in ps]  # no answer counts as 5 s
        okr = sum(p["ok"] for p in ps) / max(1, len(ps))
        steps.append({"rate": first + k * step, "req_s": sum(1 for p in ps if p.get("sent", True)) / STEP_SECONDS,
                      "p95": percentile(lat, 0.95), "ok": okr})
    under = [s for s in steps if s["p95"] <= P95_LIMIT and s["ok"] >= 0.95]
    over = next((s for s in steps if s["p95"] > P95_LIMIT or s["ok"] < 0.95), None)
    return {"steps": steps, "under": under[-1] if under else None, "over": over}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the saturation search")
    args = ap.parse_args()
    c = docker_client()
    stacks = ["registry", "booking", "identity"]
    run = L.new_run_id()
    envs = {s: Environment(load_environment(s), run_id=f"{run}{i}", build=False, progress=lambda m: None)
            for i, s in enumerate(stacks)}
    t = time.monotonic()
    for env in envs.values():
        specs = env.build_specs()
        images.ensure_base_images(c, specs, progress=lambda m: None)
        images.build_images(c, specs, progress=lambda m: None)
    images.ensure_toxiproxy_image(c, progress=lambda m: None)
    print(f"images ready (cached builds) in {time.monotonic() - t:.1f} s")

    startup: dict[str, float] = {}
    try:
        t0 = time.monotonic()

        def up(name: str) -> None:
            try:
                envs[name].up()
            except Exception as exc:  # a shared, overloaded machine: one more try, said out loud
                print(f"{name}: start-up failed ({str(exc)[:160]}); trying once more", flush=True)
                envs[name].down()
                envs[name] = Environment(envs[name].spec, run_id=envs[name].run_id + "r", build=False,
                                         progress=lambda m: None)
                envs[name].up()
            startup[name] = time.monotonic() - t0
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(up, stacks))
        all_up = time.monotonic() - t0
        print(f"\n## Start-up, all three together (images built)\n")
        print("| stack | containers | healthy after |")
        print("|---|---|---|")
        for s in stacks:
            print(f"| {s} | {sum(len(v) for v in envs[s].nodes.values()) + (1 if envs[s].links else 0)} "
                  f"| {startup[s]:.1f} s |")
        print(f"| all three | | {all_up:.1f} s |")

        time.sleep(2)
        mem = memory_mib({s: envs[s].run_id for s in stacks})
        print("\n## Memory (docker stats --no-stream, idle after start-up)\n")
        print("| stack | MiB |\n|---|---|")
        for s in stacks:
            print(f"| {s} | {mem[s]:.0f} |")
        print(f"| total | {sum(mem.values()):.0f} |")

        print("\n## Throughput of the main user path at the baseline user count (closed loop, 5 s, think 0.2 s)\n")
        print("| stack | users | requests/s | ok | completed | p50 | p95 |\n|---|---|---|---|---|---|---|")
        for s in stacks:
            b = baseline(s, envs[s])
            print(f"| {s} | {b['users']} | {b['req_s']:.1f} | {b['ok_ratio']:.1%} | {b['done_s']:.1f} {b['unit']}/s "
                  f"| {b['p50'] * 1000:.0f} ms | {b['p95'] * 1000:.0f} ms |")
        print(f"\nbooking baseline (25,000/quarter, 1 quarter = {DRILL_SECONDS_PER_QUARTER:.0f} s of drill): "
              f"{BOOKING_BASELINE:.1f} bookings/s; x4 overload {4 * BOOKING_BASELINE:.1f} bookings/s")

        if not args.quick:
            print(f"\n## Saturation (open loop, {STEP_SECONDS:g} s steps; p95 > {P95_LIMIT:g} s or < 95 % ok ends it)\n")
            print("| stack | steps (actions/s → answered req/s, p95) | saturation point |\n|---|---|---|")
            for s in stacks:
                r = saturation(s, envs[s])
                steps = ", ".join(f"{x['rate']}→{x['req_s']:.0f} ({x['p95'] * 1000:.0f} ms)" for x in r["steps"])
                u, o = r["under"], r["over"]
                if u and o:
                    point = f"~{u['req_s']:.0f} req/s ({u['rate']} actions/s); p95 > 1 s at {o['rate']} actions/s"
                elif u:
                    point = f"not reached: ≥ {u['req_s']:.0f} req/s at p95 {u['p95'] * 1000:.0f} ms"
                else:
                    point = f"below the first step ({r['steps'][0]['rate']} actions/s)"
                print(f"| {s} | {steps} | {point} |")
                time.sleep(3)  # let the stack drain before the next one
    finally:
        for env in envs.values():
            env.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())

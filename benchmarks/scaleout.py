"""Scale-out curve of the booking stack (incident 3): does adding instances help?

    .venv/bin/python benchmarks/scaleout.py [--seconds 5] [--citizens 32]

For ``allocation=restricted`` (the product restriction of 2023: one global lock around every
allocation) and ``allocation=scalable`` (a row lock per slot), the booking throughput with 5 app
instances and — the same environment scaled with ``env.scale("app", 10)`` — with 10, printed side
by side with the ratio 10/5. The two sizes alternate (5, 10, 5, 10: ``env.scale`` down removes the
newest instances) so that load from other work on a shared machine hits both alike; the median of the rounds is
printed, with every round's figure beside it. The issue's expectation: restricted differs by less than 10 %,
scalable grows.

Load: ``--citizens`` closed-loop citizens without think time, each booking a random slot of a random
day of the quarter (the booking stack's user kind ``citizens-any-day``: little contention, so the lock
— not collisions — decides),
for ``--seconds`` per measurement after a 1 s warm-up. Booking baseline for comparison: 25,000
bookings per quarter with one quarter of opening hours (546 h) compressed into one hour of drill
(546 : 1) = 6.9 bookings/s; the x4 overload = 27.8 bookings/s.

Bounded (≤ 10 s of load per measurement, 127.0.0.1 only); every object is removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from drillkit import labels as L  # noqa: E402
from drillkit.lab.compose import load_environment  # noqa: E402
from drillkit.lab.environment import Environment  # noqa: E402
from drillkit.timeline import Timeline  # noqa: E402
from drillkit.traffic.shapes import per_second, percentile  # noqa: E402

CITIZENS = "citizens"

BASELINE = per_second(25_000, drill_seconds_per_quarter=3600)


def measure(env: Environment, n: int, seconds: float, seed: int) -> dict:
    tl = Timeline()
    pool = pool_for("citizens-any-day", n, timeline=tl, env=env, seed=seed, think=0.0, timeout=5.0,
                    max_duration=seconds + 3)
    pool.start(wait_ready=5)
    time.sleep(1.0)                     # warm-up: connections, caches
    t0 = tl.now()
    time.sleep(seconds)
    t1 = tl.now()
    pool.stop()
    booked = [w for w in tl.writes(ledger="bookings", outcome="ok") if t0 <= w["t"] < t1]
    probes = [p for p in tl.probes(CITIZENS) if t0 <= p["t"] < t1]
    books = [p["latency"] for p in probes if p["op"] == "POST /bookings" and p["ok"]]
    holds = [p["latency"] for p in probes if p["op"] == "POST /holds" and p["ok"]]
    from collections import Counter
    statuses = Counter(f"{p['op'].split()[1]} {p['status'] or p['error']}" for p in probes)
    return {"bookings_s": len(booked) / (t1 - t0), "requests_s": len(probes) / (t1 - t0),
            "statuses": dict(statuses),
            "errors": sum(1 for p in probes if not p["ok"]),
            "hold_p50": percentile(holds, 0.5), "book_p50": percentile(books, 0.5),
            "book_p95": percentile(books, 0.95)}


def avg(ms: list[dict]) -> dict:
    keys = ("bookings_s", "requests_s", "errors", "hold_p50", "book_p50", "book_p95")
    import statistics
    out = {k: statistics.median(m[k] for m in ms) for k in keys}
    out["each"] = [round(m["bookings_s"], 1) for m in ms]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--citizens", type=int, default=32)
    ap.add_argument("--modes", default="restricted,scalable")
    ap.add_argument("--rounds", type=int, default=3, help="5, 10, 5, 10 ... (alternating evens out noise)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print answers by status")
    args = ap.parse_args()
    if not 1 <= args.seconds <= 10:
        ap.error("--seconds must be 1..10 (loads stay short)")
    rows = {}
    for k, mode in enumerate(args.modes.split(",")):
        env = Environment(load_environment("booking", {"allocation": mode}),
                          run_id=f"{L.new_run_id()}s{k}", progress=lambda m: None)
        try:
            t = time.monotonic()
            env.up()
            print(f"{mode}: up in {time.monotonic() - t:.1f} s", flush=True)
            runs: dict[int, list[dict]] = {5: [], 10: []}
            for r, n in enumerate([5, 10] * args.rounds):
                if len(env.nodes["app"]) != n:
                    t = time.monotonic()
                    env.scale("app", n)
                    print(f"{mode}: scaled to {n} app instances in {time.monotonic() - t:.1f} s", flush=True)
                    time.sleep(2.0)     # the LB's health checks take servers in and out (~0.5-1 s)
                m = measure(env, args.citizens, args.seconds, seed=10 * k + r)
                runs[n].append(m)
                print(f"{mode}: {n} instances: {m['bookings_s']:.1f} bookings/s"
                      + (f" {m['statuses']}" if args.verbose else ""), flush=True)
            rows[mode] = (avg(runs[5]), avg(runs[10]))
        finally:
            env.down()

    print(f"\n## Booking scale-out, {args.citizens} citizens without think time, {args.seconds:g} s per "
          f"measurement, median of {args.rounds} alternating rounds (5, 10, 5, 10, ...)\n")
    print("| allocation | 5 instances | 10 instances | ratio 10/5 | booking p50 / p95 (5 → 10) | errors | verdict |")
    print("|---|---|---|---|---|---|---|")
    for mode, (five, ten) in rows.items():
        ratio = ten["bookings_s"] / five["bookings_s"] if five["bookings_s"] else float("nan")
        want = "< 10 % change" if mode == "restricted" else "grows"
        ok = abs(ratio - 1) < 0.10 if mode == "restricted" else ratio > 1.10
        print(f"| {mode} | {five['bookings_s']:.1f} bookings/s {five['each']} | {ten['bookings_s']:.1f} bookings/s "
              f"{ten['each']} | {ratio:.2f} "
              f"| {five['book_p50'] * 1000:.0f}/{five['book_p95'] * 1000:.0f} → "
              f"{ten['book_p50'] * 1000:.0f}/{ten['book_p95'] * 1000:.0f} ms "
              f"| {five['errors']:.0f} / {ten['errors']:.0f} | {want}: {'yes' if ok else 'NO'} |")
    print(f"\nbaseline 25,000 bookings/quarter compressed 546:1 = {BASELINE:.1f} bookings/s; "
          f"x4 overload = {4 * BASELINE:.1f} bookings/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

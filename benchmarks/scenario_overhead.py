"""Scenario runner overhead: the same short drill as a YAML scenario and as direct Drill calls.

    .venv/bin/python benchmarks/scenario_overhead.py [--rounds 2] [--steady 3] [--observe 3]

One registry environment is brought up once; each round runs both variants (alternating which goes
first) on it, resetting in between. Prints the wall time of each drill, the medians and the ratio
scenario / direct (goal: ≤ 1.05). Needs Docker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from drillkit import verdicts as V
from drillkit.drill import Drill
from drillkit.faults.process import Kill
from drillkit.lab.environment import Environment
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario
from drillkit.stack import load_stack
from drillkit.stack.target import Target
from drillkit.timeline import Timeline

EXISTING = "existing-sessions"

COMPOSE = REPO / "environments" / "registry" / "compose.yaml"
USERS, RECOVER = 20, 1.0


def scenario_text(steady: float, observe: float) -> str:
    return f"""\
scenario: overhead benchmark, app node kill
environment: {COMPOSE}
users: {{clerks: {USERS}}}
probe: {{interval: 0.05, path: /version}}
steady_state: {{duration: {steady}, availability: {{existing-sessions: 0.99}}}}
faults:
  - {{kind: kill, target: {{service: app, replica: 2}}, at: 0s, for: {observe}}}
observe: {observe}
recover: {RECOVER}
guards:
  - {{population: existing-sessions, availability_below: 0.5, for: 5s}}
expect:
  recovery_time: {{population: existing-sessions, max: 5s, consecutive: 3}}
  sessions_lost: 0
  writes_lost: 0
"""


def direct(drill: Drill, steady: float, observe: float) -> None:
    """The Python way, block for block what the scenario says."""
    with drill.phase("steady"):
        drill.users("clerks", USERS)
        drill.probe(interval=0.05, path="/version")
        drill.wait(steady)
        drill.check(V.availability(drill.timeline, population=EXISTING, minimum=0.99, label="steady state"))
    with drill.phase("inject"):
        kill = drill.inject(Kill(Target("app", replica=2)))
    with drill.phase("observe"):
        drill.wait(observe)
    with drill.phase("recover"):
        drill.heal(kill)
        drill.wait(RECOVER)
    with drill.phase("verify"):
        drill.stop_traffic()
        drill.ground_truth("writes")
        drill.check(V.recovery_time(drill.timeline, target=5.0, population=EXISTING, consecutive=3),
                    V.sessions_lost(drill.timeline), V.writes_lost(drill.timeline))


def timed(env: Environment, name: str, body, out: Path) -> float:
    tl = Timeline(out / f"{name}-{time.monotonic_ns()}.jsonl", drill=name, run=env.run_id, environment=env.name)
    drill = Drill(env, tl, allure_steps=False)
    t0 = time.monotonic()
    try:
        body(drill)
    finally:
        drill.finish()
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steady", type=float, default=3.0)
    ap.add_argument("--observe", type=float, default=3.0)
    args = ap.parse_args()

    out = Path(tempfile.mkdtemp(prefix="dk-bench-"))
    sc_file = out / "overhead.yaml"
    sc_file.write_text(scenario_text(args.steady, args.observe), encoding="utf-8")
    t = time.monotonic()
    scenario = load_scenario(sc_file)
    load_s = time.monotonic() - t

    env = Environment(load_stack(COMPOSE), progress=lambda m: None)
    print(f"bringing up registry (run {env.run_id}) ...", flush=True)
    env.up()
    times: dict[str, list[float]] = {"direct": [], "scenario": []}
    try:
        for r in range(args.rounds):
            order = ["direct", "scenario"] if r % 2 == 0 else ["scenario", "direct"]
            for name in order:
                env.reset()
                body = (lambda d: direct(d, args.steady, args.observe)) if name == "direct" \
                    else (lambda d: run_scenario(scenario, d))
                s = timed(env, name, body, out)
                times[name].append(s)
                print(f"round {r + 1}: {name:<8} {s:7.2f} s", flush=True)
    finally:
        env.down()

    d, s = statistics.median(times["direct"]), statistics.median(times["scenario"])
    print()
    print(f"{'':<10}{'median':>9}{'runs':>28}")
    print(f"{'direct':<10}{d:8.2f}s  {', '.join(f'{x:.2f}' for x in times['direct'])}")
    print(f"{'scenario':<10}{s:8.2f}s  {', '.join(f'{x:.2f}' for x in times['scenario'])}")
    print(f"validation of the scenario file (once, before the run): {load_s * 1000:.0f} ms")
    ratio = s / d
    print(f"ratio scenario/direct: {ratio:.3f} ({'within' if ratio <= 1.05 else 'above'} the 5 % goal)")
    print(f"timelines: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

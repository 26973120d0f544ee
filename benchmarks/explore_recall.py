#!/usr/bin/env python3
"""How many seeded defects does `drill explore` find, how fast, and how small — against a random
nemesis in the same budget? (issue 17)

For each seeded defect of the shipped stacks and examples that a fault schedule can expose, the
stack's exploration file (explorations/*.yaml, examples/*/explorations/*.yaml) is explored with the
defect's switch: the **generic** vocabulary drillkit derives from the stack within the promise's
scope (every kind that can act on the targets the promise is about, any time, alone or combined —
never the one fault the catalogue drill scripts) and the **usual expect** of the catalogue drill the
file names. Then, on the same environment and with the same budget, the random baseline: uniform
random schedules from the same vocabulary, the same confirmation, no shrinking (Jepsen's random
nemesis). Every exploration starts from an empty example database (nothing replayed).

One row per run, appended to a results file (JSON lines), so the table can be gathered over several
sittings (8 min each side by default: ~16-20 min a row, longer where a trial needs a fresh
environment):

    found      the guided search confirmed a failing schedule (2 of 2 runs) within its budget
    time       from the start to the end of the first failing run of that schedule
    trials     the trial (run of the environment) in which it first failed
    shrunk     faults in the shrunk schedule (from how many in the first failing one)
    confirmed  k of n runs of the shrunk schedule that failed
    random     the baseline's first confirmed failing schedule: time, trial, size (not shrunk)
    reset      median seconds between two trials (Environment.reset + the stack's reset steps)
    trials/h   runs of the environment per hour, both sides together

A sound row (`--sound FILE`) explores the same file without a switch: anything that fails there is a
false finding — a defect of drillkit (or of the promise's scope), never of the stack.

Usage (starts containers: on a shared machine run it under the lab lock):
    .venv/bin/python benchmarks/explore_recall.py --list
    flock /tmp/drillkit-lab.lock .venv/bin/python benchmarks/explore_recall.py --defect registry:sessions=node-local
    flock /tmp/drillkit-lab.lock .venv/bin/python benchmarks/explore_recall.py --sound registry_app_tier
    .venv/bin/python benchmarks/explore_recall.py --table          # the table of every row so far
Options: --budget 8m (each side), --seed 1, --results FILE (default reports/explore-recall.jsonl),
--no-baseline, --keep-reports DIR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from drillkit.errors import DrillkitError  # noqa: E402
from drillkit.explore import (Budget, BaselineResult, Exploration, LabRunner, explore, load_exploration,  # noqa: E402
                              parse_budget, random_baseline)
from drillkit.explore.durations import format_elapsed  # noqa: E402

REGISTRY_APP = "explorations/registry_app_tier.yaml"
REGISTRY_PRIMARY = "explorations/registry_primary.yaml"
REGISTRY_DOWN = "explorations/registry_all_down.yaml"
BOOKING_APP = "explorations/booking_app_tier.yaml"
LIBRARY_APP = "examples/library-loans/explorations/library_app_tier.yaml"
PATRONI = "examples/patroni/explorations/patroni_primary.yaml"


@dataclass(frozen=True)
class Defect:
    name: str                      # stack:switch=value
    file: str                      # the exploration (promise, scope, budget)
    switches: dict = field(default_factory=dict)
    causes: int = 1                # faults the shrunk schedule should have (the goal)
    catalogue: str = ""            # the fault the catalogue drill uses (the exploration is never given it)


DEFECTS = [
    Defect("registry:sessions=node-local", REGISTRY_APP, {"sessions": "node-local"}, 1,
           "kill app-2 (drills/test_registry_node_kill.py)"),
    Defect("registry:lb_health=slow", REGISTRY_APP, {"lb_health": "slow"}, 1, "kill app-2"),
    Defect("registry:lb_failover=off", REGISTRY_APP, {"lb_failover": "off"}, 1, "kill app-2"),
    Defect("registry:ack=before-commit", REGISTRY_APP, {"ack": "before-commit"}, 1,
           "kill right after acknowledgements (tests/lab/test_registry_defects.py)"),
    Defect("registry:replication=async", REGISTRY_PRIMARY, {"replication": "async"}, 2,
           "link_down replication, then kill db healed by promote-replica (drills/test_registry_db_failover.py)"),
    Defect("registry:notice=off", REGISTRY_DOWN, {"notice": "off"}, 2,
           "kill every app node (drills/test_registry_all_down.py)"),
    Defect("booking:booking=no-unique", BOOKING_APP, {"booking": "no-unique"}, 1,
           "kill app-2 (drills/test_booking_instance_kill.py)"),
    Defect("library-loans:sessions=node-memory", LIBRARY_APP, {"sessions": "node-memory"}, 1,
           "kill app-2 (examples/library-loans/scenarios/library_node_kill.yaml)"),
    Defect("patroni:replication=async", PATRONI, {"replication": "async"}, 2,
           "partition primary|replica, kill the primary (examples/patroni/scenarios/patroni_primary_loss.yaml)"),
]
SOUND = {Path(f).stem: f for f in (REGISTRY_APP, REGISTRY_PRIMARY, REGISTRY_DOWN, BOOKING_APP, LIBRARY_APP, PATRONI)}


def _defect(name: str) -> Defect:
    exact = [d for d in DEFECTS if d.name == name]
    short = [d for d in DEFECTS if d.name.split(":", 1)[1] == name]
    found = exact or short
    if len(found) != 1:
        raise SystemExit(f"explore_recall: --defect {name!r}: " + ("ambiguous, say the stack: " if short else "unknown; ")
                         + ", ".join(d.name for d in (short or DEFECTS)))
    return found[0]


def _commit() -> str | None:
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or None


def _guided(e: Exploration) -> dict:
    f = e.finding
    return {"found": f is not None, "found_trial": f.found_run if f else None,
            "found_after": round(f.found_after, 1) if f else None, "size": f.schedule.size if f else None,
            "first_size": f.first.size if f else None, "shrink_runs": f.shrink_runs if f else None,
            "reproduced": list(f.reproduced) if f else None, "fully_shrunk": f.fully_shrunk if f else None,
            "schedule": f.schedule.text if f else None, "first": f.first.text if f else None,
            "verdicts": list(f.verdicts) if f else [], "first_failure_trial": e.first_failure_run,
            "intermittent": [i.sentence() for i in e.intermittent], "others": [o.schedule.text for o in e.others],
            "runs": e.coverage.runs, "not_judged": e.coverage.not_judged, "elapsed": round(e.elapsed, 1),
            "stopped": e.stopped, "notes": list(e.notes)}


def _random(b: BaselineResult) -> dict:
    return {"found": b.schedule is not None, "found_trial": b.found_run,
            "found_after": round(b.found_after, 1) if b.found_after is not None else None, "size": b.size,
            "reproduced": list(b.reproduced) if b.reproduced else None,
            "schedule": b.schedule.text if b.schedule else None, "verdicts": list(b.verdicts),
            "intermittent": [i.sentence() for i in b.intermittent], "runs": b.coverage.runs,
            "not_judged": b.coverage.not_judged, "elapsed": round(b.coverage.elapsed, 1), "stopped": b.stopped}


def run_row(name: str, file: str, switches: dict, *, sound: bool, budget: Budget, seed: int, baseline: bool,
            report_dir: Path, causes: int | None = None, catalogue: str = "") -> dict:
    exploring = load_exploration(ROOT / file, switches=switches, budget=budget, seed=seed)
    v = exploring.vocabulary
    print(f"explore_recall: {name}: {v.describe()}", flush=True)

    def say(text: str) -> None:
        print(f"  {text}", flush=True)

    def progress(p) -> None:
        print(f"  {p.line()}", flush=True)

    row: dict = {"row": name, "sound": sound, "file": file, "stack": exploring.stack.stack, "switches": switches,
                 "causes": causes, "catalogue": catalogue, "budget": budget.text(), "seed": seed,
                 "options": len(v.options), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": _commit()}
    with LabRunner(exploring, report_dir=report_dir, say=say) as runner:
        runner.start()
        guided = explore(v, runner, database=None, progress=progress)
        row["guided"] = _guided(guided)
        guided_runs = len(runner.runs)
        if baseline and guided.stopped != "interrupted":
            row["random"] = _random(random_baseline(v, runner, progress=progress))
        m = runner.measured()
        row["measured"] = m
        elapsed = row["guided"]["elapsed"] + (row.get("random") or {}).get("elapsed", 0.0)
        row["trials_per_hour"] = round(len(runner.runs) / elapsed * 3600, 1) if elapsed else None
        row["runs"] = {"guided": guided_runs, "total": len(runner.runs)}
    return row


# -- the table ----------------------------------------------------------------------------------------------
def _t(seconds: float | None) -> str:
    return "—" if seconds is None else format_elapsed(seconds)


def _n(value) -> str:
    return "—" if value is None else str(value)


def table(rows: list[dict]) -> list[str]:
    latest: dict[str, dict] = {}
    for r in rows:                      # the newest row of each defect / sound file counts
        latest[r["row"]] = r
    defects = [r for r in latest.values() if not r["sound"]]
    sound = [r for r in latest.values() if r["sound"]]
    lines = ["| seeded defect | found | time | trials | shrunk (from) | causes | confirmed | random: time | random: trials "
           "| random: size | reset (median) | trials/h |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(defects, key=lambda r: r["row"]):
        g, b = r["guided"], r.get("random") or {}
        shrunk = f"{g['size']} ({g['first_size']})" if g["found"] else "—"
        conf = f"{g['reproduced'][0]} of {g['reproduced'][1]}" if g.get("reproduced") else "—"
        inter = f" (+{len(g['intermittent'])} intermittent)" if g.get("intermittent") else ""
        lines.append(f"| {r['row']} | {'yes' if g['found'] else 'no'}{inter} | {_t(g['found_after'])} | {_n(g['found_trial'])} "
                   f"| {shrunk} | {_n(r.get('causes'))} | {conf} | {_t(b.get('found_after')) if b else '—'} "
                   f"| {_n(b.get('found_trial')) if b else '—'} | {_n(b.get('size')) if b else '—'} "
                   f"| {_reset(r)} | {_n(r.get('trials_per_hour'))} |")
    found = [r for r in defects if r["guided"]["found"]]
    if defects:
        lines.append("")
        lines.append(f"found: {len(found)} of {len(defects)} seeded defects within their budget")
        both = [(r["guided"]["found_after"], r["random"]["found_after"]) for r in found
                if (r.get("random") or {}).get("found")]
        guided_t = [r["guided"]["found_after"] for r in found]
        random_t = [r["random"]["found_after"] for r in defects if (r.get("random") or {}).get("found")]
        if guided_t:
            lines.append(f"median time to find: guided {_t(statistics.median(guided_t))}, random "
                         f"{_t(statistics.median(random_t)) if random_t else '— (found nothing)'}"
                         + (f"; found by both: median ratio random/guided "
                            f"{statistics.median(b / max(g, 1e-9) for g, b in both):.2f}×" if both else ""))
        sizes = [(r["guided"]["size"], r.get("causes")) for r in found]
        lines.append("shrunk to the number of causes: " + f"{sum(1 for s, c in sizes if c is not None and s == c)} of "
                     f"{len(sizes)}")
    if sound:
        lines += ["", "| sound exploration | runs | false findings | intermittent | not judged | reset (median) | trials/h |",
                  "|---|---|---|---|---|---|---|"]
        for r in sorted(sound, key=lambda r: r["row"]):
            g, b = r["guided"], r.get("random") or {}
            false = int(g["found"]) + len(g.get("others") or []) + int(bool(b.get("found")))
            inter = len(g.get("intermittent") or []) + len(b.get("intermittent") or [])
            lines.append(f"| {r['row']} | {r['runs']['total']} | {false} | {inter} | "
                       f"{g['not_judged'] + b.get('not_judged', 0)} | {_reset(r)} | {_n(r.get('trials_per_hour'))} |")
    return lines


def _reset(r: dict) -> str:
    resets = (r.get("measured") or {}).get("resets") or {}
    fresh = (r.get("measured") or {}).get("fresh_environments") or {}
    text = "—" if not resets.get("count") else f"{resets['median']:.2f} s"
    if fresh.get("count"):
        text += f" (+{fresh['count']} fresh, {fresh['median']:.0f} s)"
    return text


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--defect", help="one seeded defect (see --list), e.g. registry:sessions=node-local")
    what.add_argument("--sound", help="one exploration file's stem on the sound stack (see --list)")
    what.add_argument("--list", action="store_true", help="the defects and sound explorations; nothing starts")
    what.add_argument("--table", action="store_true", help="print the table of the rows in the results file")
    p.add_argument("--budget", default="8m", help="each side's budget: a time, trials, or both (default 8m)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-baseline", action="store_true", help="skip the random baseline")
    p.add_argument("--results", default=str(ROOT / "reports" / "explore-recall.jsonl"),
                   help="the JSON-lines file each row is appended to (default reports/explore-recall.jsonl)")
    p.add_argument("--keep-reports", metavar="DIR", help="keep the timelines of failing trials here")
    args = p.parse_args(argv)
    results = Path(args.results)
    if args.list:
        for d in DEFECTS:
            e = load_exploration(ROOT / d.file, switches=d.switches)
            print(f"{d.name:38} {d.file}  ({len(e.vocabulary.options)} faults; {d.causes} cause(s); "
                  f"the catalogue drill: {d.catalogue})")
        for stem, f in SOUND.items():
            print(f"sound {stem:32} {f}")
        return 0
    if args.table:
        print("\n".join(table(read_rows(results))))
        return 0
    try:
        budget = parse_budget(args.budget)
    except DrillkitError as exc:
        raise SystemExit(f"explore_recall: {exc}")
    report_dir = Path(args.keep_reports) if args.keep_reports else Path(tempfile.mkdtemp(prefix="explore-recall-"))
    try:
        if args.defect:
            d = _defect(args.defect)
            row = run_row(d.name, d.file, d.switches, sound=False, budget=budget, seed=args.seed,
                          baseline=not args.no_baseline, report_dir=report_dir, causes=d.causes, catalogue=d.catalogue)
        else:
            if args.sound not in SOUND:
                raise SystemExit(f"explore_recall: --sound {args.sound!r}: use one of {', '.join(SOUND)}")
            row = run_row(f"sound {args.sound}", SOUND[args.sound], {}, sound=True, budget=budget, seed=args.seed,
                          baseline=not args.no_baseline, report_dir=report_dir)
    except KeyboardInterrupt:
        print("explore_recall: interrupted; no row written (the lab was removed)", file=sys.stderr)
        return 130
    finally:
        if not args.keep_reports:
            shutil.rmtree(report_dir, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, default=str) + "\n")
    print(f"explore_recall: row appended to {results}")
    print("\n".join(table(read_rows(results))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

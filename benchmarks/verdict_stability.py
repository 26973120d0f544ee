#!/usr/bin/env python3
"""Do the catalogue's verdicts come out the same every run? (issue 7)

Runs every catalogue drill N times (default 10) on the sound stack and N times on each defect it
must catch — the pairs of tests/lab/test_catalogue.py, plus the node-kill drill with its three
defects — each run as users run it (`pytest DRILL --drill-switch=...`, a fresh environment per run
unless --reuse-env). Per drill and variant it prints:

  agreeing    runs whose verdict is the expected one: the sound stack passes; the defect fails with
              the sentence that names it (goal N/N)
  recovery    mean of the recovery time and its coefficient of variation (stdev / mean, goal ≤ 15 %),
              read from the `recovery time` verdict each run writes to its timeline (— when the drill
              has no such verdict or no run measured one)
  lost        acknowledged writes lost, lowest–highest over the runs (— when not measured)

Figures and sentences come from the timelines (reports/timelines/*.jsonl: the verdict records) each
run writes, never from the runs' console output.

With --busy (issue 16, "the same verdict on a busy machine") every variant runs N times quiet and N
times with load beside it, as on a shared CI runner: a second drill in a loop (`--beside drill`, the
node-kill drill on its own registry, its traffic and its start-ups), CPU hogs (`--beside hogs`,
`--hogs N` processes) or both (`--beside both`); the 11 April drill (landscape_migration, sound and
migration_pool=small) joins the catalogue. The table then says, per drill and variant, the runs
agreeing quiet and busy, and how many busy runs gave the quiet runs' verdict.

Usage (starts containers: on a shared machine run it under the lab lock):
    .venv/bin/python benchmarks/verdict_stability.py [--runs 10] [--drills node_kill db_failover ...]
        [--reuse-env] [--keep-reports DIR] [--json FILE] [--busy [--beside drill|hogs|both] [--hogs 4]]
`--drills` takes names as listed by `--list` (the drill file's stem without `test_registry_` /
`test_`). Every run removes its containers itself (the drill fixture's teardown, also on Ctrl-C);
the timelines go to a temporary folder that is removed at the end unless --keep-reports.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_KILL = "drills/test_registry_node_kill.py"
LANDSCAPE = "drills/test_registry_landscape_migration.py"
# the drills whose verdicts a busy machine moved (issue 16): judged against the same load before the change
BUSY_EXTRA = [(LANDSCAPE, "migration_pool=small", r"drill failed: .*config parity: 2 settings differ")]
HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    sum(range(1000))\n"
# the node-kill drill's defects (tests/lab/test_node_kill_drill.py): what each failure must say
NODE_KILL_DEFECTS = [
    ("sessions=node-local", r"drill failed: .*sessions lost: \d+ of 20 \(expected 0\)"),
    ("lb_health=slow", r"drill failed: .*(recovery time [\d.]+ s: \d+ of 20 [\w-]* ?users hit"
                       r"|not recovered: \d+ of 20 [\w-]* ?users still failing)"),
    ("lb_failover=off", r"drill failed: .*(recovery time [\d.]+ s: \d+ of 20 [\w-]* ?users hit"
                        r"|not recovered: \d+ of 20 [\w-]* ?users still failing)"),
]


@dataclass
class Variant:
    drill: str                 # path relative to ROOT
    switch: str | None         # None: the sound stack
    failure: str | None        # regex the failure must match (defects only)
    runs: list[dict] = field(default_factory=list)
    busy: list[dict] = field(default_factory=list)     # --busy: the runs with load beside

    @property
    def name(self) -> str:
        return short_name(self.drill)

    @property
    def label(self) -> str:
        return self.switch or "sound"


def short_name(drill: str) -> str:
    return Path(drill).stem.removeprefix("test_").removeprefix("registry_")


def catalogue(extra: list | None = None) -> list[Variant]:
    """The catalogue's pairs, read from tests/lab/test_catalogue.py (one list for both), the
    node-kill drill's and ``extra``. Each drill once sound, then once per defect."""
    spec = importlib.util.spec_from_file_location("catalogue_pairs", ROOT / "tests/lab/test_catalogue.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pairs = [(NODE_KILL, sw, rx) for sw, rx in NODE_KILL_DEFECTS] + list(mod.CATALOGUE) + list(extra or [])
    out: list[Variant] = []
    for drill in dict.fromkeys(d for d, _, _ in pairs):
        out.append(Variant(drill, None, None))
        out.extend(Variant(d, sw, rx) for d, sw, rx in pairs if d == drill)
    return out


def verdicts_of(report_dir: Path) -> list[list[dict]]:
    """The verdict records of each timeline the run wrote (one list per drill run in it)."""
    out = []
    for path in sorted((report_dir / "timelines").glob("*.jsonl")):
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("kind") == "verdict":
                records.append(rec)
        out.append(records)
    return out


def figures(verdicts: list[dict]) -> dict:
    by_name = {v.get("name"): v for v in verdicts}
    rec = by_name.get("recovery time")
    lost = by_name.get("acknowledged writes lost")
    return {"recovery_s": rec.get("value") if rec else None,
            "lost_writes": lost.get("value") if lost and lost.get("status") != "unknown" else None,
            "failed": [v.get("sentence") for v in verdicts if v.get("status") == "fail"]}


def pytest_cmd(target: Path, report_dir: Path, switch: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           f"--drill-report-dir={report_dir}", "-q"]
    return cmd + ([f"--drill-switch={switch}"] if switch else [])


def run_pytest(cmd: list[str], timeout: float) -> tuple[int, str]:
    """Run one pytest; Ctrl-C is passed on to it so that its teardown removes the environment."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        os.killpg(proc.pid, signal.SIGINT)      # the drill fixture heals and removes everything
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        raise
    return proc.returncode, out


def repeated_module(drill: Path, runs: int, folder: Path) -> Path:
    """A module with the drill `runs` times (test_run_01 …): one environment for all, reset between
    them (as for several drills in one file)."""
    func = re.search(r"^def (test_\w+)\(drill\)", drill.read_text(encoding="utf-8"), re.M)
    if not func:
        raise SystemExit(f"{drill}: no `def test_…(drill)` found")
    lines = ["import importlib.util",
             f"_spec = importlib.util.spec_from_file_location('_drill', {str(drill)!r})",
             "_m = importlib.util.module_from_spec(_spec)", "_spec.loader.exec_module(_m)"]
    lines += [f"test_run_{i:02d} = _m.{func.group(1)}" for i in range(1, runs + 1)]
    path = folder / f"test_repeat_{drill.stem}.py"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def judge(v: Variant, outcome: str, verdicts: list[dict]) -> tuple[bool, str]:
    """`outcome`: "pass", "fail" (the drill failed) or "error" (no verdict: the run broke). The
    failure must name the defect: the run's failed verdicts, as the drill reports them."""
    if outcome == "error":
        return False, "ERROR (no verdict: see --keep-reports)"
    if v.switch is None:
        return outcome == "pass", "pass" if outcome == "pass" else "FAIL on the sound stack"
    if outcome != "fail":
        return False, "did not fail"
    said = "drill failed: " + "; ".join(figures(verdicts)["failed"])
    if v.failure and not re.search(v.failure, said):
        return False, "failed, but not with the sentence that names the defect"
    return True, "fails as expected"


def outcome_of(verdicts: list[dict], code: int | None = None) -> str:
    if any(x.get("status") == "fail" for x in verdicts):
        return "fail"
    if code is not None:
        return {0: "pass", 1: "fail"}.get(code, "error") if verdicts or code == 0 else "error"
    return "pass" if verdicts else "error"


def run_variant(v: Variant, runs: int, work: Path, reuse_env: bool, progress) -> None:
    drill = ROOT / v.drill
    if reuse_env:
        folder = work / f"{v.name}-{v.label.replace('=', '-')}"
        folder.mkdir(parents=True, exist_ok=True)
        module = repeated_module(drill, runs, folder)
        t0 = time.monotonic()
        run_pytest(pytest_cmd(module, folder / "reports", v.switch), timeout=900 + 300 * runs)
        per_run = verdicts_of(folder / "reports")
        took = (time.monotonic() - t0) / max(1, runs)
        for i in range(runs):
            vs = per_run[i] if i < len(per_run) else []
            ok, why = judge(v, outcome_of(vs), vs)
            v.runs.append({"agrees": ok, "why": why, "seconds": round(took, 1), **figures(vs)})
            progress(v, i + 1, runs)
        return
    for i in range(1, runs + 1):
        report_dir = work / f"{v.name}-{v.label.replace('=', '-')}-{i:02d}"
        t0 = time.monotonic()
        code, _ = run_pytest(pytest_cmd(drill, report_dir, v.switch), timeout=900)
        vs = (verdicts_of(report_dir) or [[]])[0]
        ok, why = judge(v, outcome_of(vs, code), vs)
        v.runs.append({"agrees": ok, "why": why, "seconds": round(time.monotonic() - t0, 1), **figures(vs)})
        progress(v, i, runs)


class Beside:
    """Load beside the measured runs, as other jobs on a shared CI runner: a second drill in a loop (its
    own environment, traffic and start-ups: `pytest drills/test_registry_node_kill.py` into a folder of
    its own) and/or CPU hogs. Started before a busy run, stopped after it; everything it starts stops
    by itself too (a hog after `limit` seconds, the drill's pytest at its end)."""

    def __init__(self, kind: str, hogs: int, work: Path):
        self.kind, self.hogs, self.work = kind, hogs, work
        self.procs: list[subprocess.Popen] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.drills_done = 0

    def _drill_loop(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            i += 1
            cmd = pytest_cmd(ROOT / NODE_KILL, self.work / f"beside-{i:03d}", None)
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            self.procs.append(proc)
            while proc.poll() is None:
                if self.stop_event.wait(0.5):
                    os.killpg(proc.pid, signal.SIGINT)      # its teardown removes its environment
                    try:
                        proc.wait(timeout=120)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                    return
            self.drills_done += 1

    def __enter__(self) -> "Beside":
        if self.kind in ("hogs", "both"):
            self.procs += [subprocess.Popen([sys.executable, "-c", HOG, "1800"]) for _ in range(self.hogs)]
        if self.kind in ("drill", "both"):
            self.thread = threading.Thread(target=self._drill_loop, daemon=True, name="beside-drill")
            self.thread.start()
            time.sleep(20)     # its environment up and its traffic running before the measured run starts
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=180)
        for p in self.procs:
            if p.poll() is None and p.args[:2] == [sys.executable, "-c"]:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def run_busy(v: Variant, runs: int, work: Path, beside: str, hogs: int, progress) -> None:
    """The variant's quiet runs (v.runs), then as many with load beside each (v.busy)."""
    run_variant(v, runs, work / "quiet", False, progress)
    quiet = v.runs
    v.runs = []
    for i in range(1, runs + 1):
        with Beside(beside, hogs, work / f"beside-{v.name}-{v.label.replace('=', '-')}-{i:02d}") as b:
            run_variant(v, 1, work / f"busy-{i:02d}", False, progress)
        v.runs[-1]["beside_drills"] = b.drills_done
    v.busy, v.runs = v.runs, quiet


def busy_rows(variants: list[Variant]) -> list[dict]:
    rows = []
    for v in variants:
        quiet = [r["agrees"] for r in v.runs]
        busy = [r["agrees"] for r in v.busy]
        majority = sum(quiet) * 2 >= len(quiet)     # the quiet runs' verdict: expected (True) or not
        rows.append({"drill": v.name, "variant": v.label, "runs": len(quiet),
                     "quiet_agreeing": sum(quiet), "busy_agreeing": sum(busy), "busy_runs": len(busy),
                     "busy_same_as_quiet": sum(1 for b in busy if b == majority),
                     "busy_disagreeing": [r["why"] for r in v.busy if not r["agrees"]]})
    return rows


def print_busy_table(rows: list[dict], beside: str) -> None:
    print(f"\ncatalogue quiet vs busy (load beside: {beside}): runs agreeing per drill and variant")
    print(f"{'drill':<22} {'variant':<22} {'quiet':>7} {'busy':>7} {'busy = quiet':>13}")
    for r in rows:
        flag = "" if r["busy_same_as_quiet"] == r["busy_runs"] else "   <-- " + "; ".join(sorted(set(r["busy_disagreeing"])))
        print(f"{r['drill']:<22} {r['variant']:<22} {r['quiet_agreeing']:>3}/{r['runs']:<3} "
              f"{r['busy_agreeing']:>3}/{r['busy_runs']:<3} {r['busy_same_as_quiet']:>6}/{r['busy_runs']:<6}{flag}")
    print("\ngoal: every busy run gives the quiet runs' verdict, and both agree with the expected one")


def cv(values: list[float]) -> float | None:
    if len(values) < 2 or statistics.mean(values) == 0:
        return None
    return statistics.stdev(values) / statistics.mean(values)


def summary_rows(variants: list[Variant]) -> list[dict]:
    rows = []
    for v in variants:
        rec = [r["recovery_s"] for r in v.runs if r["recovery_s"] is not None]
        lost = [r["lost_writes"] for r in v.runs if r["lost_writes"] is not None]
        c = cv(rec)
        rows.append({"drill": v.name, "variant": v.label, "runs": len(v.runs),
                     "agreeing": sum(r["agrees"] for r in v.runs),
                     "recovery_mean_s": round(statistics.mean(rec), 2) if rec else None,
                     "recovery_cv": round(c, 3) if c is not None else None,
                     "recovery_values_s": rec,
                     "lost_min": min(lost) if lost else None, "lost_max": max(lost) if lost else None,
                     "disagreeing": [r["why"] for r in v.runs if not r["agrees"]]})
    return rows


def print_table(rows: list[dict], runs: int) -> None:
    print(f"\n{'drill':<22} {'variant':<22} {'agreeing':>9} {'recovery':>9} {'CV':>7} {'lost':>11}")
    for r in rows:
        rec = f"{r['recovery_mean_s']:.1f} s" if r["recovery_mean_s"] is not None else "—"
        c = f"{100 * r['recovery_cv']:.1f} %" if r["recovery_cv"] is not None else "—"
        lost = "—" if r["lost_min"] is None else (f"{r['lost_min']}" if r["lost_min"] == r["lost_max"]
                                                   else f"{r['lost_min']}–{r['lost_max']}")
        flag = "" if r["agreeing"] == r["runs"] == runs else "   <-- " + "; ".join(sorted(set(r["disagreeing"])))
        print(f"{r['drill']:<22} {r['variant']:<22} {r['agreeing']:>4}/{r['runs']:<4} {rec:>9} {c:>7} {lost:>11}{flag}")
    print("\ngoals: agreeing N/N for every row; recovery CV ≤ 15 %")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="runs per drill and variant (default 10)")
    ap.add_argument("--drills", nargs="+", metavar="NAME", help="only these drills (see --list)")
    ap.add_argument("--list", action="store_true", help="list the drills and variants, run nothing")
    ap.add_argument("--reuse-env", action="store_true",
                    help="one environment per drill and variant, reset between its runs (faster; the "
                         "default is a fresh environment per run, as `drill run` of one drill)")
    ap.add_argument("--keep-reports", metavar="DIR", help="keep every run's timelines under DIR")
    ap.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    ap.add_argument("--busy", action="store_true",
                    help="each variant quiet, then with load beside it; print agreement busy vs quiet")
    ap.add_argument("--beside", choices=("drill", "hogs", "both"), default="drill",
                    help="the load beside a busy run: a second drill in a loop (default), CPU hogs, or both")
    ap.add_argument("--hogs", type=int, default=4, help="CPU hog processes with --beside hogs|both (default 4)")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 100:
        ap.error("--runs must be 1..100")
    if not 0 <= args.hogs <= 32:
        ap.error("--hogs must be 0..32")
    if args.busy and args.reuse_env:
        ap.error("--busy runs each drill in a fresh environment: leave out --reuse-env")
    variants = catalogue(BUSY_EXTRA if args.busy else None)
    names = sorted({v.name for v in variants})
    if args.list:
        for v in variants:
            print(f"{v.name:<22} {v.label}")
        return 0
    if args.drills:
        unknown = [d for d in args.drills if d not in names]
        if unknown:
            ap.error(f"unknown drill(s) {', '.join(unknown)}; choose from {', '.join(names)}")
        variants = [v for v in variants if v.name in args.drills]

    work = Path(args.keep_reports) if args.keep_reports else Path(tempfile.mkdtemp(prefix="drillkit-stability-"))
    work.mkdir(parents=True, exist_ok=True)
    total = len(variants) * args.runs * (2 if args.busy else 1)
    done = [0]
    t_start = time.monotonic()

    def progress(v: Variant, i: int, n: int) -> None:
        done[0] += 1
        r = v.runs[-1]
        extra = []
        if r["recovery_s"] is not None:
            extra.append(f"recovery {r['recovery_s']:.2f} s")
        if r["lost_writes"] is not None:
            extra.append(f"{r['lost_writes']} writes lost")
        print(f"[{done[0]}/{total}] {v.name} {v.label} run {i}/{n}: {r['why']}"
              f"{' (' + ', '.join(extra) + ')' if extra else ''} — {r['seconds']:.0f} s "
              f"(elapsed {(time.monotonic() - t_start) / 60:.1f} min)", flush=True)

    print(f"verdict stability: {len(variants)} drill variants × {args.runs} runs = {total} runs "
          f"({'one environment per variant' if args.reuse_env else 'a fresh environment per run'})",
          flush=True)
    try:
        for v in variants:
            if args.busy:
                run_busy(v, args.runs, work, args.beside, args.hogs, progress)
            else:
                run_variant(v, args.runs, work, args.reuse_env, progress)
    except KeyboardInterrupt:
        print("\ninterrupted: the table covers the runs done so far", flush=True)
    finally:
        if not args.keep_reports:
            shutil.rmtree(work, ignore_errors=True)
    rows = summary_rows([v for v in variants if v.runs])
    print_table(rows, args.runs)
    if args.busy:
        brows = busy_rows([v for v in variants if v.runs])
        print_busy_table(brows, args.beside + (f" ({args.hogs} hogs)" if args.beside != "drill" else ""))
        if args.json:
            Path(args.json).write_text(json.dumps({"quiet": rows, "busy": brows}, indent=2, ensure_ascii=False),
                                       encoding="utf-8")
        return 0 if all(r["quiet_agreeing"] == r["runs"] and r["busy_agreeing"] == r["busy_runs"] for r in brows) else 1
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if all(r["agreeing"] == r["runs"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

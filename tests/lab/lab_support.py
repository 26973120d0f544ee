"""Helpers for tests against real containers (importable from test modules)."""

import json
from pathlib import Path

from drillkit import labels as L

HERE = Path(__file__).parent
TINY = HERE / "environments" / "tiny" / "compose.yaml"


def run_objects(docker, run_id: str) -> tuple[list, list, list]:
    """Containers, networks and volumes labelled with one run."""
    flt = {"label": f"{L.RUN}={run_id}"}
    return (docker.api.containers(all=True, filters=flt), docker.api.networks(filters=flt),
            (docker.api.volumes(filters=flt) or {}).get("Volumes") or [])


def runs_in_reports(reports: Path) -> set[str]:
    """The run ids of the drills whose timelines are under ``reports`` (each timeline's header names its
    environment's run): a test checks its own runs, never the whole engine (another worker's runs are
    up beside it)."""
    runs = set()
    for f in (reports / "timelines").glob("*.jsonl") if (reports / "timelines").is_dir() else []:
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("kind") == "header" and rec.get("run"):
                runs.add(rec["run"])
    return runs


def run_leftovers(docker, runs: set[str]) -> list[str]:
    """Names of the containers of ``runs`` still on the engine."""
    return [c["Names"][0] for run in sorted(runs) for c in run_objects(docker, run)[0]]


def unowned_leftovers(docker, environment: str) -> list[str]:
    """Containers of ``environment`` whose run no live process holds (see drillkit.labels.hold_run): what
    finished runs left behind. A run another test is running beside this one (a parallel worker) is held,
    so it is not counted; use it only once the runs being checked have ended."""
    rows = docker.api.containers(all=True, filters={"label": L.RUN})
    return [r["Names"][0] for r in rows if environment in (r.get("Labels") or {}).get(L.ENVIRONMENT, "")
            and L.run_held((r.get("Labels") or {}).get(L.RUN, "")) is not True]


def serving_from(env, nodes: set[str], path: str = "/", deadline: float = 30.0) -> None:
    """Wait until the entry point has answered from every one of ``nodes`` (X-Drillkit-Node): the
    lb's own health checks passed. Bounded; raises AssertionError with what it saw."""
    import time
    import urllib.request
    seen: set[str] = set()
    end = time.monotonic() + deadline
    while not nodes <= seen:
        try:
            with urllib.request.urlopen(env.url(path), timeout=2) as r:
                seen.add(r.headers.get("X-Drillkit-Node", ""))
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"{env.name}: the entry point did not answer from {sorted(nodes)} within "
                                 f"{deadline:.0f} s (saw {sorted(seen)})")
        time.sleep(0.05)


HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    sum(range(1000))\n"


class CpuHogs:
    """``count`` processes that keep a core busy each (load beside a drill, as other jobs on a shared CI
    runner); each stops by itself after ``limit`` seconds and all are killed on leaving the block."""

    def __init__(self, count: int = 4, limit: float = 300.0):
        self.count, self.limit, self.procs = count, limit, []

    def __enter__(self) -> "CpuHogs":
        import subprocess
        import sys
        self.procs = [subprocess.Popen([sys.executable, "-c", HOG, str(self.limit)]) for _ in range(self.count)]
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait(timeout=10)

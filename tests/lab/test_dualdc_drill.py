"""The DNS round-robin drill (drills/test_dualdc_dns_cutover.py, incident 5), run as users run it, both
ways: it passes when the mail clients retry another address, and fails when they cache one address —
with the users the lost data centre stranded named by the recovery verdict. Every figure the drill
prints is compared with a count this test makes itself from the drill's timeline.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRILL = "drills/test_dualdc_dns_cutover.py"
USERS = 8
LOST_NODE = "new-1"          # the new server in zone-a


def run_drill(tmp_path: Path, *switches: str) -> tuple[int, str, list[dict]]:
    cmd = [sys.executable, "-m", "pytest", DRILL, "-p", "no:cacheprovider", "-q",
           f"--drill-report-dir={tmp_path / 'reports'}", "--rootdir", str(ROOT)]
    cmd += [f"--drill-switch={s}" for s in switches]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    files = list((tmp_path / "reports" / "timelines").glob("*.jsonl"))
    assert len(files) == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    records = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    return proc.returncode, proc.stdout + proc.stderr, records


def windows(records: list[dict]) -> dict[str, tuple[float, float]]:
    """fault kind -> (inject, heal) times."""
    out: dict[str, list] = {}
    for r in records:
        if r.get("kind") == "fault" and r["event"] in ("inject", "heal"):
            out.setdefault(r["fault"], [None, None])[0 if r["event"] == "inject" else 1] = r["t"]
    return {k: tuple(v) for k, v in out.items()}


def first_recover_end(records: list[dict], after: float) -> float:
    return min(r["t"] for r in records
               if r.get("kind") == "phase" and r.get("phase") == "recover" and r.get("event") == "end" and r["t"] > after)


def probes(records: list[dict], population: str) -> list[dict]:
    return [r for r in records if r.get("kind") == "probe" and r["population"] == population]


def ratio_in(ps: list[dict], since: float, until: float) -> float:
    inside = [p for p in ps if since <= p["t"] < until]     # as the availability verdict counts
    return sum(p["ok"] for p in inside) / len(inside)


def verdicts(records: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in records if r.get("kind") == "verdict"}


def hit_users(ps: list[dict], start: float, until: float) -> set[str]:
    """Users with a failed request that ended after the fault began and was sent before ``until``."""
    return {p["client"] for p in ps if not p["ok"] and p["t_end"] >= start and p["t"] < until}


def check_path_fault(records: list[dict], kind: str) -> None:
    """The new servers' shared path broke for everyone on the new name; the old name kept it."""
    start, end = windows(records)["reset_peer"]
    v = verdicts(records)
    new_shared = probes(records, f"{kind}-shared")
    old_shared = probes(records, "old-name-shared")
    mine_new, mine_old = ratio_in(new_shared, start, end), ratio_in(old_shared, start, end)
    assert mine_new < 0.5 and mine_old >= 0.95, (mine_new, mine_old)
    assert abs(v[f"availability {kind}-shared (new servers' path broken)"]["value"] - mine_new) < 0.001
    assert abs(v["availability old-name-shared (new servers' path broken)"]["value"] - mine_old) < 0.001


def test_retrying_clients_recover_from_a_lost_data_centre_and_the_drill_passes(tmp_path):
    code, out, records = run_drill(tmp_path, "clients=retry")
    assert code == 0, out[-3000:]
    start, heal = windows(records)["zone_kill"]
    until = first_recover_end(records, heal)
    ps = probes(records, "retrying")
    mine = hit_users(ps, start, until)
    rec = next(r for r in records if r.get("kind") == "verdict" and r["name"] == "recovery time"
               and r["details"].get("population") == "retrying")
    assert rec["status"] == "pass", rec["sentence"]
    assert rec["details"]["users"] == USERS
    assert rec["details"].get("hit", 0) == len(mine)
    # a retrying user loses about one request: each failed at most twice in the outage
    per_user = {c: sum(1 for p in ps if p["client"] == c and not p["ok"] and start <= p["t"] < until) for c in mine}
    assert all(n <= 2 for n in per_user.values()), per_user
    avail = verdicts(records)["availability retrying (zone-a lost)"]["value"]
    assert abs(avail - ratio_in(ps, start, heal)) < 0.001
    check_path_fault(records, "retrying")
    print(f"\nretrying: {rec['sentence']}; availability while zone-a was lost {avail:.1%}")


def test_caching_clients_stay_on_the_lost_data_centre_and_the_drill_fails(tmp_path):
    code, out, records = run_drill(tmp_path, "clients=cache")
    assert code == 1, out[-3000:]
    start, heal = windows(records)["zone_kill"]
    until = first_recover_end(records, heal)
    ps = probes(records, "caching")
    # this test's own count: the users whose one address was the lost node's
    pinned = {p["client"] for p in ps if p["ok"] and p["t_end"] < start and p["node"] == LOST_NODE}
    assert 0 < len(pinned) < USERS, pinned          # the DNS rotation spread them over both data centres
    assert hit_users(ps, start, until) == pinned
    for client in pinned:                           # no mail for the whole outage
        during = [p for p in ps if p["client"] == client and start + 1.0 <= p["t"] <= heal]
        assert during and not any(p["ok"] for p in during), client
    rec = next(r for r in records if r.get("kind") == "verdict" and r["name"] == "recovery time"
               and r["details"].get("population") == "caching")
    assert rec["status"] == "fail"
    assert rec["details"]["hit"] == len(pinned) and rec["details"]["users"] == USERS
    assert re.search(rf"(not recovered: \d+|recovery time \d+(\.\d+)? s: {len(pinned)}) of {USERS} caching users",
                     rec["sentence"]), rec["sentence"]
    if rec["details"]["not_back"] == 0:             # back only once the data centre was: longer than the outage
        assert rec["value"] >= heal - start
    assert re.search(r"drill failed: .*(not recovered|recovery time)", out), out[-3000:]
    avail = verdicts(records)["availability caching (zone-a lost)"]["value"]
    assert abs(avail - ratio_in(ps, start, heal)) < 0.001
    check_path_fault(records, "caching")
    print(f"\ncaching: {rec['sentence']}; availability while zone-a was lost {avail:.1%}")

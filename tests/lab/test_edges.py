"""The edges a tester found on a stack drillkit never saw (issue 16), each shown on real containers and
compared with what the test counts itself (notes read from the store, requests it saw fail):
edgelab — a web service behind HAProxy whose app nodes are three services of one replica each.

* settle: a write-behind store acknowledges a note and commits it 0.8 s later; read at once, the last
  notes look lost although the store holds every one of them a moment later. With a settle gate
  (until nothing is pending) nothing is lost.
* heal times: a node that takes 2 s to listen after its start; "degraded after recovery" counted
  that start-up when it ran from the heal's stamp, and no longer does from the node healthy.
* names: app-2 is app-2 in every record (not app-2-1), and still answers to app-2-1 in DNS.
* new addresses: a rolling upgrade behind a load balancer that resolved its servers once at start
  (never reloaded) fails every time with new addresses (what Compose and Kubernetes do) and passes
  when the old addresses are kept — the docker backend's old behaviour, which hid the defect; a
  reload as the rollout's undrain (no drain) fixes it, also with `to:` the next release's file.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from drillkit.drill import DrillFailed
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario
from drillkit.verdicts import recovery_time
from drillkit.timeline import Timeline

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HERE = Path(__file__).parent / "environments" / "edgelab"
ENV = str(HERE / "compose.yaml")


def records(drill) -> list[dict]:
    return [json.loads(line) for line in Path(drill.timeline.path).read_text().splitlines() if line.strip()]


def verdict(recs: list[dict], key: str) -> dict:
    return next(r for r in recs if r["kind"] == "verdict" and r["key"] == key)


def fault(recs: list[dict], event: str) -> dict:
    return next(r for r in recs if r["kind"] == "fault" and r["event"] == event)


def get(env, path: str) -> dict:
    with urllib.request.urlopen(env.url(path), timeout=5) as r:      # the lab's own port on 127.0.0.1
        return json.loads(r.read())


def committed(env, deadline: float = 10.0) -> set[str]:
    """Every note the store holds once nothing is pending any more (the test's own reading)."""
    end = time.monotonic() + deadline
    while get(env, "/notes/pending")["pending"] and time.monotonic() < end:
        time.sleep(0.1)
    return set(get(env, "/notes")["notes"])


def scenario(tmp_path: Path, text: str, **put: str):
    """The scenario ``text`` with the environment's path filled in, and each ``put`` KEY (written
    KEY in capitals in the text) replaced by its YAML."""
    text = text.format(env=ENV, v2=HERE / "v2" / "compose.yaml")
    for key, value in put.items():
        text = text.replace(key.upper(), value)
    p = tmp_path / "edge.yaml"
    p.write_text(text, encoding="utf-8")
    return load_scenario(p)


# -- settle: the ground truth of a write-behind store -----------------------------------------------------
SETTLE = """\
scenario: notes survive a restart of another node (HOW)
environment: {env}
users: {{writers: 6}}
probe: false
steady_state: {{duration: 2s}}
faults:
  - {{kind: restart, target: app-2, for: 1s}}
observe: 1s
SETTLE
expect:
  writes_lost: 0
"""


@pytest.mark.drill(ENV, fault="restart", scenario="write-behind store read back", severity="normal")
@pytest.mark.parametrize("settle", ["", "settle: {until: {http: {path: /notes/pending, contains: '\"pending\": 0'}, "
                                       "deadline: 10s}}"], ids=["read-at-once", "settle-until-committed"])
def test_settle_reads_what_a_write_behind_store_committed(drill, tmp_path, settle):
    sc = scenario(tmp_path, SETTLE, settle=settle, how="settled" if settle else "read at once")
    if settle:
        run_scenario(sc, drill)
    else:
        # (users saw every request succeed, so the sentence leads with "silent write loss")
        with pytest.raises(DrillFailed, match=r"[1-9]\d* of \d+ .*; [1-9]\d* of them acknowledged less than 1 s "
                                              r"before the data was read, with no settle time"):
            run_scenario(sc, drill)
    recs = records(drill)
    acked = {r["id"] for r in recs if r["kind"] == "write"}
    v = verdict(recs, "writes_lost")
    read = next(r for r in recs if r["kind"] == "ground-truth")
    held_then = set(read["ids"])
    held_now = committed(drill.env)                                    # the store, read by the test itself
    assert acked and acked <= held_now                                  # nothing was lost at all
    assert v["value"] == len(acked - held_then)
    if settle:
        (s,) = [r for r in recs if r["kind"] == "settle"]
        assert s["met"] is True and v["value"] == 0
    else:
        # every "lost" note was acknowledged in the store's commit delay before the read
        last_ack = {r["id"]: r["t"] for r in recs if r["kind"] == "write"}
        assert all(v["details"]["read_at"] - last_ack[i] < 1.0 for i in acked - held_then)
    drill.timeline.note(f"settle={'until' if settle else 'none'}: {v['value']} of {len(acked)} 'lost', "
                        f"{len(acked - held_now)} missing from the store a moment later")


# -- heal times: degraded after recovery from the node healthy -----------------------------------------------
KILL = """\
scenario: a slow-starting node killed behind a passive balancer
environment: {env}
switches: {{start_delay: "2"}}
users: {{passers: 8}}
probe: false
steady_state: {{duration: 3s, availability: {{passers: 0.99}}}}
faults:
  - {{kind: kill, target: app-2, for: 2s}}
observe: 2s
recover: 4s
expect:
  recovery_time: {{population: passers, max: 15s}}
"""


@pytest.mark.drill(ENV, switches={"start_delay": "2"}, fault="kill", scenario="slow start after a kill",
                   severity="normal")
def test_degraded_after_recovery_counts_from_the_node_healthy(drill, tmp_path):
    run_scenario(scenario(tmp_path, KILL), drill)
    recs = records(drill)
    inject, heal = fault(recs, "inject"), fault(recs, "heal")
    d = heal["detail"]
    assert inject["targets"] == ["edgelab/app-2"] and inject["detail"]["signal"] == "SIGKILL"
    assert d["started"] == heal["t"] <= d["done"] and d["healthy"] is not None
    assert d["healthy"] - d["started"] >= 1.5          # the node sleeps 2 s before it listens
    v = verdict(recs, "recovery_time")
    assert v["status"] == "pass" and v["details"]["degraded"] is False
    assert v["details"]["after_heal_since_from"] == "healthy" and "edgelab/app-2" in v["sentence"]
    # the test's own count: what failed between the heal's stamp and the node healthy, and after it
    passers = [r for r in recs if r["kind"] == "probe" and r["population"] == "passers"]
    starting = [r for r in passers if d["started"] <= r["t"] < d["healthy"]]
    after = [r for r in passers if r["t"] >= d["healthy"]]
    assert any(not r["ok"] for r in starting)          # still starting: requests to it failed
    assert v["details"]["after_heal_requests"] == len([r for r in after if r["t"] < v["details"]["window_end"]])
    # the node answered through its old name app-2-1 (the /bare backend's server address) as app-2
    assert {r["node"] for r in after if r["ok"]} == {"app-1", "app-2", "app-3"}
    # the same timeline as an older drillkit wrote it (no started/done/healthy): degraded, as the tester saw
    old = Timeline.from_records([{**r, "detail": {k: x for k, x in r["detail"].items()
                                                  if k not in ("started", "done", "healthy")}}
                                 if r["kind"] == "fault" else r for r in recs if r["kind"] != "verdict"])
    before = recovery_time(old, target=15.0, population="passers")
    assert before.status == "fail" and before.details["degraded"] is True
    assert "succeeded from the heal to the end" in before.sentence
    drill.timeline.note(f"after the heal: {before.details['after_heal_availability']:.3f} from its stamp "
                        f"(as before), {v['details']['after_heal_availability']:.3f} from the node healthy; "
                        f"healthy {d['healthy'] - d['started']:.2f} s after the heal began")


# -- new addresses: the load balancer that was never reloaded ----------------------------------------------
ROLL = """\
scenario: rolling upgrade behind a balancer that resolved its servers once (HOW)
environment: {env}
switches: {{lb_resolve: startup}}
users: {{browsers: 8}}
probe: false
steady_state: {{duration: 2s, availability: {{browsers: 0.99}}}}
faults:
  - kind: rolling_upgrade
    target: app-nodes               # x-drillkit.groups: the three single-replica services
    ATTRS
    heal: none                      # keep the new version (the next drill gets a fresh environment)
observe: 3s
expect:
  availability: {{browsers: 0.9}}
"""


def after_rollout(recs: list[dict]) -> list[dict]:
    """The browsers' requests sent after the last node was replaced (the rollout made), to the end."""
    made = max(r["t"] for r in recs if r["kind"] == "runbook" and r["event"] == "end"
               and r["step"].endswith((" healthy", " undrain")))
    return [r for r in recs if r["kind"] == "probe" and r["population"] == "browsers" and r["t"] > made]


@pytest.mark.drill(ENV, switches={"lb_resolve": "startup"}, fault="rolling_upgrade",
                   scenario="rolling upgrade behind a never-reloaded balancer", severity="critical")
@pytest.mark.parametrize("new_address", [False, True], ids=["address-kept", "new-address"])
def test_a_balancer_never_reloaded_fails_a_rolling_upgrade_with_new_addresses(drill, tmp_path, new_address):
    sc = scenario(tmp_path, ROLL, attrs=f"environment: {{VERSION: '2'}}\n    new_address: {str(new_address).lower()}",
                  how="new addresses" if new_address else "addresses kept")
    if new_address:
        with pytest.raises(DrillFailed, match=r"browsers: \d+(\.\d+)?% of \d+ requests succeeded"):
            run_scenario(sc, drill)
    else:
        run_scenario(sc, drill)
    recs = records(drill)
    inject = fault(recs, "inject")
    moved = {n: a["before"] != a["after"] for n, a in inject["detail"]["addresses"].items()}
    assert moved == {"app-1": new_address, "app-2": new_address, "app-3": new_address}
    assert inject["targets"] == ["edgelab/app-1", "edgelab/app-2", "edgelab/app-3"]
    late = after_rollout(recs)
    failed = sum(1 for r in late if not r["ok"])
    assert late and failed == (len(late) if new_address else 0)   # every time: nothing reaches a stale address
    during = next(r for r in recs if r["kind"] == "verdict" and r["key"] == "availability"
                  and "(inject to recover)" in r["sentence"])
    drill.timeline.note(f"new_address={new_address}: availability {during['value']} from inject to recover, "
                        f"{failed} of {len(late)} requests after the rollout failed")


TO_V2 = """\
scenario: rolling upgrade to the next release, the balancer reloaded after each node
environment: {env}
switches: {{lb_resolve: startup}}
users: {{browsers: 8}}
probe: false
steady_state: {{duration: 2s, availability: {{browsers: 0.99}}}}
faults:
  - kind: rolling_upgrade
    target: [app-1, app-2, app-3]   # three services, one rollout
    to: {v2}
    undrain: reload-lb              # no drain: the balancer's checks take a stopped node out
    heal: none
observe: 3s
expect:
  availability: {{browsers: 0.95}}
"""


@pytest.mark.drill(ENV, switches={"lb_resolve": "startup"}, fault="rolling_upgrade",
                   scenario="rolling upgrade to v2 with a reload", severity="critical")
def test_a_reload_as_undrain_carries_a_rollout_to_the_next_release(drill, tmp_path):
    run_scenario(scenario(tmp_path, TO_V2), drill)
    recs = records(drill)
    inject = fault(recs, "inject")
    assert inject["detail"]["services"] == ["app-1", "app-2", "app-3"] and inject["detail"]["to"].endswith("v2/compose.yaml")
    assert all(a["before"] != a["after"] for a in inject["detail"]["addresses"].values())
    steps = [r["step"] for r in recs if r["kind"] == "runbook" and r["event"] == "end"
             and r["runbook"].startswith("rolling_upgrade")]
    assert not any(s.endswith(" drain") for s in steps) and sum(s.endswith(" undrain") for s in steps) == 3
    late = after_rollout(recs)
    failed = sum(1 for r in late if not r["ok"])
    assert late and failed <= 0.02 * len(late)           # reloaded: the balancer reaches every new address
    versions = {get(drill.env, f"/page/{i}")["version"] for i in range(12)}    # the test asks the nodes itself
    assert versions == {"2"}
    # heal none kept v2: every node is the lab's to leave as it is
    assert fault(recs, "heal")["detail"]["heal"] == "none"

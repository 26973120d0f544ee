"""A realistic summary.json and history.jsonl for the management page's tests (three runs)."""

from __future__ import annotations

import json
from pathlib import Path

DATES = ["2026-03-10T06:00:00+0100", "2026-03-11T06:00:00+0100", "2026-03-12T06:00:00+0100"]
NODE_KILL = "drills/test_registry_node_kill.py::test_registry_node_kill"
ALL_DOWN = "drills/test_registry_all_down.py::test_registry_all_backends_down"
BOOKING = "drills/test_booking_instance_kill.py::test_booking_instance_kill"
ZONE = "drills/test_registry_zone_outage.py::test_registry_zone_outage"


def verdict(name, status, sentence, value=None, unit="", target=None):
    return {"name": name, "status": status, "sentence": sentence, "value": value, "unit": unit,
            "target": target, "details": {}}


def summary() -> dict:
    """The newest run: node kill lost sessions (red), booking recovered (green), zone outage's
    writes were not measured (None), all-down showed the notice."""
    return {"generated": DATES[-1], "counts": {"passed": 3, "failed": 1, "broken": 0}, "drills": [
        {"name": NODE_KILL, "stack": "registry", "fault": "node kill",
         "scenario": "registry node kill: failover, sessions survive", "outcome": "failed",
         "figures": {"recovery_time": 2.41, "availability": {"existing-sessions": 97.25},
                     "sessions_lost": 5, "writes_lost": 0},
         "verdicts": [verdict("availability existing-sessions (steady state)", "pass",
                              "existing-sessions: 100.0% of 400 requests succeeded (steady state)", 1.0,
                              "ratio", "≥ 99.0%"),
                      verdict("recovery time", "pass", "recovery time 2.41 s for 20 affected existing-sessions",
                              2.41, "s", "≤ 3 s"),
                      verdict("sessions lost", "fail", "sessions lost: 5 of 20 (expected 0)", 5, "", "= 0"),
                      verdict("writes lost", "pass", "writes lost: 0 of 312 acknowledged", 0, "", "= 0")]},
        {"name": ZONE, "stack": "registry", "fault": "zone outage",
         "scenario": "registry zone outage: the other zone carries the service", "outcome": "passed",
         "figures": {"recovery_time": None, "availability": {"existing-sessions": 98.6},
                     "sessions_lost": 0, "writes_lost": None, "notes": {"recovery_time": "no outage seen"},
                     "headlines": []},
         "verdicts": [verdict("recovery time", "pass", "no outage seen: no logged-in user was hit", None,
                              "s", "≤ 3 s")]},
        {"name": ALL_DOWN, "stack": "registry", "fault": "all backends down",
         "scenario": "all registry backends down: disruption notice shown", "outcome": "passed",
         "figures": {"recovery_time": None, "availability": {"probe": 41.2}, "sessions_lost": None,
                     "writes_lost": None, "notes": {}, "headlines": []},
         "verdicts": [verdict("disruption notice", "pass",
                              "when the service was down, 100% of failed requests showed the disruption notice",
                              1.0, "ratio", "≥ 95%")]},
        {"name": BOOKING, "stack": "booking", "fault": "node kill",
         "scenario": "booking instance kill: no lost and no double bookings", "outcome": "passed",
         "figures": {"recovery_time": 0.87, "availability": {"citizens": 99.31}, "sessions_lost": None,
                     "writes_lost": 0, "notes": {}, "headlines": []},
         "verdicts": [verdict("recovery time", "pass", "recovery time 0.87 s", 0.87, "s", "≤ 3 s")]},
    ]}


def history() -> list[dict]:
    out = []
    runs = [  # (node kill, zone, all-down, booking) outcomes and recovery times, oldest first
        (("passed", 1.9), ("passed", 1.4), ("passed", None), ("failed", 4.6)),
        (("passed", 2.2), ("passed", 1.2), ("passed", None), ("failed", 5.1)),
        (("failed", 2.41), ("passed", 1.13), ("passed", None), ("passed", 0.87)),
    ]
    for date, run in zip(DATES, runs):
        for (name, stack, fault, pop, avail), (outcome, rec) in zip(
                [(NODE_KILL, "registry", "node kill", "existing-sessions", 97.25),
                 (ZONE, "registry", "zone outage", "existing-sessions", 98.6),
                 (ALL_DOWN, "registry", "all backends down", "probe", 41.2),
                 (BOOKING, "booking", "node kill", "citizens", 99.31)], run):
            out.append({"date": date, "drill": name, "stack": stack, "fault": fault, "outcome": outcome,
                        "recovery_time": rec, "availability": {pop: avail - (0 if outcome == "passed" else 3)},
                        "sessions_lost": 0, "writes_lost": 0})
    return out


def write(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary(), indent=1), encoding="utf-8")
    with open(directory / "history.jsonl", "w", encoding="utf-8") as fh:
        for e in history():
            fh.write(json.dumps(e) + "\n")
    return directory

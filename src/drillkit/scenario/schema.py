"""What a scenario file may say: its keys, duration syntax, expectations. (User kinds, their
populations and sessions come from the environment: `drillkit.clients.scenario`.)

Kept apart from the checking code (`validate`) so docs, tests and the validator read one source.
"""

from __future__ import annotations

import math
import re
from typing import Any

from drillkit.verdicts.registry import VERDICTS

__all__ = ["TOP_KEYS", "REQUIRED_TOP", "FAULT_KEYS", "TARGET_KEYS", "REPEAT_KEYS", "GUARD_KEYS",
           "STEADY_KEYS", "PROBE_KEYS", "RUNBOOK_ENTRY_KEYS", "SEVERITIES", "EXPECTATIONS",
           "RECOVERY_KEYS", "parse_duration", "DurationError"]

TOP_KEYS = {
    "scenario": "one sentence: what is rehearsed (the Allure story)",
    "source": "where it comes from (SCENARIOS.md incident, service-standard criterion)",
    "description": "free text",
    "environment": "environments/<name>, or a compose.yaml path relative to the scenario file",
    "switches": "defect switches of the environment, or any ${NAME} its Compose file uses, e.g. {sessions: node-local}",
    "severity": "blocker | critical | normal | minor | trivial",
    "users": "synthetic users per kind, e.g. {clerks: 20}: kinds of x-drillkit.users, or defined here",
    "clients": "protocol clients, e.g. {writers: 5}: x-drillkit.clients, or defined here (kind: postgres|redis)",
    "probe": "the fine-grained probe: {interval, path}, or false for none",
    "steady_state": "hypothesis checked before anything is broken: {duration, availability}",
    "faults": "the schedule: a list of faults with kind, target, at, for, repeat",
    "observe": "how long to watch after the last injection",
    "recover": "how long to watch after everything healed",
    "guards": "abort conditions: stop the schedule early and heal",
    "max_nodes": "blast radius: most nodes faulted at the same time",
    "expect": "the verdicts: " + ", ".join(VERDICTS) + " (docs/verdicts.md)",
    "ground_truth": "readers of what the stack holds, by name, e.g. {writes: {kind: sql, on: db, query: ...}}",
    "runbook": "runbooks run in the schedule: a list of {at | after, run | steps}",
    "load": "open-loop load from the start of inject: {shape, rate, factor, at, for, duration, actions}, or a list run one after another",
    "search": "breaking-point search: {rate, actions, slo: {p95, served}, factors, hold, forecast}",
}
REQUIRED_TOP = ("scenario", "environment")   # and faults:, unless a load: or search: is the drill

FAULT_KEYS = {"kind", "target", "at", "for", "repeat", "heal"}   # anything else: the kind's attributes
TARGET_KEYS = {"service", "replica", "zone", "random", "seed", "role"}
RUNBOOK_ENTRY_KEYS = {"at", "after", "run", "steps", "name"}
OUTSIDE_RUN_KEYS = {"container", "container_name", "environment", "run", "host", "image", "id"}
REPEAT_KEYS = {"every", "times"}
GUARD_KEYS = {"population", "availability_below", "for"}
STEADY_KEYS = {"duration", "availability"}
PROBE_KEYS = {"interval", "path"}
RECOVERY_KEYS = {p.name for p in VERDICTS["recovery_time"].params}

PROBE_POPULATION = "probe"

SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")

# expect key -> what it judges; the table itself is drillkit.verdicts.registry.VERDICTS
EXPECTATIONS = {key: kind.summary for key, kind in VERDICTS.items()}


class DurationError(ValueError):
    """A value that is not a duration (message says why)."""


_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """`500ms`, `3s`, `1m`, `1h` or a number of seconds -> seconds (>= 0)."""
    if isinstance(value, bool) or value is None:
        raise DurationError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise DurationError(f"not a duration: {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise DurationError(f"not a duration: {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise DurationError(f"not a duration: {value!r}")
    if seconds < 0:
        raise DurationError(f"negative duration {value!r}")
    return seconds

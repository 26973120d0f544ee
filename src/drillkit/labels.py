"""Ownership labels: every object a run creates carries them; teardown and gc act on nothing else."""

from __future__ import annotations

import os
import secrets
import socket
import time

__all__ = [
    "PREFIX", "RUN", "ENVIRONMENT", "SERVICE", "REPLICA", "ZONE", "OWNER", "ROLE",
    "new_run_id", "owner_token", "owner_alive", "run_labels",
]

PREFIX = "drillkit"
RUN = "drillkit.run"
ENVIRONMENT = "drillkit.environment"
SERVICE = "drillkit.service"
REPLICA = "drillkit.replica"
ZONE = "drillkit.zone"
OWNER = "drillkit.owner"  # host:pid:start-ticks of the process that owns the run
ROLE = "drillkit.role"    # "service" | "link-proxy" | "network" | "volume" | "helper"


def new_run_id() -> str:
    """A short, sortable, collision-safe id: dk + time + random (also used in object names)."""
    return "dk" + time.strftime("%m%d%H%M%S") + secrets.token_hex(2)


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # starttime, field 22 in proc(5)
    except (OSError, IndexError):
        return None


def owner_token(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '0'}"


def owner_alive(token: str) -> bool:
    """True if the process that created a run still exists on this host (pid + start time match).

    A token from another host is treated as alive: gc never reaps what it cannot prove dead.
    ``keep:<who>`` marks an environment started by hand (`drill up`): alive until `drill down`.
    """
    if token.startswith("keep:"):
        return True
    try:
        host, pid_s, ticks = token.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False  # a malformed owner label is no one's
    if host != socket.gethostname():
        return True
    current = _start_ticks(pid)
    return current is not None and current == ticks


def run_labels(run_id: str, environment: str, owner: str | None = None) -> dict[str, str]:
    return {RUN: run_id, ENVIRONMENT: environment, OWNER: owner or owner_token()}

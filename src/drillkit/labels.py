"""Ownership labels: every object a run creates carries them; teardown and gc act on nothing else."""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import tempfile
import time
from pathlib import Path

__all__ = [
    "PREFIX", "RUN", "ENVIRONMENT", "SERVICE", "REPLICA", "ZONE", "OWNER", "ROLE", "ORIGIN",
    "new_run_id", "owner_token", "owner_alive", "run_labels", "hold_run", "release_run", "run_held",
    "origin_of", "set_origin", "current_origin", "run_file", "forget_run",
]

# A live run holds an exclusive flock on RUN_DIR/<run>.lock for its whole life; the kernel drops it
# when the process dies, however it dies. This proves life across PID namespaces on a shared engine,
# where a pid check cannot see the owner.
RUN_DIR = Path(os.environ.get("DRILLKIT_RUN_DIR", Path(tempfile.gettempdir()) / "drillkit-runs"))
_held: dict[str, int] = {}

PREFIX = "drillkit"
RUN = "drillkit.run"
ENVIRONMENT = "drillkit.environment"
SERVICE = "drillkit.service"
REPLICA = "drillkit.replica"
ZONE = "drillkit.zone"
OWNER = "drillkit.owner"  # host:pid:start-ticks of the process that owns the run
ROLE = "drillkit.role"    # "service" | "link-proxy" | "network" | "volume" | "helper"
ORIGIN = "drillkit.origin"  # the report folder of the process that made the run: whose runs `drill run` reaps

_origin: dict[str, str] = {}   # "dir": the report folder this process works for (set_origin)


def new_run_id() -> str:
    """A short, sortable, collision-safe id: dk + time + random (also used in object names)."""
    return "dk" + time.strftime("%m%d%H%M%S") + secrets.token_hex(4)


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


def hold_run(run_id: str) -> None:
    """Take the run's lock for as long as this process lives (or until release_run)."""
    if run_id in _held:
        return
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_DIR / f"{run_id}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held[run_id] = fd


def release_run(run_id: str) -> None:
    fd = _held.pop(run_id, None)
    if fd is not None:
        try:
            (RUN_DIR / f"{run_id}.lock").unlink()
        except OSError:
            pass
        os.close(fd)


def run_held(run_id: str) -> bool | None:
    """True: a live process holds the run; False: its lock is free (owner gone); None: no lock file."""
    path = RUN_DIR / f"{run_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def owner_alive(token: str, run_id: str | None = None) -> bool:
    """True if the process that created a run still exists on this host (pid + start time match).

    A token from another host is treated as alive: gc never reaps what it cannot prove dead.
    ``keep:<who>`` marks an environment started by hand (`drill up`): alive until `drill down`.
    With ``run_id``, the run's lock decides first (see :func:`hold_run`).
    """
    if token.startswith("keep:"):
        return True
    if run_id is not None:
        held = run_held(run_id)
        if held is not None:
            return held
    try:
        host, pid_s, ticks = token.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False  # a malformed owner label is no one's
    if host != socket.gethostname():
        return True
    current = _start_ticks(pid)
    return current is not None and current == ticks


def origin_of(report_dir: str | os.PathLike) -> str:
    """A report folder as the ``drillkit.origin`` label holds it: its absolute path."""
    return str(Path(report_dir).expanduser().absolute())


def set_origin(report_dir: str | os.PathLike | None) -> None:
    """The report folder this process works for (`drill run --report-dir`, the plugin's
    ``--drill-report-dir``, `drill up --report-dir`); None: back to the default."""
    if report_dir is None:
        _origin.pop("dir", None)
    else:
        _origin["dir"] = origin_of(report_dir)


def current_origin() -> str:
    """The origin the runs of this process are labelled with (default: ``$DRILLKIT_REPORT_DIR`` or
    ``reports`` in the current directory)."""
    return _origin.get("dir") or origin_of(os.environ.get("DRILLKIT_REPORT_DIR") or "reports")


def run_labels(run_id: str, environment: str, owner: str | None = None) -> dict[str, str]:
    return {RUN: run_id, ENVIRONMENT: environment, OWNER: owner or owner_token(), ORIGIN: current_origin()}


def run_file(run_id: str, suffix: str) -> Path:
    """A file that belongs to a run, beside its lock: ``RUN_DIR/<run><suffix>`` (e.g. ``.adhoc.json``),
    found from any directory and by any process on this machine."""
    return RUN_DIR / f"{run_id}{suffix}"


def forget_run(run_id: str, *, keep: tuple[str, ...] = ()) -> None:
    """The run is gone: its files beside the lock go too (its lock, ad-hoc state, markers), except
    the suffixes in ``keep``."""
    release_run(run_id)
    try:
        files = list(RUN_DIR.glob(f"{run_id}.*"))
    except OSError:
        return
    for f in files:
        if f.name[len(run_id):] in keep or f.name[len(run_id)] != ".":
            continue
        try:
            f.unlink()
        except OSError:
            pass

"""Waiting for a container's health check with one engine round trip.

Docker runs a container's first health check only after ``interval`` (5 s in the shipped stacks),
and Compose waits for that. The lab runs the service's own test inside the container in a loop (one
``exec`` that returns the moment the test passes), so a service is known healthy as soon as it is —
also when Docker's status says healthy already: that status is as old as Docker's last scheduled
check. Passing the same test is the health check passing. Without ``sh``/``timeout`` in the image, or
after the loop gave up, Docker's own status decides.

So the lab never needs Docker's interval to be short, and a short one is expensive: each scheduled
check is a process started in the container through the engine (about 55 ms of CPU here). Measured
idle (nothing but the checks and the services' own work, 20-30 s, this 2-core machine): a test
environment of 6 containers checked every 250 ms kept 1.24 cores busy, 2 containers every 300 ms
0.48 cores; a stack of 12 containers every 3 s 0.30-0.37 cores, every 15 s 0.16.

Works with any Docker API client (the host engine, or a swarm node's engine).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from drillkit.errors import HealthCheckFailed, LabError

__all__ = ["health_grace", "wait_loop_command", "await_container", "LOOP_EXIT_TIMEOUT", "WAIT_SLOTS"]

LOOP_EXIT_TIMEOUT = 124      # `timeout` ended the loop: the test never passed in time
LOOP_INTERVAL = 0.1          # seconds between two runs of the test inside the container
MAX_LOOP_S = 100.0           # one exec at most (the SDK's read timeout is 120 s)
# Long-lived waiting execs are cheap for the engine (an attached stream), but Docker 20.10 wedged once
# under many concurrent starts and execs: the exec *creation* goes through the caller's engine slots,
# and at most this many loops run at once.
WAIT_SLOTS = threading.BoundedSemaphore(16)


def health_grace(healthcheck: dict[str, Any] | None) -> float:
    """How long a check may keep failing before start-up gives up on the container.

    Docker turns ``unhealthy`` back to ``healthy`` on the next passing check, and a busy machine can
    make the first checks time out; a check that never passes still fails well within this.
    """
    h = healthcheck or {}
    one_round = h.get("start_period", 0) + h.get("retries", 3) * (h.get("interval", 1) + h.get("timeout", 2))
    return max(15.0, 3 * one_round)


def wait_loop_command(test: list[str], *, check_timeout: float, limit: float,
                      interval: float = LOOP_INTERVAL) -> list[str] | None:
    """The exec that runs a Compose health ``test`` until it passes (exit 0) or ``limit`` seconds
    pass (exit 124); each run of the test is bounded by ``check_timeout``. None for a test the lab
    cannot loop (NONE, or an unknown form)."""
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    each = str(max(1, int(round(check_timeout))))
    if test[0] == "CMD":
        loop = f'until timeout {each} "$@" >/dev/null 2>&1; do sleep {interval}; done'
        args = test[1:]
    else:
        loop = f'until timeout {each} sh -c "$1" >/dev/null 2>&1; do sleep {interval}; done'
        args = [test[1]]
    return ["timeout", str(max(1, int(limit))), "sh", "-c", loop, "drillkit-health", *args]


def _state(api, cid: str) -> dict:
    return api.inspect_container(cid)["State"]


def await_container(api, cid: str, *, healthcheck: dict[str, Any] | None, deadline: float,
                    what: str, unhealthy: Callable[[str], HealthCheckFailed],
                    aborted: Callable[[], bool] = lambda: False,
                    slots: threading.Semaphore | None = None) -> None:
    """Return once container ``cid`` runs and (with a health check) passes it; raise
    ``unhealthy(why)`` if it exits, keeps failing for the grace period, or ``deadline``
    (time.monotonic()) passes. ``slots`` bounds the engine calls that create execs."""
    grace = health_grace(healthcheck)
    need_health = healthcheck is not None
    # 1. until the process runs
    while True:
        if aborted():
            raise LabError(f"{what}: start-up aborted (another service failed)")
        st = _state(api, cid)
        if st["Running"]:
            break
        if st["Status"] in ("exited", "dead"):
            raise unhealthy(f"exited with code {st.get('ExitCode')}")
        if time.monotonic() > deadline:
            raise unhealthy("did not start in time")
        time.sleep(0.05)
    if not need_health:
        return
    # Docker's own status is not trusted to say "healthy": it is as old as its last scheduled check
    # (and turns unhealthy only after `retries` of them); the test run now says how the service is
    # 2. the service's own test, looped inside the container: one round trip
    cmd = wait_loop_command(healthcheck.get("test") or [], check_timeout=healthcheck.get("timeout", 2),
                            limit=min(grace, MAX_LOOP_S, max(1.0, deadline - time.monotonic())))
    if cmd is not None:
        code = _exec_wait(api, cid, cmd, slots)
        if code == 0:
            return
        st = _state(api, cid)
        if not st["Running"]:
            raise unhealthy(f"exited with code {st.get('ExitCode')}")
        if code == LOOP_EXIT_TIMEOUT:
            last = ((st.get("Health") or {}).get("Log") or [{}])[-1].get("Output", "").strip()
            if time.monotonic() >= deadline:
                raise unhealthy("not healthy in time")
            raise unhealthy(f"health check failed for {grace:.0f} s ({last[-200:] or 'no output'})")
    # 3. no shell or `timeout` in the image (or the loop broke): Docker's own status decides
    unhealthy_since: float | None = None
    while True:
        if aborted():
            raise LabError(f"{what}: start-up aborted (another service failed)")
        st = _state(api, cid)
        if not st["Running"] and st["Status"] in ("exited", "dead"):
            raise unhealthy(f"exited with code {st.get('ExitCode')}")
        health = (st.get("Health") or {}).get("Status")
        if st["Running"] and health == "healthy":
            return
        if health == "unhealthy":
            unhealthy_since = unhealthy_since or time.monotonic()
            if time.monotonic() - unhealthy_since > grace:
                last = ((st.get("Health") or {}).get("Log") or [{}])[-1].get("Output", "").strip()
                raise unhealthy(f"health check failed for {grace:.0f} s ({last[-200:] or 'no output'})")
        else:
            unhealthy_since = None
        if time.monotonic() > deadline:
            raise unhealthy("not healthy in time")
        time.sleep(0.1)


def _exec_wait(api, cid: str, cmd: list[str], slots: threading.Semaphore | None) -> int | None:
    """Run the loop; its exit code, or None if the engine refused (container gone, paused...).

    The exec is attached to stdout (which the loop leaves empty): without an attached stream the
    engine answers ``exec_start`` at once and the exit code is not there yet."""
    try:
        with WAIT_SLOTS:
            if slots is not None:
                with slots:
                    ex = api.exec_create(cid, cmd, stdout=True, stderr=False)
            else:
                ex = api.exec_create(cid, cmd, stdout=True, stderr=False)
            api.exec_start(ex["Id"])
            return api.exec_inspect(ex["Id"]).get("ExitCode")
    except Exception:
        return None

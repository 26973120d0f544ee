"""Start services as soon as their dependencies' conditions hold, in parallel, on any backend.

Every service gets a thread that waits for its ``depends_on`` conditions (``service_started``:
all of the dependency's replicas started; ``service_healthy``: all of them healthy) and for its
own gates (e.g. its Toxiproxy links in place), then starts its replicas and waits for them. The
first failure aborts the others and is raised.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from drillkit.errors import HealthCheckFailed, LabError
from drillkit.lab.compose import ServiceSpec

__all__ = ["start_in_order"]


def start_in_order(services: dict[str, ServiceSpec], *,
                   start: Callable[[ServiceSpec], list],
                   ready: Callable[[ServiceSpec, object, float], None],
                   gates: Callable[[ServiceSpec], Iterable[threading.Event]] = lambda s: (),
                   deadline: float, abort: threading.Event,
                   progress: Callable[[str], None] = lambda m: None, env_name: str = "",
                   timeout_s: float = 0.0) -> None:
    """``start(svc)`` starts a service's replicas and returns its nodes; ``ready(svc, node,
    deadline)`` returns when a node is ready (or raises). ``deadline`` is time.monotonic()."""
    started = {n: threading.Event() for n in services}
    healthy = {n: threading.Event() for n in services}
    errors: list[BaseException] = []

    def wait_for(ev: threading.Event, what: str, svc: ServiceSpec) -> bool:
        while not ev.wait(0.02):
            if abort.is_set():
                return False
            if time.monotonic() > deadline:
                raise LabError(f"{svc.name}: still waiting for {what} after {timeout_s:.0f} s")
        return True

    def run(svc: ServiceSpec) -> None:
        try:
            for dep, cond in svc.depends_on.items():
                ev = healthy[dep] if cond == "service_healthy" else started[dep]
                if not wait_for(ev, dep, svc):
                    return
            for gate in gates(svc):
                if not wait_for(gate, "its links", svc):
                    return
            nodes = start(svc)
            started[svc.name].set()
            if nodes:
                with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="dk-ready") as pool:
                    list(pool.map(lambda n: ready(svc, n, deadline), nodes))
            healthy[svc.name].set()
            progress(f"{env_name}: {svc.name} ready ({len(nodes)} × "
                     f"{'healthy' if svc.healthcheck else 'running'})")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors.append(exc)
            abort.set()

    with ThreadPoolExecutor(max_workers=max(1, len(services)), thread_name_prefix="dk-up") as pool:
        list(pool.map(run, services.values()))
    if errors:
        raise next((e for e in errors if isinstance(e, HealthCheckFailed)), errors[0])

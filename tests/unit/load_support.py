"""An in-process service with a known capacity, and timelines built by hand, for the load unit tests."""

from __future__ import annotations

import threading
import time

from drillkit.clients.contract import FAIL, OK, Client, Op, Outcome
from drillkit.timeline import Timeline


class Service:
    """``workers`` requests at a time, each ``cost`` seconds (a sleep): capacity workers / cost per s.
    ``mode="queue"``: a request waits up to ``timeout`` for a worker; ``"shed"``: refused at once."""

    def __init__(self, workers: int, cost: float, mode: str = "queue", timeout: float = 1.0):
        self.slots = threading.BoundedSemaphore(workers)
        self.cost, self.mode, self.timeout = cost, mode, timeout
        self.served = 0
        self.lock = threading.Lock()

    def client(self, i: int) -> Client:
        return ServiceClient(self)


class ServiceClient(Client):
    op = Op("GET /work", "visitors")

    def __init__(self, service: Service):
        super().__init__()
        self.service = service

    def invoke(self, op: Op) -> Outcome:
        s = self.service
        if not s.slots.acquire(blocking=s.mode != "shed", timeout=s.timeout if s.mode != "shed" else None):
            if s.mode == "shed":
                return Outcome(FAIL, http_status=503, error="HTTP 503")
            return Outcome(FAIL, error="timeout")
        try:
            time.sleep(s.cost)
        finally:
            s.slots.release()
        with s.lock:
            s.served += 1
        return Outcome(OK, http_status=200)


def phases(tl: Timeline, spans) -> None:
    for name, a, b in spans:
        tl.add("phase", t=a, phase=name, event="start")
        tl.add("phase", t=b, phase=name, event="end")


def load_timeline(phase_list, outcomes, *, label="load", population="load", start=0.0, timeout=2.0) -> Timeline:
    """A load with ``phase_list`` [(name, start, end, rate, factor)] and one arrival per
    ``outcomes`` entry (due, answer time, status|None, error) — status 200 = served."""
    tl = Timeline()
    tl.add("load", t=start, event="start", label=label, population=population,
           base=phase_list[0][3], shape="test", timeout=timeout,
           phases=[{"name": n, "start": a, "end": b, "rate": r, "factor": f} for n, a, b, r, f in phase_list])
    for i, (due, answer, status, error) in enumerate(outcomes):
        ok = status == 200
        rec = dict(t_end=due + answer, population=population, client=f"c{i % 7}", op="GET /work", ok=ok,
                   status=status, latency=answer, node=None, error=None if ok else (error or f"HTTP {status}"),
                   session="none", load=label, arrival=i, due=due)
        if error == "never":
            rec.update(error="timeout", latency=0.0, t_end=due + answer, sent=False)
            tl.add("probe", t=due + answer, **rec)
        else:
            tl.add("probe", t=due, **rec)
    end = max(a[0] + a[1] for a in outcomes) if outcomes else start
    tl.add("load", t=end, event="end", label=label, arrivals=len(outcomes))
    return tl

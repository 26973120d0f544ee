"""A fixed-interval probe: requests fired on a schedule (default every 50 ms), never waiting on a slow
answer — each request runs on a small worker pool, so a hanging backend cannot stretch the interval.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient

__all__ = ["Probe"]


class Probe:
    def __init__(self, base_url: str, timeline: Timeline, *, interval: float = 0.05,
                 path: str = "/version", population: str = "probe", timeout: float = 1.0,
                 max_duration: float = 900.0, workers: int = 32):
        self.base_url, self.timeline, self.interval = base_url, timeline, interval
        self.path, self.population, self.timeout = path, population, timeout
        self.max_duration = max_duration  # a hard bound: a probe always stops by itself
        self.workers = workers
        self.sent: list[float] = []       # scheduled-vs-actual lateness of each send (seconds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def _client(self) -> HttpClient:
        c = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = HttpClient(self.base_url, timeout=self.timeout)
        return c

    def _one(self) -> None:
        tl = self.timeline
        t = tl.now()
        r = self._client().request("GET", self.path, auth=False)
        tl.probe(population=self.population, client="probe", op=f"GET {self.path}", ok=r.ok, t=t,
                 t_end=tl.now(), status=r.status, node=r.node, error=r.error, notice=r.notice)

    def _loop(self) -> None:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="dk-probe") as pool:
            k = 0
            while not self._stop.is_set():
                due = start + k * self.interval
                now = time.monotonic()
                if due - start > self.max_duration:
                    break
                if due > now:
                    if self._stop.wait(due - now):
                        break
                self.sent.append(time.monotonic() - due)
                pool.submit(self._one)
                k += 1

    def start(self) -> "Probe":
        self._thread = threading.Thread(target=self._loop, name="dk-probe-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.timeout + 5)

    def __enter__(self) -> "Probe":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def achieved(self) -> dict[str, float]:
        """Interval and lateness actually achieved (for the benchmark and the report)."""
        if len(self.sent) < 2:
            return {"sends": len(self.sent)}
        late = sorted(self.sent)
        p = lambda q: late[min(len(late) - 1, int(q * len(late)))]
        return {"sends": len(late), "interval_ms": self.interval * 1000,
                "lateness_p50_ms": p(0.5) * 1000, "lateness_p99_ms": p(0.99) * 1000,
                "lateness_max_ms": late[-1] * 1000}

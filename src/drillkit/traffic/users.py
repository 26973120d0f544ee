"""Synthetic users: each a thread with its own connection, session and client-side ledger.

Every request becomes a ``probe`` record; every acknowledged write a ``write`` record (the ledger).
Two populations are always kept apart (the 11 April 2019 lesson): work on an existing session
(``existing-sessions``) and attempts to log in (``new-logins``). A session the service accepted
before and refuses later is recorded with ``session="rejected"``: a session lost.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient, Response

__all__ = ["UserPool", "Clerk", "Newcomer", "clerks", "newcomers", "EXISTING", "NEW_LOGINS"]

EXISTING = "existing-sessions"
_WORKS_ALONE = "newcomer"  # a placeholder token: the pool never logs a newcomer in
NEW_LOGINS = "new-logins"


@dataclass
class Clerk:
    """A clerk of a citizen office: logs in, reads resident records, registers moves."""

    name: str
    base_url: str
    timeline: Timeline
    rng: random.Random
    timeout: float = 2.0
    login_timeout: float = 10.0   # a login passes the central login's deliberately costly check
    write_every: int = 4
    residents: int = 2000
    password: str = "drill"
    ledger: list[tuple[str, float]] = field(default_factory=list)
    sessions_lost: int = 0

    def __post_init__(self):
        self.http = HttpClient(self.base_url, timeout=self.timeout)
        self._ops = 0
        self.had_session = False

    def _record(self, population: str, op: str, t: float, r: Response, session: str = "none") -> None:
        self.timeline.probe(population=population, client=self.name, op=op, ok=r.ok, t=t,
                            t_end=self.timeline.now(), status=r.status, node=r.node, error=r.error,
                            session=session, notice=r.notice)

    def login(self) -> bool:
        tl = self.timeline
        t = tl.now()
        self.http.cookies.clear()  # a new login starts a new sticky assignment too
        r = self.http.request("POST", "/login", {"user": self.name, "password": self.password}, auth=False,
                              timeout=self.login_timeout)
        token = r.body.get("token") if r.ok and isinstance(r.body, dict) else None
        if r.ok and not token:
            r = Response(r.status, r.body, r.node, "no token in answer")
            r.status = None
        self._record(NEW_LOGINS, "POST /login", t, r)
        self.http.token = token
        if token:
            self.had_session = True
        return bool(token)

    def work(self) -> None:
        """One unit of work on the existing session: a read, every n-th time a write."""
        tl = self.timeline
        self._ops += 1
        resident = self.rng.randint(1, self.residents)
        t = tl.now()
        if self._ops % self.write_every == 0:
            op = "POST /moves"
            r = self.http.request("POST", "/moves", {"resident_id": resident,
                                                      "new_address": f"Drillweg {self._ops}, {self.name}"})
        else:
            op = "GET /residents/{id}"
            r = self.http.request("GET", f"/residents/{resident}")
        if r.status == 401 and self.had_session:
            self.sessions_lost += 1
            self._record(EXISTING, op, t, r, session="rejected")
            self.http.token = None
            return
        self._record(EXISTING, op, t, r, session="valid" if r.ok else "none")
        if r.ok and op == "POST /moves" and isinstance(r.body, dict) and "id" in r.body:
            self.ledger.append((str(r.body["id"]), tl.now()))
            tl.write(client=self.name, id=str(r.body["id"]), op="move")


@dataclass
class Newcomer:
    """Someone starting work: logs in, does one read, logs out, again — the new-logins population.

    A long client timeout (default 8 s) lets a hanging login path show as what it is: waiting.
    """

    name: str
    base_url: str
    timeline: Timeline
    rng: random.Random
    timeout: float = 8.0
    password: str = "drill"
    residents: int = 2000
    ledger: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self):
        self.http = HttpClient(self.base_url, timeout=self.timeout)
        self.http.token = _WORKS_ALONE
        self.had_session = False

    def login(self) -> bool:
        return True  # every unit of work starts with its own login

    def work(self) -> None:
        tl = self.timeline
        self.http.cookies.clear()
        self.http.token = None
        t = tl.now()
        r = self.http.request("POST", "/login", {"user": self.name, "password": self.password}, auth=False)
        token = r.body.get("token") if r.ok and isinstance(r.body, dict) else None
        tl.probe(population=NEW_LOGINS, client=self.name, op="POST /login", ok=bool(token), t=t,
                 t_end=tl.now(), status=r.status, node=r.node, error=r.error, notice=r.notice)
        if token:
            self.http.token = token
            self.http.request("GET", f"/residents/{self.rng.randint(1, self.residents)}")
            self.http.request("POST", "/logout", {})
        self.http.token = _WORKS_ALONE  # UserPool calls work(), which logs in by itself


class UserPool:
    """N users working until stopped, each on its own thread; bounded in count and time."""

    def __init__(self, make_user: Callable[[int], Clerk], count: int, *, think: float = 0.2,
                 max_duration: float = 900.0, max_users: int = 500):
        if not 0 < count <= max_users:
            raise ValueError(f"user count {count} outside 1..{max_users}")
        self.users = [make_user(i) for i in range(count)]
        self.think, self.max_duration = think, max_duration
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self, user: Clerk) -> None:
        deadline = time.monotonic() + self.max_duration
        backoff = 0.1
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not user.http.token:
                if user.login():
                    backoff = 0.1
                else:
                    self._stop.wait(backoff)
                    backoff = min(1.0, backoff * 2)
                    continue
            else:
                user.work()
            self._stop.wait(user.rng.uniform(0.5, 1.5) * self.think)
        user.http.close()

    def start(self, wait_logged_in: float = 60.0) -> "UserPool":
        for u in self.users:
            th = threading.Thread(target=self._run, args=(u,), name=f"dk-user-{u.name}", daemon=True)
            th.start()
            self._threads.append(th)
        end = time.monotonic() + wait_logged_in
        while time.monotonic() < end and not all(u.http.token for u in self.users):
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout=5)

    def __enter__(self) -> "UserPool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def logged_in(self) -> int:
        return sum(1 for u in self.users if u.http.token)

    def ledger(self) -> list[tuple[str, str, float]]:
        return [(u.name, i, t) for u in self.users for i, t in u.ledger]


def clerks(base_url: str, timeline: Timeline, count: int = 20, *, seed: int = 0, first: int = 1,
           think: float = 0.2, timeout: float = 2.0, write_every: int = 4,
           max_duration: float = 900.0) -> UserPool:
    """`count` clerks clerk-001… with reproducible behaviour (seeded)."""
    return UserPool(lambda i: Clerk(f"clerk-{first + i:03d}", base_url, timeline,
                                    random.Random(seed * 1000 + i), timeout=timeout,
                                    write_every=write_every), count,
                    think=think, max_duration=max_duration)


def newcomers(base_url: str, timeline: Timeline, count: int = 5, *, seed: int = 0, first: int = 101,
              think: float = 0.5, timeout: float = 8.0, max_duration: float = 900.0) -> UserPool:
    """`count` clerks (clerk-101… by default, apart from the working clerks) logging in again and again."""
    return UserPool(lambda i: Newcomer(f"clerk-{first + i:03d}", base_url, timeline,
                                       random.Random(seed * 1000 + 500 + i), timeout=timeout), count,
                    think=think, max_duration=max_duration)

"""Synthetic users of the identity stack (the central login of the March 2023 eID surge).

Two populations, kept apart as every drill does:

``new-logins``    an :class:`IdentityUser` in ``mode="login"``: each ``work()`` is one new login
                  (``POST /login``, PBKDF2 on the server). A 200 with a token is a success; a 401
                  is a success only when the user deliberately sent a wrong password
                  (``bad_password_ratio``): the service answered correctly.
``pin-requests``  ``mode="pin"``: each ``work()`` is one replacement-PIN request (``POST /pin-reset``);
                  a 202 is acknowledged and becomes a ``write`` record ``op="pin-reset"`` with the
                  request id (ledger for :func:`drillkit.stacks.identity.record_ground_truth`).

With ``validate_every=n`` a login user checks its last token (``GET /tokens/<t>``) every n-th
time, as population ``existing-sessions``: sessions that already exist, against new logins.

Both fit :class:`drillkit.traffic.users.UserPool` (``login()`` only marks the user as arrived, the
real logins are the work), and :func:`login_action` / :func:`pin_action` give the same requests to
the open-loop :class:`drillkit.traffic.shapes.LoadGenerator`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient, Response
from drillkit.traffic.users import EXISTING, NEW_LOGINS, UserPool

__all__ = ["IdentityUser", "new_logins", "pin_requests", "login_action", "pin_action",
           "NEW_LOGINS", "PIN_REQUESTS", "EXISTING", "user_name", "CITIZEN_USERS"]

PIN_REQUESTS = "pin-requests"
CITIZEN_USERS = 500          # citizen-0001 .. citizen-0500, password "drill"
PASSWORD = "drill"
ARRIVED = "arrived"


def user_name(i: int) -> str:
    """The i-th baked citizen account (cycled over the 500 of the stack)."""
    return f"citizen-{i % CITIZEN_USERS + 1:04d}"


@dataclass
class IdentityUser:
    name: str
    base_url: str
    timeline: Timeline
    rng: random.Random
    mode: str = "login"                 # "login" | "pin"
    timeout: float = 5.0
    bad_password_ratio: float = 0.0
    validate_every: int = 0
    accounts: int = CITIZEN_USERS
    tokens: list[str] = field(default_factory=list)
    ledger: list[tuple[str, float]] = field(default_factory=list)   # acknowledged PIN requests

    def __post_init__(self):
        if self.mode not in ("login", "pin"):
            raise ValueError(f"mode must be 'login' or 'pin', got {self.mode!r}")
        self.http = HttpClient(self.base_url, timeout=self.timeout)
        self.population = NEW_LOGINS if self.mode == "login" else PIN_REQUESTS
        self._n = 0
        self.logins_ok = self.logins_refused = 0

    def _record(self, population: str, op: str, t: float, r: Response, ok: bool,
                session: str = "none") -> None:
        self.timeline.probe(population=population, client=self.name, op=op, ok=ok, t=t,
                            t_end=self.timeline.now(), status=r.status, node=r.node, error=r.error,
                            session=session, notice=r.notice)

    def login(self) -> bool:
        self.http.token = ARRIVED
        return True

    def _account(self) -> str:
        return f"citizen-{self.rng.randrange(self.accounts) + 1:04d}"

    def work(self) -> None:
        self._n += 1
        if self.mode == "pin":
            self.request_pin()
        elif self.validate_every and self.tokens and self._n % self.validate_every == 0:
            self.validate(self.tokens[-1])
        else:
            self.new_login()

    def new_login(self, user: str | None = None) -> str | None:
        user = user or self._account()
        bad = self.rng.random() < self.bad_password_ratio
        t = self.timeline.now()
        r = self.http.request("POST", "/login", {"user": user, "password": "wrong" if bad else PASSWORD},
                              auth=False)
        token = r.body.get("token") if r.status == 200 and isinstance(r.body, dict) else None
        ok = bool(token) if not bad else r.status == 401
        self._record(NEW_LOGINS, "POST /login", t, r, ok)
        if token:
            self.logins_ok += 1
            self.tokens = (self.tokens + [token])[-5:]
        elif r.status == 401:
            self.logins_refused += 1
        return token

    def validate(self, token: str) -> bool:
        t = self.timeline.now()
        r = self.http.request("GET", f"/tokens/{token}", auth=False)
        if r.status == 404:
            self._record(EXISTING, "GET /tokens/{t}", t, r, False, session="rejected")
            self.tokens.remove(token)
            return False
        self._record(EXISTING, "GET /tokens/{t}", t, r, r.ok, session="valid" if r.ok else "none")
        return r.ok

    def request_pin(self, user: str | None = None) -> str | None:
        user = user or self._account()
        t = self.timeline.now()
        r = self.http.request("POST", "/pin-reset", {"user": user}, auth=False)
        rid = r.body.get("request_id") if r.status == 202 and isinstance(r.body, dict) else None
        self._record(PIN_REQUESTS, "POST /pin-reset", t, r, rid is not None)
        if rid is not None:
            self.ledger.append((str(rid), self.timeline.now()))
            self.timeline.add("write", client=self.name, id=str(rid), op="pin-reset", user=user)
            return str(rid)
        return None


def _pool(mode: str, base_url: str, timeline: Timeline, count: int, *, seed: int, think: float,
          timeout: float, max_duration: float, **kw: Any) -> UserPool:
    prefix = "login" if mode == "login" else "pin"
    return UserPool(lambda i: IdentityUser(f"{prefix}-{i + 1:03d}", base_url, timeline,
                                           random.Random(seed * 1000 + i), mode=mode, timeout=timeout,
                                           **kw),
                    count, think=think, max_duration=max_duration)


def new_logins(base_url: str, timeline: Timeline, count: int = 10, *, seed: int = 0, think: float = 0.2,
               timeout: float = 5.0, bad_password_ratio: float = 0.0, validate_every: int = 0,
               max_duration: float = 900.0) -> UserPool:
    """``count`` users making new logins back to back (population ``new-logins``)."""
    return _pool("login", base_url, timeline, count, seed=seed, think=think, timeout=timeout,
                 max_duration=max_duration, bad_password_ratio=bad_password_ratio,
                 validate_every=validate_every)


def pin_requests(base_url: str, timeline: Timeline, count: int = 10, *, seed: int = 0, think: float = 0.2,
                 timeout: float = 5.0, max_duration: float = 900.0) -> UserPool:
    """``count`` users requesting replacement PINs (population ``pin-requests``)."""
    return _pool("pin", base_url, timeline, count, seed=seed, think=think, timeout=timeout,
                 max_duration=max_duration)


# --- actions for the open-loop generator -----------------------------------------------------
def login_action(call, i: int) -> None:
    """One new login of account ``user_name(i)`` (accepts nothing but a 200 with a token)."""
    r = call("POST", "/login", {"user": user_name(i), "password": PASSWORD}, op="POST /login")
    del r


def pin_action(call, i: int) -> None:
    """One replacement-PIN request; an acknowledged one is a ``write`` record."""
    user = user_name(i)
    r = call("POST", "/pin-reset", {"user": user}, op="POST /pin-reset")
    if r.status == 202 and isinstance(r.body, dict) and "request_id" in r.body:
        call.timeline.add("write", client=call.client, id=str(r.body["request_id"]), op="pin-reset",
                          user=user)

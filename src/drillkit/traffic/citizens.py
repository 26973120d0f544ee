"""Synthetic citizens of the booking stack: list free slots of an office, hold one, confirm it.

Every request is a ``probe`` record of population ``citizens``. Every booking the service
acknowledged (201) is a ``write`` record with ``op="booking"``, ``id`` the booking id, and the extra
fields ``slot`` and ``office`` (the citizen's ledger; compared with the ``bookings`` ground truth of
:func:`drillkit.stacks.booking.record_ground_truth`). An acknowledged cancellation is a ``cancel``
record (``client``, ``id``, ``slot``) — deliberately not a ``write``, so a booking that is later
cancelled still counts once in the duplicate and lost-write verdicts.

Answers that a healthy service gives when another citizen was faster — 409 on a hold or a booking,
410 on an expired hold — count as ``ok``: the service answered correctly. 5xx, timeouts and
refused connections do not.

Citizens need no login; they fit :class:`drillkit.traffic.users.UserPool` all the same: ``login()``
succeeds once without a request and marks the citizen as "arrived".
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient, Response
from drillkit.traffic.users import UserPool

__all__ = ["Citizen", "citizens", "burst", "CITIZENS", "Booked", "OFFICES"]

CITIZENS = "citizens"
OFFICES = (1, 2, 3, 4)
ARRIVED = "citizen"             # what `login()` puts into http.token (never sent: auth=False)
FIRST_DAY = "2026-01-05"
QUARTER_DAYS = 91               # Mon 2026-01-05 .. Fri 2026-04-03


@dataclass(frozen=True)
class Booked:
    id: str
    slot: str
    office: int
    t: float                     # when it was acknowledged (timeline seconds)


@dataclass
class Citizen:
    """One citizen: each ``work()`` is one attempt to book an appointment, now and then a cancellation.

    ``spread``: ``"earliest"`` picks among the earliest free slots of an office (everybody wants
    the next appointment: contention, realistic), ``"any-day"`` asks for a random day of the quarter
    (little contention: throughput measurements).
    """

    name: str
    base_url: str
    timeline: Timeline
    rng: random.Random
    timeout: float = 2.0
    offices: tuple[int, ...] = OFFICES
    cancel_ratio: float = 0.1
    spread: str = "earliest"
    limit: int = 20
    population: str = CITIZENS
    ledger: list[Booked] = field(default_factory=list)       # acknowledged, still active
    cancelled: list[Booked] = field(default_factory=list)    # acknowledged cancellations
    conflicts: int = 0                                        # 409/410: someone else was faster

    def __post_init__(self):
        if self.spread not in ("earliest", "any-day"):
            raise ValueError(f"spread must be 'earliest' or 'any-day', got {self.spread!r}")
        if not 0.0 <= self.cancel_ratio <= 1.0:
            raise ValueError(f"cancel_ratio must be 0..1, got {self.cancel_ratio}")
        self.http = HttpClient(self.base_url, timeout=self.timeout)
        self.attempts = 0

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, *, op: str,
              accept: tuple[int, ...] = ()) -> Response:
        tl = self.timeline
        t = tl.now()
        r = self.http.request(method, path, body, auth=False)
        tl.probe(population=self.population, client=self.name, op=op,
                 ok=r.ok or r.status in accept, t=t, t_end=tl.now(), status=r.status, node=r.node,
                 error=r.error, notice=r.notice)
        return r

    # -- the UserPool contract -------------------------------------------------------------------
    def login(self) -> bool:
        """Citizens book anonymously: nothing to send; the citizen has 'arrived'."""
        self.http.token = ARRIVED
        return True

    def work(self) -> Booked | None:
        """One booking attempt (list → hold → book); afterwards, with ``cancel_ratio``, a cancellation."""
        self.attempts += 1
        booked = self.book_one()
        if self.ledger and self.rng.random() < self.cancel_ratio:
            self.cancel(self.rng.choice(self.ledger))
        return booked

    # -- steps -----------------------------------------------------------------------------------
    def free_slots(self, office: int, day: str | None = None) -> list[dict]:
        q = f"?limit={self.limit}" + (f"&date={day}" if day else "")
        r = self._call("GET", f"/offices/{office}/slots{q}", op="GET /offices/{id}/slots")
        if r.ok and isinstance(r.body, dict):
            return [s for s in r.body.get("slots", []) if isinstance(s, dict) and "id" in s]
        return []

    def _random_day(self) -> str:
        import datetime
        first = datetime.date.fromisoformat(FIRST_DAY)
        while True:
            d = first + datetime.timedelta(days=self.rng.randrange(QUARTER_DAYS))
            if d.isoweekday() <= 5:
                return d.isoformat()

    def book_one(self) -> Booked | None:
        office = self.rng.choice(self.offices)
        day = self._random_day() if self.spread == "any-day" else None
        slots = self.free_slots(office, day)
        if not slots:
            return None
        return self.book_slot(int(self.rng.choice(slots)["id"]), office)

    def hold(self, slot_id: int) -> str | None:
        r = self._call("POST", "/holds", {"slot_id": slot_id, "citizen": self.name}, op="POST /holds",
                       accept=(409,))
        if r.status == 409:
            self.conflicts += 1
        if r.status == 201 and isinstance(r.body, dict):
            return r.body.get("hold_id")
        return None

    def confirm(self, hold_id: str, slot_id: int, office: int | None = None) -> Booked | None:
        """POST /bookings; one retry when no answer came (the hold id makes the retry idempotent)."""
        r = None
        for _ in range(2):
            r = self._call("POST", "/bookings", {"hold_id": hold_id}, op="POST /bookings",
                           accept=(409, 410))
            if r.status is not None:
                break
        if r.status in (409, 410):
            self.conflicts += 1
        if r.status in (200, 201) and isinstance(r.body, dict) and "id" in r.body:
            return self._acknowledged(r.body, slot_id, office)
        return None

    def book_slot(self, slot_id: int, office: int | None = None) -> Booked | None:
        """Hold ``slot_id`` and confirm it: the booking, or None (taken, expired, failed)."""
        hold_id = self.hold(slot_id)
        if hold_id is None:
            return None
        return self.confirm(hold_id, slot_id, office)

    def _acknowledged(self, body: dict, slot_id: int, office: int | None) -> Booked | None:
        bid = str(body["id"])
        if any(b.id == bid for b in self.ledger) or any(b.id == bid for b in self.cancelled):
            return None                       # a replay of what we already hold: not a new booking
        b = Booked(bid, str(body.get("slot_id", slot_id)), int(body.get("office_id") or office or 0),
                   self.timeline.now())
        self.ledger.append(b)
        self.timeline.add("write", client=self.name, id=b.id, op="booking", slot=b.slot, office=b.office)
        return b

    def cancel(self, booking: Booked) -> bool:
        r = self._call("DELETE", f"/bookings/{booking.id}", op="DELETE /bookings/{id}")
        if r.ok:
            self.ledger.remove(booking)
            self.cancelled.append(booking)
            self.timeline.add("cancel", client=self.name, id=booking.id, slot=booking.slot)
            return True
        return False


def citizens(base_url: str, timeline: Timeline, count: int = 20, *, seed: int = 0, think: float = 0.2,
             timeout: float = 2.0, cancel_ratio: float = 0.1, spread: str = "earliest",
             offices: tuple[int, ...] = OFFICES, max_duration: float = 900.0) -> UserPool:
    """``count`` citizens ``citizen-0001``… (seeded, reproducible) as a :class:`UserPool`."""
    return UserPool(lambda i: Citizen(f"citizen-{i + 1:04d}", base_url, timeline,
                                      random.Random(seed * 1000 + i), timeout=timeout,
                                      cancel_ratio=cancel_ratio, spread=spread, offices=offices),
                    count, think=think, max_duration=max_duration)


def burst(base_url: str, timeline: Timeline, slot_id: int, count: int = 20, *, timeout: float = 5.0,
          prefix: str = "rush") -> list[Booked]:
    """``count`` citizens try to hold and book the *same* slot at the same instant (a barrier
    releases them together). Returns the bookings the service acknowledged — more than one is a
    double booking. Bounded: each citizen sends at most three requests."""
    if not 1 <= count <= 100:
        raise ValueError(f"burst count must be 1..100, got {count}")
    people = [Citizen(f"{prefix}-{slot_id}-{i:02d}", base_url, timeline, random.Random(i), timeout=timeout,
                      cancel_ratio=0.0) for i in range(count)]
    gate = threading.Barrier(count)
    results: list[Booked | None] = [None] * count

    def go(k: int) -> None:
        try:
            gate.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        results[k] = people[k].book_slot(slot_id)
        people[k].http.close()

    threads = [threading.Thread(target=go, args=(k,), daemon=True) for k in range(count)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=3 * timeout + 10)
    return [b for b in results if b is not None]

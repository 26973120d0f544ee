"""The booking stack (environments/booking): ground truth read straight from its database.

``record_ground_truth`` writes what the double-booking and lost-write verdicts read:

``{"kind": "ground-truth", "what": "bookings", "ids": [...], "slots": [...], "cancelled": [...]}``
    active bookings (``ids[i]`` holds ``slots[i]``; a slot listed twice is booked twice) and the ids
    of cancelled ones — the shape :func:`drillkit.verdicts.duplicates.double_bookings` expects.
``{"kind": "ground-truth", "what": "booking-ids", "ids": [...]}``
    every booking row, active or cancelled: ``writes_lost(tl, what="booking-ids")`` finds bookings
    acknowledged to a citizen that the database does not hold at all.
"""

from __future__ import annotations

from typing import Any

from drillkit.lab.environment import Environment
from drillkit.timeline import Timeline

__all__ = ["psql", "stored_bookings", "cancelled_bookings", "counts", "record_ground_truth"]


def psql(env: Environment, sql: str, *, service: str = "db", replica: int = 1) -> list[str]:
    """Run one query in the database container (no port is published for it); rows as text lines."""
    out = env.exec(env.node(service, replica),
                   ["psql", "-h", "127.0.0.1", "-U", "booking", "-d", "booking", "-At", "-F", "|",
                    "-c", sql])
    return [line for line in out.splitlines() if line.strip()]


def stored_bookings(env: Environment) -> tuple[list[str], list[str]]:
    """(ids, slots) of every *active* booking the database holds, ordered by id."""
    ids, slots = [], []
    for line in psql(env, "SELECT id, slot_id FROM bookings WHERE cancelled_at IS NULL ORDER BY id"):
        i, _, s = line.partition("|")
        ids.append(i)
        slots.append(s)
    return ids, slots


def cancelled_bookings(env: Environment) -> list[str]:
    return psql(env, "SELECT id FROM bookings WHERE cancelled_at IS NOT NULL ORDER BY id")


def counts(env: Environment) -> dict[str, int]:
    """Rows per table and double-booked slots: for tests that check nothing was written."""
    line = psql(env, """SELECT (SELECT count(*) FROM bookings), (SELECT count(*) FROM holds),
                               (SELECT count(*) FROM bookings WHERE cancelled_at IS NULL),
                               (SELECT count(*) FROM (SELECT slot_id FROM bookings
                                  WHERE cancelled_at IS NULL GROUP BY slot_id
                                  HAVING count(*) > 1) d)""")[0]
    b, h, a, d = (int(x) for x in line.split("|"))
    return {"bookings": b, "holds": h, "active": a, "double_booked_slots": d}


def _timeline(drill_or_timeline: Any) -> Timeline:
    return drill_or_timeline if isinstance(drill_or_timeline, Timeline) else drill_or_timeline.timeline


def record_ground_truth(drill_or_timeline: Any, env: Environment) -> dict[str, Any]:
    """Read the bookings back and record them on the timeline (a Drill or a Timeline)."""
    tl = _timeline(drill_or_timeline)
    ids, slots = stored_bookings(env)
    cancelled = cancelled_bookings(env)
    rec = tl.add("ground-truth", what="bookings", ids=ids, slots=slots, cancelled=cancelled)
    tl.add("ground-truth", what="booking-ids", ids=sorted(ids + cancelled, key=int))
    return rec

"""Booking app: appointment booking of the citizen offices (the 2023 overload incident).

One process, Python stdlib HTTP server + psycopg2 + redis. JSON in, JSON out; every response
carries ``X-Drillkit-Node`` so a drill knows which replica answered.

    GET    /health                         200 {"status":"ok",...} | 503 {"status":"unavailable",...}
    GET    /version                        200 {"service","version","node"}
    GET    /stats                          200 counts, incl. "double_booked_slots" (ground truth)
    GET    /offices                        200 {"offices":[...]}
    GET    /offices/<id>/slots?date=YYYY-MM-DD&limit=N
                                           200 {"office_id","date","slots":[...],"count"} | 400 | 404
    POST   /holds     {"slot_id","citizen"} 201 {"hold_id","slot_id","expires_in","expires_at"}
                                           | 400 | 404 (no such slot) | 409 (slot held or booked)
    POST   /bookings  {"hold_id"}          201 booking | 200 the same booking again (hold already
                                           used: a retry) | 400 | 404 (no such hold)
                                           | 409 (slot already booked) | 410 (hold expired)
    GET    /bookings/<id>                  200 booking | 400 | 404
    DELETE /bookings/<id>                  200 {"id","status":"cancelled",...} (frees the slot) | 404

Holds live in the database (table `holds`), so they survive an app or cache restart and the hold and
the booking are decided in the same transactional store. Redis is a read cache only (office list,
free-slot lists, CACHE_TTL seconds, invalidated on every hold, booking and cancellation); when it is
unreachable the app reads the database and carries on.

Switches (environment):
  ALLOCATION=scalable    a row lock on the slot (SELECT ... FOR NO KEY UPDATE SKIP LOCKED):
                         allocations of different slots run in parallel on all instances.
  ALLOCATION=restricted  the product restriction of the source: one global lock
                         (pg_advisory_xact_lock(1)) around every allocation, so more instances
                         do not help.
  BOOKING=unique         the database refuses a second active booking of a slot (partial unique
                         index) and the app locks the slot before it checks and writes.
  BOOKING=no-unique      the defect: the index is dropped (by the db container) and the app
                         checks, then inserts, without a lock: concurrent bookings of one slot can
                         all succeed. (Under ALLOCATION=restricted the global lock still
                         serialises allocations, so the defect shows with ALLOCATION=scalable.)
Every allocation (hold, booking) spends VENDOR_COST_MS (default 8) in the vendor's allocation code
between reading the slot state and writing it; under ALLOCATION=restricted that time is spent
holding the global lock.

Other settings: HOLD_TTL (s, default 30), CACHE_TTL (s, default 2), DB_POOL_SIZE (default 8),
DB_POOL_TIMEOUT (s, default 2), DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, REDIS_HOST,
REDIS_PORT, PORT, APP_VERSION, DRILLKIT_NODE, LOG_REQUESTS.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
import uuid

import psycopg2.errors
import redis
from service import (
    INT8_MAX,
    NODE,
    VERSION,
    App,
    HealthProbe,
    HttpError,
    Pool,
    db_settings,
    env_choice,
    env_number,
    int_field,
    path_id,
    serve,
    str_field,
    to_json,
)

ALLOCATION = env_choice("ALLOCATION", "scalable", ("scalable", "restricted"))
BOOKING = env_choice("BOOKING", "unique", ("unique", "no-unique"))
HOLD_TTL = env_number("HOLD_TTL", 30, 1, int)
VENDOR_COST = env_number("VENDOR_COST_MS", 8, 0) / 1000
CACHE_TTL = env_number("CACHE_TTL", 2, 0)
MAX_LIMIT = 500
LOCKING = BOOKING == "unique"

SETTINGS = db_settings("booking")
POOL = Pool(SETTINGS, size=env_number("DB_POOL_SIZE", 8, 1, int),
            wait=env_number("DB_POOL_TIMEOUT", 2, 0))
HEALTH = HealthProbe(SETTINGS)
app = App("booking")


# --- the read cache ----------------------------------------------------------------------------
class Cache:
    """Best-effort Redis read cache: Redis trouble means "no cache" for a second, never an error."""

    def __init__(self) -> None:
        self.redis = redis.Redis(
            host=os.environ.get("REDIS_HOST", "cache"), port=int(os.environ.get("REDIS_PORT", "6379")),
            socket_timeout=0.3, socket_connect_timeout=0.3, retry_on_timeout=False)
        self._skip_until = 0.0
        self.last_error: str | None = None

    def _call(self, func, default=None):
        if CACHE_TTL <= 0 or time.monotonic() < self._skip_until:
            return default
        try:
            result = func()
            self.last_error = None
            return result
        except (redis.RedisError, OSError) as exc:
            self.last_error = str(exc)[:200] or type(exc).__name__
            self._skip_until = time.monotonic() + 1.0
            return default

    def get(self, key: str, field: str):
        raw = self._call(lambda: self.redis.hget(key, field))
        return None if raw is None else json.loads(raw)

    def put(self, key: str, field: str, value) -> None:
        data = json.dumps(value, ensure_ascii=False, default=to_json)

        def write():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(key, field, data)
            pipe.pexpire(key, max(1, int(CACHE_TTL * 1000)))
            pipe.execute()
        self._call(write)

    def drop(self, *keys: str) -> None:
        self._call(lambda: self.redis.delete(*keys))

    def status(self) -> str:
        if CACHE_TTL <= 0:
            return "off"
        ok = self._call(lambda: self.redis.ping(), default=False)
        return "ok" if ok else f"down: {self.last_error or 'skipped after an error'}"


CACHE = Cache()


def slot_keys(office_id: int, day: datetime.date) -> tuple[str, str]:
    return f"slots:{office_id}:{day.isoformat()}", f"slots:{office_id}:first"


# --- allocation --------------------------------------------------------------------------------
def vendor_code() -> None:
    """The vendor's allocation logic: a few ms between reading the slot state and writing it."""
    if VENDOR_COST:
        time.sleep(VENDOR_COST)


def global_allocation_lock(cur) -> None:
    if ALLOCATION == "restricted":
        cur.execute("SELECT pg_advisory_xact_lock(1)")


def slot_taken(cur, slot_id: int) -> str | None:
    # One statement, so one snapshot: a booking that commits between two separate checks (hold
    # closed, booking not yet visible) cannot slip through.
    cur.execute("""
        SELECT EXISTS (SELECT 1 FROM bookings WHERE slot_id = %(slot)s AND cancelled_at IS NULL),
               EXISTS (SELECT 1 FROM holds WHERE slot_id = %(slot)s AND booking_id IS NULL
                                             AND expires_at > now())""", {"slot": slot_id})
    booked, held = cur.fetchone()
    return "booked" if booked else "held" if held else None


BOOKING_SQL = """
    SELECT b.id, b.slot_id, s.office_id, s.starts_at, s.counter, b.citizen, b.hold_id,
           b.created_at, b.cancelled_at, b.node
    FROM bookings b JOIN slots s ON s.id = b.slot_id WHERE b.id = %s"""


def booking_json(row) -> dict:
    (booking_id, slot_id, office_id, starts_at, counter, citizen, hold_id, created_at,
     cancelled_at, node) = row
    return {"id": booking_id, "slot_id": slot_id, "office_id": office_id,
            "starts_at": starts_at.isoformat(timespec="minutes"), "counter": counter,
            "citizen": citizen, "hold_id": hold_id,
            "status": "cancelled" if cancelled_at else "active", "created_at": created_at,
            "cancelled_at": cancelled_at, "node": node}


# --- routes ------------------------------------------------------------------------------------
@app.route("GET", "/health")
def health(request):
    problem = HEALTH.check()
    body = {"status": "ok" if problem is None else "unavailable", "node": NODE, "version": VERSION,
            "allocation": ALLOCATION, "booking": BOOKING, "db": problem or "ok",
            "cache": CACHE.status(), "pool": POOL.stats()}
    return (200 if problem is None else 503), body


@app.route("GET", "/version")
def version(request):
    return 200, {"service": "booking", "version": VERSION, "node": NODE}


@app.route("GET", "/stats")
def stats(request):
    with POOL.transaction() as cur:
        cur.execute("""
            SELECT (SELECT count(*) FROM slots),
                   (SELECT count(*) FROM bookings WHERE cancelled_at IS NULL),
                   (SELECT count(*) FROM bookings WHERE cancelled_at IS NOT NULL),
                   (SELECT count(*) FROM holds WHERE booking_id IS NULL AND expires_at > now()),
                   (SELECT count(*) FROM (SELECT slot_id FROM bookings WHERE cancelled_at IS NULL
                                          GROUP BY slot_id HAVING count(*) > 1) AS twice),
                   (SELECT count(*) FROM pg_indexes
                     WHERE indexname = 'bookings_one_active_per_slot')""")
        slots, active, cancelled, holds, doubles, unique_index = cur.fetchone()
    return 200, {"node": NODE, "allocation": ALLOCATION, "booking": BOOKING, "slots": slots,
                 "bookings_active": active, "bookings_cancelled": cancelled, "holds_open": holds,
                 "double_booked_slots": doubles, "unique_index": bool(unique_index)}


@app.route("GET", "/offices")
def offices(request):
    cached = CACHE.get("offices", "all")
    if cached is not None:
        return 200, cached
    with POOL.transaction() as cur:
        cur.execute("""
            SELECT o.id, o.name, o.address, o.counters, o.opening_hours,
                   min(s.starts_at)::date, max(s.starts_at)::date, count(s.id)
            FROM offices o LEFT JOIN slots s ON s.office_id = o.id
            GROUP BY o.id ORDER BY o.id""")
        rows = cur.fetchall()
    body = {"offices": [
        {"id": r[0], "name": r[1], "address": r[2], "counters": r[3], "opening_hours": r[4],
         "first_day": r[5], "last_day": r[6], "slots": r[7], "slot_minutes": 10} for r in rows]}
    body = json.loads(json.dumps(body, ensure_ascii=False, default=to_json))
    CACHE.put("offices", "all", body)
    return 200, body


@app.route("GET", r"/offices/(?P<office>[^/]+)/slots")
def free_slots(request, office):
    office_id = path_id(office, "office")
    day_text = request.arg("date")
    day = None
    if day_text is not None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day_text):
                raise ValueError
            day = datetime.date.fromisoformat(day_text)
        except ValueError:
            raise HttpError(400, "'date' must be a date YYYY-MM-DD", date=day_text[:40]) from None
    limit_text = request.arg("limit") or "20"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise HttpError(400, f"'limit' must be an integer from 1 to {MAX_LIMIT}", limit=limit_text[:40])
    limit = int(limit_text)

    key = f"slots:{office_id}:{day.isoformat() if day else 'first'}"
    cached = CACHE.get(key, str(limit))
    if cached is not None:
        return 200, cached
    with POOL.transaction() as cur:
        cur.execute("SELECT 1 FROM offices WHERE id = %s", (office_id,))
        if cur.fetchone() is None:
            raise HttpError(404, "no such office", office_id=office_id)
        window = "AND s.starts_at >= %(day)s AND s.starts_at < %(day)s + 1" if day else ""
        cur.execute(f"""
            SELECT s.id, s.starts_at, s.counter, s.duration_min FROM slots s
            WHERE s.office_id = %(office)s {window}
              AND NOT EXISTS (SELECT 1 FROM bookings b
                              WHERE b.slot_id = s.id AND b.cancelled_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM holds h
                              WHERE h.slot_id = s.id AND h.booking_id IS NULL AND h.expires_at > now())
            ORDER BY s.starts_at, s.counter LIMIT %(limit)s""",
                    {"office": office_id, "day": day, "limit": limit})
        rows = cur.fetchall()
    body = {"office_id": office_id, "date": day.isoformat() if day else None, "count": len(rows),
            "slots": [{"id": r[0], "starts_at": r[1].isoformat(timespec="minutes"), "counter": r[2],
                       "duration_min": r[3]} for r in rows]}
    CACHE.put(key, str(limit), body)
    return 200, body


@app.route("POST", "/holds")
def create_hold(request):
    body = request.json()
    slot_id = int_field(body, "slot_id")
    citizen = str_field(body, "citizen")
    hold_id = str(uuid.uuid4())
    with POOL.transaction() as cur:
        global_allocation_lock(cur)
        lock = " FOR NO KEY UPDATE SKIP LOCKED" if LOCKING and ALLOCATION == "scalable" else ""
        cur.execute(f"SELECT office_id, starts_at FROM slots WHERE id = %s{lock}", (slot_id,))
        row = cur.fetchone()
        if row is None:
            cur.execute("SELECT 1 FROM slots WHERE id = %s", (slot_id,))
            if cur.fetchone() is None:
                raise HttpError(404, "no such slot", slot_id=slot_id)
            raise HttpError(409, "slot is being allocated to someone else", slot_id=slot_id)
        office_id, starts_at = row
        taken = slot_taken(cur, slot_id)
        if taken:
            raise HttpError(409, f"slot already {taken}", slot_id=slot_id)
        vendor_code()
        cur.execute("""INSERT INTO holds (id, slot_id, citizen, expires_at, node)
                       VALUES (%s, %s, %s, now() + make_interval(secs => %s), %s) RETURNING expires_at""",
                    (hold_id, slot_id, citizen, HOLD_TTL, NODE))
        expires_at = cur.fetchone()[0]
    CACHE.drop(*slot_keys(office_id, starts_at.date()))
    return 201, {"hold_id": hold_id, "slot_id": slot_id, "expires_in": HOLD_TTL,
                 "expires_at": expires_at, "node": NODE}


@app.route("POST", "/bookings")
def create_booking(request):
    body = request.json()
    hold_id = str_field(body, "hold_id", max_len=100)
    with POOL.transaction() as cur:
        global_allocation_lock(cur)
        lock = " FOR NO KEY UPDATE OF h" if LOCKING else ""
        cur.execute(f"""SELECT h.slot_id, h.citizen, h.expires_at <= now(), h.booking_id,
                               s.office_id, s.starts_at
                        FROM holds h JOIN slots s ON s.id = h.slot_id WHERE h.id = %s{lock}""",
                    (hold_id,))
        row = cur.fetchone()
        if row is None:
            raise HttpError(404, "no such hold", hold_id=hold_id)
        slot_id, citizen, expired, booking_id, office_id, starts_at = row
        if booking_id is not None:      # the same confirmation again (a client retry): same answer
            cur.execute(BOOKING_SQL, (booking_id,))
            return 200, {**booking_json(cur.fetchone()), "replayed": True}
        if expired:
            raise HttpError(410, "hold expired", hold_id=hold_id, slot_id=slot_id)
        if not LOCKING and slot_taken(cur, slot_id) == "booked":
            raise HttpError(409, "slot already booked", slot_id=slot_id)
        vendor_code()
        try:
            cur.execute("""INSERT INTO bookings (slot_id, citizen, hold_id, node)
                           VALUES (%s, %s, %s, %s) RETURNING id""", (slot_id, citizen, hold_id, NODE))
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "bookings_hold_id_key":
                raise HttpError(409, "hold already used", hold_id=hold_id) from None
            raise HttpError(409, "slot already booked", slot_id=slot_id) from None
        booking_id = cur.fetchone()[0]
        cur.execute("UPDATE holds SET booking_id = %s WHERE id = %s", (booking_id, hold_id))
        cur.execute(BOOKING_SQL, (booking_id,))
        booking = booking_json(cur.fetchone())
    CACHE.drop(*slot_keys(office_id, starts_at.date()))
    return 201, booking


@app.route("GET", r"/bookings/(?P<booking>[^/]+)")
def get_booking(request, booking):
    booking_id = path_id(booking, "booking", INT8_MAX)
    with POOL.transaction() as cur:
        cur.execute(BOOKING_SQL, (booking_id,))
        row = cur.fetchone()
    if row is None:
        raise HttpError(404, "no such booking", id=booking_id)
    return 200, booking_json(row)


@app.route("DELETE", r"/bookings/(?P<booking>[^/]+)")
def cancel_booking(request, booking):
    booking_id = path_id(booking, "booking", INT8_MAX)
    with POOL.transaction() as cur:
        cur.execute("""UPDATE bookings SET cancelled_at = now()
                       WHERE id = %s AND cancelled_at IS NULL RETURNING id""", (booking_id,))
        changed = cur.fetchone() is not None
        cur.execute(BOOKING_SQL, (booking_id,))
        row = cur.fetchone()
    if row is None:
        raise HttpError(404, "no such booking", id=booking_id)
    result = booking_json(row)
    CACHE.drop(*slot_keys(result["office_id"], datetime.date.fromisoformat(result["starts_at"][:10])))
    return 200, {**result, "already_cancelled": not changed}


if __name__ == "__main__":
    serve(app, f"ALLOCATION={ALLOCATION} BOOKING={BOOKING} HOLD_TTL={HOLD_TTL}s "
               f"VENDOR_COST_MS={VENDOR_COST * 1000:g}")

"""The booking stack (environments/booking) against real containers.

The API contract drills rely on (list, hold, book, cancel; 400/404/409/410 and never a 500 for bad
input, with nothing written), the ledger of the ``citizens`` user kind (declared as data in
compose.yaml) against the database read directly, and the promise of incident 3: no double booking
under a concurrent burst with the sound default — and double bookings with the ``booking=no-unique``
defect (``allocation=scalable``), the burst repeated so the defect shows. The ground truths the
verdicts read are the declared readers ``bookings`` and ``booking-ids``.

Set DRILLKIT_TEST_RUN_PREFIX to prefix the run id (object names) of these runs.
"""

from __future__ import annotations

import http.client
import json
import os
import time

import pytest
import stack_support as S

from drillkit import labels as L
from drillkit.drill import Drill
from drillkit.errors import DockerUnavailable
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack
from drillkit.stack.kinds import pool_for
from drillkit.timeline import Timeline
from drillkit.verdicts.duplicates import double_bookings, duplicates
from drillkit.verdicts.writes import writes_lost

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PREFIX = os.environ.get("DRILLKIT_TEST_RUN_PREFIX", "")
CITIZENS = "citizens"


def read_back(env: Environment, tl: Timeline) -> None:
    """The declared ground truths, read and recorded as a drill's verify phase does."""
    d = Drill(env, tl, allure_steps=False)
    d.ground_truth("bookings")
    d.ground_truth("booking-ids")


def start(switches: dict[str, str]) -> Environment:
    try:
        from drillkit.lab.engine import client
        client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    return Environment(load_stack("booking", switches), run_id=PREFIX + L.new_run_id()).up()


@pytest.fixture(scope="module")
def sound():
    env = start({"allocation": "scalable", "booking": "unique"})
    try:
        yield env
    finally:
        env.down()


def raw(env: Environment, method: str, path: str, body: bytes | str | None = None,
        headers: dict | None = None) -> tuple[int, dict | None]:
    """One request with an arbitrary body (the HttpClient only sends JSON)."""
    port = int(env.url().rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
    finally:
        conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, None


def free_slot(env: Environment, office: int = 1, day: str | None = None) -> int:
    status, body = raw(env, "GET", f"/offices/{office}/slots?limit=1" + (f"&date={day}" if day else ""))
    assert status == 200, body
    return body["slots"][0]["id"]


def test_list_hold_book_cancel(sound):
    status, body = raw(sound, "GET", "/offices")
    assert status == 200 and [o["id"] for o in body["offices"]] == [1, 2, 3, 4]
    assert sum(o["slots"] for o in body["offices"]) == 39_312
    status, body = raw(sound, "GET", "/offices/2/slots?date=2026-02-05&limit=5")
    assert status == 200 and body["count"] == 5
    assert all(s["starts_at"].startswith("2026-02-05") for s in body["slots"])
    slot = body["slots"][0]["id"]

    status, hold = raw(sound, "POST", "/holds", json.dumps({"slot_id": slot, "citizen": "t-1"}))
    assert status == 201 and hold["slot_id"] == slot and hold["expires_in"] == 30
    status, other = raw(sound, "POST", "/holds", json.dumps({"slot_id": slot, "citizen": "t-2"}))
    assert status == 409, other                                  # held by t-1
    status, booking = raw(sound, "POST", "/bookings", json.dumps({"hold_id": hold["hold_id"]}))
    assert status == 201 and booking["slot_id"] == slot and booking["status"] == "active"
    status, again = raw(sound, "POST", "/bookings", json.dumps({"hold_id": hold["hold_id"]}))
    assert status == 200 and again["replayed"] is True and again["id"] == booking["id"]   # a retry
    status, other = raw(sound, "POST", "/holds", json.dumps({"slot_id": slot, "citizen": "t-2"}))
    assert status == 409, other                                  # booked
    status, got = raw(sound, "GET", f"/bookings/{booking['id']}")
    assert status == 200 and got["citizen"] == "t-1"

    status, cancelled = raw(sound, "DELETE", f"/bookings/{booking['id']}")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["already_cancelled"] is False
    status, twice = raw(sound, "DELETE", f"/bookings/{booking['id']}")
    assert status == 200 and twice["already_cancelled"] is True
    status, rebook = raw(sound, "POST", "/holds", json.dumps({"slot_id": slot, "citizen": "t-2"}))
    assert status == 201, rebook                                 # free again


BAD_HOLDS = [
    (b"", 400), (b"not json", 400), (b"{", 400), (b"[]", 400), (b'"slot"', 400), (b"null", 400),
    (b"\xff\xfe", 400), (b"{}", 400), (b'{"slot_id": 1}', 400), (b'{"citizen": "x"}', 400),
    (b'{"slot_id": "1", "citizen": "x"}', 400), (b'{"slot_id": true, "citizen": "x"}', 400),
    (b'{"slot_id": 1.5, "citizen": "x"}', 400), (b'{"slot_id": -1, "citizen": "x"}', 400),
    (b'{"slot_id": 0, "citizen": "x"}', 400), (b'{"slot_id": 1, "citizen": ""}', 400),
    (b'{"slot_id": 1, "citizen": 7}', 400), (b'{"slot_id": 1, "citizen": "' + b"x" * 300 + b'"}', 400),
    (b'{"slot_id": 99999999, "citizen": "x"}', 404), (b'{"slot_id": 1e400, "citizen": "x"}', 400),
    (b'{"slot_id": 123456789012345678901234567890, "citizen": "x"}', 404),
    (b'{"slot_id": null, "citizen": "x"}', 400), (b'{"slot_id": [1], "citizen": "x"}', 400),
]
BAD_BOOKINGS = [
    (b"", 400), (b"garbage", 400), (b"[1]", 400), (b"{}", 400), (b'{"hold_id": 5}', 400),
    (b'{"hold_id": ""}', 400), (b'{"hold_id": null}', 400), (b'{"hold_id": "' + b"h" * 150 + b'"}', 400),
    (b'{"hold_id": "no-such-hold"}', 404), (b'{"hold_id": "00000000-0000-0000-0000-000000000000"}', 404),
    (b'{"hold_id": "\'; DROP TABLE bookings; --"}', 404),
]
BAD_PATHS = [
    ("GET", "/offices/abc/slots", 400), ("GET", "/offices/99/slots", 404), ("GET", "/offices/0/slots", 404),
    ("GET", "/offices/1/slots?date=2026-13-01", 400), ("GET", "/offices/1/slots?date=tomorrow", 400),
    ("GET", "/offices/1/slots?limit=0", 400), ("GET", "/offices/1/slots?limit=501", 400),
    ("GET", "/offices/1/slots?limit=-3", 400), ("GET", "/offices/99999999999999999999/slots", 404),
    ("GET", "/bookings/abc", 400), ("GET", "/bookings/999999999", 404), ("GET", "/bookings/-1", 400),
    ("DELETE", "/bookings/999999999", 404), ("DELETE", "/bookings/x", 400),
    ("GET", "/bookings/99999999999999999999", 404), ("PUT", "/holds", 405), ("GET", "/nowhere", 404),
]


def test_bad_input_is_4xx_never_500_and_writes_nothing(sound):
    before = S.booking_counts(sound)
    seen = []
    for body, want in BAD_HOLDS:
        seen.append(("POST /holds", body[:40], want, raw(sound, "POST", "/holds", body)[0]))
    for body, want in BAD_BOOKINGS:
        seen.append(("POST /bookings", body[:40], want, raw(sound, "POST", "/bookings", body)[0]))
    for method, path, want in BAD_PATHS:
        seen.append((method, path, want, raw(sound, method, path)[0]))
    wrong = [s for s in seen if s[2] != s[3]]
    assert not wrong, wrong
    assert all(s[3] < 500 for s in seen)
    assert S.booking_counts(sound) == before


def test_expired_hold_is_410_and_books_nothing(sound):
    slot = free_slot(sound, 3, "2026-03-02")
    status, hold = raw(sound, "POST", "/holds", json.dumps({"slot_id": slot, "citizen": "late"}))
    assert status == 201
    # HOLD_TTL is 30 s; age the hold in the database instead of waiting.
    S.booking_psql(sound, f"UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = '{hold['hold_id']}'")
    before = S.booking_counts(sound)
    status, body = raw(sound, "POST", "/bookings", json.dumps({"hold_id": hold["hold_id"]}))
    assert status == 410, body
    assert S.booking_counts(sound) == before
    status, again = raw(sound, "POST", "/holds", json.dumps({"slot_id": slot, "citizen": "next"}))
    assert status == 201, again                                   # the expired hold freed the slot


def test_citizens_ledger_matches_the_database(sound):
    tl = Timeline()
    pool = pool_for("citizens", 6, timeline=tl, env=sound, seed=3, think=0.05, max_duration=4.0)
    with pool:
        time.sleep(3.0)
    read_back(sound, tl)
    probes = tl.probes(CITIZENS)
    assert probes and sum(p["ok"] for p in probes) / len(probes) > 0.95
    ledger = [w for w in tl.writes(ledger="bookings", outcome="ok")]
    assert len(ledger) >= 5 and all(w["op"] == "booking" and "slot" in w and "office" in w for w in ledger)
    rows = S.booking_rows(sound)                                   # the test's own count, straight from the db
    assert all(rows["active"].get(w["id"]) == str(w["slot"]) for w in ledger)   # every booking, on its slot
    truth = tl.ground_truth("bookings")
    assert dict(zip(truth["ids"], truth["slots"])) == rows["active"]            # the declared reader agrees
    assert sorted(tl.ground_truth("booking-ids")["ids"], key=int) == sorted([*rows["active"], *rows["cancelled"]], key=int)
    for v in (double_bookings(tl), duplicates(tl, "bookings"), writes_lost(tl, what="booking-ids", ledger="bookings"),
              writes_lost(tl, what="bookings")):
        assert v.status == "pass", v.sentence


def rush(env: Environment, bursts: int, day: str, size: int = 20, answers: list | None = None) -> list[int]:
    """`bursts` bursts of `size` citizens, each on its own free slot; bookings acknowledged per burst."""
    status, body = raw(env, "GET", f"/offices/4/slots?date={day}&limit={bursts}")
    assert status == 200 and body["count"] == bursts
    acked = []
    for s in body["slots"]:
        got = S.burst(env.url(), s["id"], size)
        if answers is not None:
            answers += got
        acked.append(sum(1 for g in got if "id" in g))
    return acked


def test_no_double_booking_under_a_burst(sound):
    tl, answers = Timeline(), []
    acked = rush(sound, 5, "2026-01-06", answers=answers)
    read_back(sound, tl)
    assert all(n <= 1 for n in acked), acked
    assert sum(acked) >= 3, acked                                  # the bursts did book
    assert S.booking_counts(sound)["double_booked_slots"] == 0
    assert double_bookings(tl).status == "pass"
    assert not [a for a in answers if any(isinstance(v, int) and v >= 500 for v in a.values())]


def test_no_unique_defect_double_books():
    env = start({"allocation": "scalable", "booking": "no-unique"})
    try:
        tl = Timeline()
        acked: list[int] = []
        for day in ("2026-01-07", "2026-01-08", "2026-01-09"):     # up to 3 rounds of 4 bursts
            acked += rush(env, 4, day)
            if sum(n > 1 for n in acked) >= 2:
                break
        read_back(env, tl)
        counts = S.booking_counts(env)
    finally:
        env.down()
    v = double_bookings(tl)
    print(f"bookings acknowledged per burst: {acked}; {v.sentence}")
    assert any(n > 1 for n in acked), f"no burst double-booked: {acked}"
    assert counts["double_booked_slots"] >= 1
    assert v.status == "fail" and v.value >= 1, v.sentence
    assert v.value == counts["double_booked_slots"]

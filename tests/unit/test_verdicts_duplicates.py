"""duplicates (ledger and ground truth) and double_bookings (the booking stack)."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, double_bookings, duplicates


def ledger(*ids):
    tl = Timeline()
    for i in ids:
        tl.write(client="c1", id=i, op="insert")
    return tl


def test_duplicates_pass_when_every_id_is_acknowledged_and_held_once():
    tl = ledger("1", "2", "3")
    tl.add("ground-truth", what="writes", ids=["1", "2", "3", "4"])  # 4: ambiguous write that landed
    v = duplicates(tl)
    assert v.status == PASS and v.value == 0
    assert v.sentence == "duplicates in writes: 0 ids of 3 acknowledged (expected 0)"


def test_duplicates_fail_on_a_double_acknowledgement_and_on_rows_held_twice():
    tl = ledger("1", "2", "2", "3")
    tl.add("ground-truth", what="writes", ids=["1", "2", "2", "3", "3", "4", "4"])
    v = duplicates(tl)
    assert v.status == FAIL and v.value == 3
    assert v.sentence == ("duplicates in writes: 3 ids (1 acknowledged more than once, 2 held more often "
                          "than acknowledged) of 3 acknowledged (expected 0)")
    assert v.details["acknowledged_twice"] == ["2"]
    assert v.details["held_too_often"] == ["3", "4"]


def test_duplicates_unknown_without_data_and_ledger_alone_can_fail():
    v = duplicates(Timeline())
    assert v.status == UNKNOWN
    assert v.sentence == "duplicates in writes unknown: nothing acknowledged and nothing read back"
    v = duplicates(ledger("1", "2"))
    assert v.status == UNKNOWN
    assert v.sentence == ("duplicates in writes unknown: the stack's data was not read back "
                          "(2 ids acknowledged once each)")
    v = duplicates(ledger("1", "1"))
    assert v.status == FAIL
    assert v.sentence == ("duplicates in writes: 1 id (1 acknowledged more than once) of 1 acknowledged "
                          "(expected 0)")


def bookings(slots, ids=None):
    tl = Timeline()
    tl.add("ground-truth", what="bookings", ids=ids or [f"b{i}" for i in range(len(slots))], slots=slots)
    return tl


def test_double_bookings_pass_when_each_slot_is_held_once():
    v = double_bookings(bookings(["s1", "s2", "s3"]))
    assert v.status == PASS and v.value == 0
    assert v.sentence == "double bookings: 0 slots booked twice (expected 0)"


def test_double_bookings_fail_and_name_the_bookings():
    v = double_bookings(bookings(["s1", "s1", "s2", "s2", "s3", "s3", "s4"]))
    assert v.status == FAIL and v.value == 3
    assert v.sentence == "double bookings: 3 slots booked twice (expected 0)"
    assert v.details["bookings"]["s1"] == ["b0", "b1"]
    v = double_bookings(bookings(["s1", "s1", "s1", "s2"]))
    assert v.sentence == "double bookings: 1 slot booked twice or more (up to three times) (expected 0)"
    assert v.details["extra_bookings"] == 2


def test_double_bookings_unknown_without_a_readable_ground_truth():
    v = double_bookings(Timeline())
    assert v.status == UNKNOWN
    assert v.sentence == "double bookings unknown: the bookings were not read back"
    v = double_bookings(bookings(["s1"], ids=["b1", "b2"]))
    assert v.status == UNKNOWN
    assert v.sentence == "double bookings unknown: the bookings read back list 2 booking(s) but 1 slot(s)"

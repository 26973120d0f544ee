"""Lost writes with their place in time, three-valued outcomes, and silent loss as the headline."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, duplicates, writes_lost


def partition_timeline(*, lost=range(10, 30), every_request_ok=False, heal=22.0):
    """Writes 1..40 acknowledged one a second from t=0; a partition from 10 s to ``heal``; the ids in
    ``lost`` are missing from the ground truth. Requests every second, failing during the partition
    unless ``every_request_ok``."""
    tl = Timeline()
    tl.fault("inject", fault="partition", fault_id="p1", targets=["redis-1"], t=10.0)
    if heal is not None:
        tl.fault("heal", fault="partition", fault_id="p1", targets=["redis-1"], t=heal)
    for i in range(40):
        t = float(i)
        ok = every_request_ok or not (10.0 <= t < (heal or 99))
        tl.probe(population="writers", client="w1", op="SET", ok=ok, t=t, t_end=t + 0.01)
        tl.add("write", t=t + 0.01, client="w1", id=str(i + 1), op="SET")
    tl.add("ground-truth", t=41.0, what="writes", ids=[str(i + 1) for i in range(40) if i not in lost])
    return tl


def test_lost_writes_are_placed_against_inject_and_heal():
    v = writes_lost(partition_timeline())
    assert v.status == FAIL and v.value == 20
    assert v.sentence == ("acknowledged writes lost: 20 of 40 (8 after the heal; expected 0), acknowledged from +0.0 s to "
                          "+19.0 s after the partition began — 7.0 s of it after the heal")
    d = v.details
    assert (d["first_lost_s"], d["last_lost_s"], d["after_heal_s"], d["lost_after_heal"]) == (0.01, 19.01, 7.01, 8)
    assert d["silent"] is False and d["headline"] is False


def test_loss_before_the_heal_only_and_a_fault_never_healed():
    v = writes_lost(partition_timeline(lost=range(12, 15)))
    assert v.sentence.endswith("after the partition began, none after the heal")
    v = writes_lost(partition_timeline(lost=range(12, 15), heal=None))
    assert v.sentence.endswith("after the partition began (not healed before the verdict)")


def test_nothing_lost_passes_with_the_count():
    v = writes_lost(partition_timeline(lost=()))
    assert v.status == PASS and v.value == 0
    assert v.sentence == "acknowledged writes lost: 0 of 40 (expected 0)"


def test_silent_write_loss_is_the_headline():
    v = writes_lost(partition_timeline(every_request_ok=True))
    assert v.status == FAIL
    assert v.sentence.startswith("silent write loss: 20 of 40 acknowledged writes lost (8 after the heal) while all 40 "
                                 "requests succeeded (expected 0), acknowledged from +0.0 s")
    assert v.details["silent"] is True and v.details["headline"] is True


def test_unknown_writes_are_never_lost_and_are_reported_apart():
    tl = partition_timeline(lost=range(10, 12))
    tl.write(client="w1", id="41", op="SET", outcome="unknown")   # timed out, then found: it happened
    tl.write(client="w1", id="99", op="SET", outcome="unknown")   # timed out, not found
    tl.write(client="w1", id=None, op="SET", outcome="unknown")   # the server would have named it
    tl.records[-4]["ids"] = tl.records[-4]["ids"] + ["41"]        # the ground truth holds 41
    v = writes_lost(tl)
    assert v.value == 2 and v.details["acknowledged"] == 40
    assert v.details["unknown"] == {"found": 1, "missing": 1, "id_unknown": 1}
    assert v.sentence.endswith("; 3 of unknown outcome not counted (1 found, 1 missing, 1 without id)")


def test_unknown_without_ground_truth_or_without_acknowledged_writes():
    tl = Timeline()
    tl.write(client="c", id="1", op="move")
    assert writes_lost(tl).status == UNKNOWN
    tl = Timeline()
    tl.write(client="c", id="1", op="move", outcome="unknown")
    tl.add("ground-truth", what="writes", ids=[])
    v = writes_lost(tl)
    assert v.status == UNKNOWN and "no write was acknowledged" in v.sentence and "1 missing" in v.sentence


def test_ledger_names_the_ground_truth():
    tl = Timeline()
    tl.write(client="c", id="1", op="book", ledger="bookings")
    tl.write(client="c", id="7", op="move")                     # the default ledger "writes"
    tl.add("ground-truth", what="bookings", ids=["1"])
    tl.add("ground-truth", what="writes", ids=[])
    assert writes_lost(tl, what="bookings").value == 0
    assert writes_lost(tl).value == 1
    legacy = Timeline()                                          # one ledger compared with a named truth
    legacy.write(client="c", id="5", op="booking")
    legacy.add("ground-truth", what="booking-ids", ids=["5"])
    assert writes_lost(legacy, what="booking-ids").value == 0


def test_the_slow_link_set_up_in_steady_state_does_not_hide_the_partition():
    tl = partition_timeline()
    tl.records.insert(1, {"kind": "fault", "t": 0.0, "event": "inject", "fault": "latency", "fault_id": "l0",
                          "targets": ["replication"], "detail": {}})
    assert "after the partition began" in writes_lost(tl).sentence


def test_writes_lost_in_flight_just_before_the_cut_are_placed_against_the_cut():
    """DB failover: a slow replication link set up in the steady state, the link cut and the primary
    killed at 3.2 s; the write lost was acknowledged 10 ms before the cut."""
    tl = Timeline()
    tl.add("phase", t=0.0, phase="steady", event="start")
    tl.fault("inject", fault="latency", fault_id="lat", targets=["replication"], t=0.1)
    tl.add("phase", t=3.0, phase="steady", event="end")
    tl.fault("inject", fault="link_down", fault_id="cut", targets=["replication"], t=3.2)
    tl.fault("inject", fault="kill", fault_id="kill", targets=["registry/db"], t=3.21)
    tl.add("write", t=3.19, client="c", id="1", op="move")
    tl.add("write", t=1.0, client="c", id="2", op="move")
    tl.add("ground-truth", t=9.0, what="writes", ids=["2"])
    v = writes_lost(tl)
    assert v.sentence == ("acknowledged writes lost: 1 of 2 (expected 0), acknowledged from 0.0 s to 0.0 s "
                          "after the link down began (not healed before the verdict)")
    assert v.details["first_lost_s"] == -0.01


def test_duplicates_count_acknowledged_writes_only():
    tl = Timeline()
    tl.write(client="c", id="1", op="move")
    tl.write(client="c", id="1", op="move", outcome="unknown")  # a retry of unknown outcome: not a duplicate
    tl.add("ground-truth", what="writes", ids=["1"])
    assert duplicates(tl).value == 0


def test_timeline_write_keeps_the_current_call_and_adds_outcome_ledger_attrs():
    tl = Timeline()
    plain = tl.write(client="c", id=3, op="move")
    assert plain["id"] == "3" and "outcome" not in plain and "ledger" not in plain
    odd = tl.write(client="c", id=None, op="book", outcome="unknown", ledger="bookings", slot="A-1")
    assert (odd["id"], odd["outcome"], odd["ledger"], odd["slot"]) == (None, "unknown", "bookings", "A-1")
    assert len(tl.writes()) == 2 and tl.writes(outcome="ok") == [plain]
    assert tl.writes(ledger="bookings", outcome="unknown") == [odd]
    with pytest.raises(ValueError):
        tl.write(client="c", id="1", op="x", outcome="maybe")
    with pytest.raises(ValueError):
        tl.write(client="c", id=None, op="x")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=30, unique_by=lambda x: x[0]),
       st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 60)), st.booleans()), max_size=10))
def test_unknown_writes_never_change_what_was_lost(acked, unknown):
    """acked: (id, held); unknown: (id or None, held). Lost = acknowledged and not held, whatever the
    unknown writes are; each unknown write is counted exactly once as found, missing or without id."""
    def build(with_unknown):
        tl = Timeline()
        tl.fault("inject", fault="kill", fault_id="f", targets=["db"], t=0.5)
        held = {str(i) for i, h in acked if h}
        for n, (i, _) in enumerate(acked):
            tl.add("write", t=1.0 + n, client="c", id=str(i), op="w")
        if with_unknown:
            for i, h in unknown:
                tl.write(client="c", id=None if i is None else str(100 + i), op="w", outcome="unknown")
                if h and i is not None:
                    held.add(str(100 + i))
        tl.add("ground-truth", what="writes", ids=sorted(held))
        return writes_lost(tl)
    plain, mixed = build(False), build(True)
    assert plain.value == mixed.value == sum(1 for _, h in acked if not h)
    assert plain.status == mixed.status
    assert sum(mixed.details["unknown"].values()) == len(unknown)

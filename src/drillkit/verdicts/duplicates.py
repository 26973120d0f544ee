"""Nothing twice: duplicate writes (a retry that landed again) and double bookings of one slot.

Ground-truth records read back after recovery:

``{"kind": "ground-truth", "what": "writes", "ids": [...]}``
    every id the stack holds, once per row it holds (repeats are duplicates).
``{"kind": "ground-truth", "what": "bookings", "ids": [...], "slots": [...]}``
    the *active* bookings (cancelled ones left out): ``ids[i]`` is a booking id, ``slots[i]`` the slot
    it holds. A slot listed more than once is booked more than once.
"""

from __future__ import annotations

from collections import Counter

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges
from drillkit.verdicts.writes import ledger_of

__all__ = ["duplicates", "double_bookings"]


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


@judges("duplicates")
def duplicates(tl: Timeline, what: str = "writes", *, expected: int = 0) -> Verdict:
    """Ids acknowledged twice in the ledger (the acknowledged ``write`` records), or held by the stack
    more often than they were acknowledged (at least once: a write that was never acknowledged, or
    of unknown outcome, but landed once is an ambiguous write, not a duplicate).

    Unknown without ledger and ground truth; unknown when the ledger is clean but the stack's data
    was not read back.

    Sentence: ``duplicates in writes: 2 ids (1 acknowledged more than once, 1 held more often than
    acknowledged) of 120 acknowledged (expected 0)``.
    """
    name = f"duplicate {what}"
    target = f"≤ {expected}"
    acked = Counter(str(w["id"]) for w in tl.writes(ledger=ledger_of(tl, what), outcome="ok"))
    truth = tl.ground_truth(what)
    if truth is None and not acked:
        return Verdict(name, UNKNOWN, f"duplicates in {what} unknown: nothing acknowledged and nothing "
                                      f"read back", unit="ids", target=target)
    twice_acked = sorted(i for i, n in acked.items() if n > 1)
    held = Counter(map(str, truth.get("ids", []))) if truth is not None else Counter()
    over_held = sorted(i for i, n in held.items() if n > max(acked.get(i, 0), 1))
    bad = sorted(set(twice_acked) | set(over_held))
    n = len(bad)
    if truth is None and not bad:
        return Verdict(name, UNKNOWN, f"duplicates in {what} unknown: the stack's data was not read back "
                                      f"({len(acked)} ids acknowledged once each)",
                       unit="ids", target=target)
    why = []
    if twice_acked:
        why.append(f"{len(twice_acked)} acknowledged more than once")
    if over_held:
        why.append(f"{len(over_held)} held more often than acknowledged")
    return Verdict(name, PASS if n <= expected else FAIL,
                   f"duplicates in {what}: {n} id{'' if n == 1 else 's'}"
                   + (f" ({', '.join(why)})" if why else "")
                   + f" of {len(acked)} acknowledged (expected {expected})",
                   value=n, unit="ids", target=target,
                   details={"acknowledged_twice": twice_acked[:50], "held_too_often": over_held[:50],
                            "acknowledged": len(acked), "held": sum(held.values()),
                            "read_back": truth is not None})


@judges("double_bookings")
def double_bookings(tl: Timeline, *, expected: int = 0) -> Verdict:
    """Slots held by more than one active booking in the ``bookings`` ground truth.

    Sentence: ``double bookings: 3 slots booked twice (expected 0)``; a slot booked three times or more
    shows as ``... booked twice or more (up to 3 times) ...``.
    """
    name = "double bookings"
    target = f"≤ {expected}"
    truth = tl.ground_truth("bookings")
    if truth is None:
        return Verdict(name, UNKNOWN, "double bookings unknown: the bookings were not read back",
                       unit="slots", target=target)
    slots = [str(s) for s in truth.get("slots", [])]
    ids = truth.get("ids", [])
    if "slots" not in truth or (ids and len(ids) != len(slots)):
        return Verdict(name, UNKNOWN,
                       f"double bookings unknown: the bookings read back list {len(ids)} booking(s) "
                       f"but {len(slots)} slot(s)", unit="slots", target=target)
    counts = Counter(slots)
    doubled = {s: c for s, c in counts.items() if c > 1}
    n = len(doubled)
    most = max(doubled.values(), default=2)
    how = "twice" if most == 2 else f"twice or more (up to {_times(most)})"
    by_slot: dict[str, list] = {}
    for booking_id, slot in zip(ids, slots):
        if slot in doubled:
            by_slot.setdefault(slot, []).append(booking_id)
    return Verdict(name, PASS if n <= expected else FAIL,
                   f"double bookings: {n} slot{'' if n == 1 else 's'} booked {how} (expected {expected})",
                   value=n, unit="slots", target=target,
                   details={"slots": dict(sorted(doubled.items())[:50]),
                            "bookings": dict(sorted(by_slot.items())[:50]),
                            "active_bookings": len(slots), "extra_bookings": sum(doubled.values()) - n})

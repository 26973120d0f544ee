"""Acknowledged writes: the users' ledger against what the stack holds after recovery — how many were
lost, and *when* they had been acknowledged relative to the fault's injection and heal.

Outcomes are three-valued (Jepsen's ok / fail / info). A ``write`` record without ``outcome`` (or
``outcome: ok``) was acknowledged; ``outcome: unknown`` timed out or was cut off after sending — it
may have happened. Only acknowledged writes can be lost; unknown ones are reported apart: found in
the ground truth, missing from it, or without an id to look for.

*Silent* write loss — writes lost while every request of every population succeeded — is the finding
users never see; the verdict's sentence then starts with ``silent write loss:``.
"""

from __future__ import annotations

from typing import Any

from drillkit.timeline import FaultWindow, Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict
from drillkit.verdicts.recovery import drill_faults, first_fault

__all__ = ["writes_lost", "ledger_of", "lost_window", "fault_in_play", "read_timing", "NEAR_READ"]

NEAR_READ = 1.0   # lost writes acknowledged less than this many seconds before the read are named apart


def ledger_of(tl: Timeline, what: str, ledger: str | None = None) -> str:
    """Which ledger is compared with the ground truth ``what``: ``ledger`` if given, else the ledger
    named like the ground truth if any write carries it, else the default ledger ``writes``."""
    if ledger is not None:
        return ledger
    return what if tl.writes(ledger=what) else "writes"


def fault_in_play(tl: Timeline, t: float, fault_id: str | None = None) -> FaultWindow | None:
    """The fault the lost writes are placed against: ``fault_id`` if given; else, of the faults under
    test (injected after the steady state, :func:`~drillkit.verdicts.recovery.drill_faults`), the last
    one injected at or before ``t`` (the first lost write), else the first of them. A slow link set up
    in the steady state does not hide the partition that began the loss."""
    if fault_id is not None:
        return first_fault(tl, fault_id)
    faults = drill_faults(tl)
    before = [w for w in faults if w.start <= t]
    return before[-1] if before else (faults[0] if faults else None)


def _offset(x: float) -> str:
    text = f"{x:+.1f} s"
    return "0.0 s" if text == "-0.0 s" else text


def lost_window(missing: list[dict[str, Any]], w: FaultWindow | None) -> tuple[str, dict[str, Any]]:
    """Where the lost writes sit in time: the phrase for the sentence and the figures for details."""
    first = min(r["t"] for r in missing)
    last = max(r["t"] for r in missing)
    details: dict[str, Any] = {"first_lost_t": first, "last_lost_t": last, "span_s": round(last - first, 3)}
    if w is None:
        return (f", acknowledged over {last - first:.1f} s ({_offset(first)} to {_offset(last)} into the "
                f"drill; no fault on the timeline)"), details
    what = w.fault.replace("_", " ")
    details.update(fault_start=w.start, fault_end=w.end, first_lost_s=round(first - w.start, 3),
                   last_lost_s=round(last - w.start, 3))
    phrase = (f", acknowledged from {_offset(first - w.start)} to {_offset(last - w.start)} after the "
              f"{what} began")
    if w.end is None:
        phrase += " (not healed before the verdict)"
    else:
        after = max(0.0, last - max(first, w.end))
        count = sum(1 for r in missing if r["t"] >= w.end)
        details.update(after_heal_s=round(after, 3), lost_after_heal=count)
        if count:
            phrase += f" — {after:.1f} s of it after the heal"
        elif last < w.start:
            phrase += ", all before the fault"
        else:
            phrase += ", none after the heal"
    return phrase, details


def read_timing(tl: Timeline, truth: dict[str, Any], missing: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """When the stack's data was read, against the traffic's end and the lost writes: the phrase for
    the sentence and the figures for details.

    ``read_at`` is when the read began (the ``ground-truth`` record's time less its ``seconds``);
    ``settle`` the last ``settle`` record before it (`drillkit.drill.Drill.settle`). The sentence
    says so when the settle's condition had not held, or — without any settle — how many lost writes
    were acknowledged less than :data:`NEAR_READ` s before the read (a store that commits after it
    acknowledges holds them a moment later: they may not be lost at all)."""
    seconds = (truth.get("detail") or {}).get("seconds")
    read_at = truth["t"] - (seconds if isinstance(seconds, (int, float)) else 0.0)
    settles = [r for r in tl.of("settle") if r["t"] <= truth["t"] + 1e-9]
    settle = settles[-1] if settles else None
    details: dict[str, Any] = {"read_at": round(read_at, 6), "settle": None if settle is None else
                               {k: settle.get(k) for k in ("time", "until", "met", "waited", "traffic_stopped")}}
    phrase = ""
    if missing:
        near = [r for r in missing if read_at - NEAR_READ < r["t"] <= read_at]
        details["last_lost_before_read_s"] = round(read_at - max(r["t"] for r in missing), 3)
        details["lost_near_read"] = len(near)
        if settle is None and near:
            phrase = (f"; {len(near)} of them acknowledged less than {NEAR_READ:g} s before the data was read, "
                      f"with no settle time")
    if settle is not None and settle.get("met") is False:
        phrase += (f"; the data was read {settle.get('waited') or 0:.1f} s after the traffic stopped, "
                   f"before the settle condition held ({settle.get('until')})")
    return phrase, details


def writes_lost(tl: Timeline, *, what: str = "writes", expected: int = 0, ledger: str | None = None,
                fault_id: str | None = None) -> Verdict:
    """Acknowledged writes of the ledger missing from the ground truth ``what`` (read back after
    recovery), with their place in time relative to the fault in play when the first of them was
    acknowledged (see :func:`fault_in_play`; or ``fault_id``).

    Sentences: ``acknowledged writes lost: 2360 of 3270 (1210 after the heal; expected 0), acknowledged
    from +0.0 s to +25.4 s after the partition began — 13.5 s of it after the heal`` (how many were
    acknowledged at or after the heal began, when any were); with silent loss the same behind ``silent
    write loss: … while all 5400 requests succeeded``; writes of unknown outcome are
    counted apart: ``; 12 of unknown outcome not counted (5 found, 4 missing, 3 without id)``.
    Unknown without the ground truth or without a single acknowledged write.
    """
    name = "acknowledged writes lost"
    target = f"≤ {expected}"

    def verdict(status: str, sentence: str, value: int | None = None, **details: Any) -> Verdict:
        return Verdict(name, status, sentence, value=value, unit="writes", target=target, details=details,
                       kind="writes_lost")

    book = ledger_of(tl, what, ledger)
    acked = tl.writes(ledger=book, outcome="ok")
    unknown = tl.writes(ledger=book, outcome="unknown")
    truth = tl.ground_truth(what)
    if truth is None:
        return verdict(UNKNOWN, f"acknowledged writes lost unknown: the stack's data ({what}) was not read back",
                       ledger=book, acknowledged=len(acked), unknown_outcome=len(unknown))
    held = set(map(str, truth.get("ids", [])))
    found = sum(1 for r in unknown if r.get("id") is not None and str(r["id"]) in held)
    no_id = sum(1 for r in unknown if r.get("id") is None)
    unknown_counts = {"found": found, "missing": len(unknown) - found - no_id, "id_unknown": no_id}
    unknown_text = (f"; {len(unknown)} of unknown outcome not counted ({found} found, "
                    f"{unknown_counts['missing']} missing, {no_id} without id)" if unknown else "")
    if not acked:
        return verdict(UNKNOWN, f"acknowledged writes lost unknown: no write was acknowledged{unknown_text}",
                       ledger=book, acknowledged=0, unknown_outcome=len(unknown), unknown=unknown_counts)
    missing = [r for r in acked if str(r["id"]) not in held]
    n = len(missing)
    details: dict[str, Any] = {"ledger": book, "acknowledged": len(acked), "lost": n,
                               "missing": [r["id"] for r in missing][:50],
                               "unknown_outcome": len(unknown), "unknown": unknown_counts}
    read_phrase, read_details = read_timing(tl, truth, missing)
    details.update(read_details)
    sentence = f"acknowledged writes lost: {n} of {len(acked)} (expected {expected})"
    silent = False
    if missing:
        phrase, where = lost_window(missing, fault_in_play(tl, min(r["t"] for r in missing), fault_id))
        details.update(where)
        details["rpo_seconds"] = where["span_s"]
        # how many were acknowledged at or after the heal began (none: the phrase says so)
        after = where.get("lost_after_heal") or 0
        count = f"({after} after the heal; expected {expected})" if after else f"(expected {expected})"
        sentence = f"acknowledged writes lost: {n} of {len(acked)} {count}{phrase}"
        probes = tl.probes()
        silent = bool(probes) and all(r["ok"] for r in probes)
        if silent:
            count = f" ({after} after the heal)" if after else ""
            sentence = (f"silent write loss: {n} of {len(acked)} acknowledged writes lost{count} while all "
                        f"{len(probes)} requests succeeded (expected {expected}){phrase}")
    details["silent"] = silent
    details["headline"] = silent   # the finding of its drill: users saw nothing while data vanished
    return verdict(PASS if n <= expected else FAIL, sentence + read_phrase + unknown_text, n, **details)

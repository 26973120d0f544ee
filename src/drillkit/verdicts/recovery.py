"""Recovery per user: how long until *every* user the fault hit could work again.

"How long until users could work again" is a statement about each user, not about the first lucky
requests of a mix. The definitions (docs/verdicts.md has a worked timeline):

window
    From the fault's injection to the end of the first ``recover`` phase that ends after it (no
    recover phase: the end of the timeline). A request is in the window when it was *answered* at or
    after the injection and *sent* before the window's end.
hit
    A user (a timeline ``client``) with a failed request in the window.
back
    At the completion (``t_end``) of the first of ``consecutive`` (default 3) successes in a row after
    the user's last failure in the window. A user whose last request failed, or who has fewer than
    ``consecutive`` successes after its last failure, is *not back*.
outage (of a user)
    The user's last run of failures in the window, counted from the first failure after which the
    user was not back again (fewer than ``consecutive`` successes between two failures join them).
recovery time
    Each hit user's time to back, from the injection of the fault that began the user's outage: the
    last fault under test (:func:`drill_faults`; a condition set up during the steady state is not
    one) injected before the outage's first failure was answered — with one fault, that fault. A user
    out from the first fault through a second counts from the first; a user back in between and hit
    again by the second counts from the second (not from the first: that would charge it the time
    between them). ``fault_id`` measures every user from that one fault. The verdict's figure is the
    last user back; median and p95 of the hit users' times beside it.
    Any hit user not back fails the verdict (``not recovered``). No user hit: ``no outage seen`` — a
    pass without a figure, never ``0.0 s``.
degraded after recovery
    Once every hit user is back, the population's availability *from the moment the heal made the
    stack whole to the end of the window* must be within ``tolerance`` (default 2 percentage points)
    of its steady state (the requests answered before the injection). With several faults under
    test, the stack is whole once the last of them to heal is (a primary killed under a partition
    still fails over when the partition heals); with ``fault_id``, that fault's heal. That moment is
    the heal record's ``healthy`` (the healed nodes' health checks passed), else its ``done`` (the
    heal call returned), else — a timeline written before heal records had them — the heal's stamp: a node
    started again still starts for a while after the call that starts it began, and what fails
    meanwhile is the outage, not a service left worse. Not from the last user back: by the definition
    of "back" no request of any user fails after that instant, so that window is always 100 %. A
    fault never healed, or a window with fewer than :data:`MIN_REQUESTS` requests, leaves it
    unmeasured — said in the sentence, never shown as a figure.

Which node served each hit user's failures (and which served it last before the fault) is kept as
detail; it never decides who counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from drillkit.timeline import FaultWindow, Timeline
from drillkit.verdicts.availability import percentile
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict
from drillkit.verdicts.spans import describe_fault, t_end

__all__ = ["recovery_time", "first_fault", "drill_faults", "observed_until", "users_recovery", "UserRecovery",
           "steady_vs_after_heal", "CONSECUTIVE", "TOLERANCE", "MIN_REQUESTS"]

CONSECUTIVE = 3     # successes in a row that make a user back
TOLERANCE = 0.02    # availability after the heal may be this far below the steady state (2 points)
MIN_REQUESTS = 50   # fewer requests in a window cannot tell availability to within 2 points


def drill_faults(tl: Timeline) -> list[FaultWindow]:
    """The fault windows under test: those injected once the steady state was checked (at or after the
    end of the first ``steady`` phase). A condition set up during the steady state — a slow
    replication link between data centres — is part of the baseline, not the fault. Without a
    steady phase (or when every fault came before its end): every fault window."""
    windows = tl.fault_windows()
    steady_end = next((e for name, _s, e in tl.phases() if name == "steady"), None)
    if steady_end is None:
        return windows
    after = [w for w in windows if w.start >= steady_end - 1e-9]
    return after or windows


def first_fault(tl: Timeline, fault_id: str | None = None) -> FaultWindow | None:
    """The fault of ``fault_id``, else the first fault under test (:func:`drill_faults`)."""
    if fault_id:
        windows = [w for w in tl.fault_windows() if w.fault_id == fault_id]
    else:
        windows = drill_faults(tl)
    return windows[0] if windows else None


def observed_until(tl: Timeline, w: FaultWindow) -> float:
    """End of the observed window: the end of the first recover phase that ends after the injection,
    else the end of the timeline."""
    end = tl.end
    ends = [e if e is not None else end for name, _s, e in tl.phases()
            if name == "recover" and (e is None or e > w.start)]
    return min(ends) if ends else end


@dataclass(frozen=True)
class UserRecovery:
    """One user's fate in the window. ``back`` is an absolute timeline time (None: not hit or not back)."""

    client: str
    requests: int
    failures: int
    back: float | None
    failed_on: tuple[str, ...] = ()      # nodes named on the user's failed requests (when known)
    served_before: str | None = None     # node that last served the user before the fault
    outage_from: float | None = None     # answer time of the first failure of the user's last outage

    @property
    def hit(self) -> bool:
        return self.failures > 0


def users_recovery(tl: Timeline, population: str, w: FaultWindow, *, consecutive: int = CONSECUTIVE,
                   until: float | None = None) -> list[UserRecovery]:
    """Every user of ``population`` on the timeline (sorted by name), with hit/back as defined above."""
    until = observed_until(tl, w) if until is None else until
    probes = tl.probes(population)
    in_window: dict[str, list[dict[str, Any]]] = {}
    served_before: dict[str, str] = {}
    for r in probes:
        if t_end(r) >= w.start:
            if r["t"] < until:
                in_window.setdefault(r["client"], []).append(r)
        elif r.get("node") and r["ok"]:
            served_before[r["client"]] = r["node"]
    out = []
    for client in sorted({r["client"] for r in probes}):
        rs = in_window.get(client, [])
        failed = [i for i, r in enumerate(rs) if not r["ok"]]
        back = outage_from = None
        if failed:
            after = rs[failed[-1] + 1:]          # all successes: the last failure is behind them
            if len(after) >= consecutive:
                back = t_end(after[0])
            first = len(failed) - 1              # back to the first failure the user was not back from
            while first > 0 and failed[first] - failed[first - 1] - 1 < consecutive:
                first -= 1
            outage_from = t_end(rs[failed[first]])
        out.append(UserRecovery(client, len(rs), len(failed), back,
                                tuple(sorted({rs[i]["node"] for i in failed if rs[i].get("node")})),
                                served_before.get(client), outage_from))
    return out


def _ratio(probes: list[dict[str, Any]]) -> float | None:
    return sum(1 for r in probes if r["ok"]) / len(probes) if probes else None


def steady_vs_after_heal(tl: Timeline, population: str, w: FaultWindow, until: float, *,
                         min_requests: int = MIN_REQUESTS,
                         heals: list[FaultWindow] | None = None) -> dict[str, Any]:
    """Availability of ``population`` before the fault ``w`` (answered before its injection) and from
    the moment the heal made the stack whole (`FaultWindow.whole_again`: the healed nodes healthy) to
    ``until`` (sent in that span). With ``heals`` (the faults of the drill from ``w`` on), the stack is
    whole once the last of them is: a primary killed while a partition holds is still failing over
    when the partition heals, and what fails then is the outage, not a service left worse. Either
    ratio is None with a ``why`` when unmeasured; ``since`` is where the second window began,
    ``since_from`` what that moment is (healthy | done | heal), ``healed_by`` the fault whose heal
    it was."""
    probes = tl.probes(population)
    steady = [r for r in probes if t_end(r) < w.start]
    heals = [f for f in (heals or [w]) if f.start < until] or [w]
    open_ = [f for f in heals if f.end is None]
    last = max(heals, key=lambda f: f.whole_again or 0.0)
    since = None if open_ else last.whole_again
    after = [r for r in probes if since is not None and since <= r["t"] < until]
    out: dict[str, Any] = {"steady": None, "steady_requests": len(steady), "after_heal": None,
                           "after_heal_requests": len(after), "why": None, "since": since,
                           "since_from": None if since is None else
                           "healthy" if last.healthy is not None else "done" if last.heal_done is not None
                           else "heal",
                           "healed_by": None if since is None else last.fault_id,
                           "healed_by_text": None if since is None else describe_fault(last),
                           "heal_began": None if since is None else last.end}
    if open_:
        out["why"] = ("the fault was not healed before the verdict" if open_ == [w] else
                      f"{describe_fault(open_[0])} was not healed before the verdict")
    elif since >= until:
        out["why"] = "the fault healed only when the drill ended"
    elif len(steady) < min_requests:
        out["why"] = f"only {len(steady)} requests before the fault, {min_requests} needed"
    elif len(after) < min_requests:
        out["why"] = f"only {len(after)} requests from the heal to the end, {min_requests} needed"
    else:
        out["steady"], out["after_heal"] = _ratio(steady), _ratio(after)
    return out


def _from_heal(w: FaultWindow, health: dict[str, Any]) -> str:
    """Where the window after the heal began, in words: ``from the heal`` (an older timeline), or
    ``from the healed nodes' health checks passing (2.3 s after the heal began)``; when the heal
    was another fault's than ``w`` (the last of several to heal), that fault is named."""
    began = health.get("heal_began")
    began = w.end if began is None else began
    of = "" if health.get("healed_by") in (None, w.fault_id) else f" of {health['healed_by_text']}"
    if health["since_from"] == "healthy":
        return f"from the healed nodes' health checks passing ({_s(health['since'] - began)} s after the heal{of} began)"
    if health["since_from"] == "done" and health["since"] - began >= 0.005:
        return f"from the end of the heal{of} ({_s(health['since'] - began)} s after it began)"
    return f"from the heal{of}"


def _s(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 1 else f"{seconds:.1f}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def recovery_time(tl: Timeline, *, target: float, population: str, consecutive: int = CONSECUTIVE,
                  tolerance: float = TOLERANCE, fault_id: str | None = None) -> Verdict:
    """Recovery of ``population`` from the first fault (or ``fault_id``): the last user back, per the
    definitions of this module.

    Sentences: ``recovery time 9.4 s: 20 of 20 existing-sessions users hit, median 4.1 s, p95 9.2 s,
    last user back 9.4 s after kill of web/app-2 (target ≤ 5 s)``; ``not recovered: 7 of 20
    existing-sessions users still failing when the drill ended (…)``; ``no outage seen: 0 of 20
    existing-sessions users hit after kill of web/app-2 (target ≤ 5 s)``; ``degraded after
    recovery: …``.
    """
    name = "recovery time"
    tgt = f"≤ {target:g} s"

    def verdict(status: str, sentence: str, value: float | None = None, **details: Any) -> Verdict:
        return Verdict(name, status, sentence, value=value, unit="s", target=tgt, details=details,
                       kind="recovery_time")

    if consecutive < 1:
        raise ValueError(f"recovery_time: consecutive must be ≥ 1, got {consecutive!r}")
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"recovery_time: tolerance is a ratio 0..1 (0.02 = 2 points), got {tolerance!r}")
    w = first_fault(tl, fault_id)
    if w is None:
        return verdict(UNKNOWN, "recovery time unknown: no fault on the timeline")
    fault = describe_fault(w)
    until = observed_until(tl, w)
    users = users_recovery(tl, population, w, consecutive=consecutive, until=until)
    total = len(users)
    seen = sum(u.requests for u in users)
    base = dict(population=population, fault_start=w.start, fault_end=w.end, window_end=until,
                consecutive=consecutive, users=total, requests=seen)
    if not seen:
        return verdict(UNKNOWN, f"recovery time unknown: no {population} request after {fault}", **base)
    hit = [u for u in users if u.hit]
    if not hit:
        return verdict(PASS, f"no outage seen: 0 of {total} {population} users hit after {fault} "
                             f"(target {tgt})", outage=False, hit=0, back=0, **base)
    faults = [w] if fault_id else sorted((f for f in drill_faults(tl) if f.start >= w.start - 1e-9),
                                         key=lambda f: f.start) or [w]

    def origin(u: UserRecovery) -> FaultWindow:
        """The fault that began the user's outage: the last injected before its first failure."""
        began = [f for f in faults if u.outage_from is not None and f.start <= u.outage_from + 1e-9]
        return began[-1] if began else w

    back = sorted(u.back - origin(u).start for u in hit if u.back is not None)
    not_back = [u for u in hit if u.back is None]
    by_node = Counter(u.served_before or "unknown" for u in hit)
    detail = dict(base, outage=True, hit=len(hit), back=len(back), not_back=len(not_back),
                  hit_by_node=dict(sorted(by_node.items())),
                  per_user={u.client: {"back_s": None if u.back is None else round(u.back - origin(u).start, 3),
                                       "failures": u.failures, "failed_on": list(u.failed_on),
                                       "served_before": u.served_before,
                                       "from_fault": origin(u).fault_id} for u in hit})
    if not_back:
        still = ", ".join(u.client for u in not_back[:5]) + (", …" if len(not_back) > 5 else "")
        return verdict(FAIL, f"not recovered: {len(not_back)} of {total} {population} users still failing "
                             f"when the drill ended ({len(hit)} hit by {fault}, {len(back)} back; "
                             f"still failing: {still}; target {tgt})",
                       still_failing=[u.client for u in not_back], **detail)
    last = back[-1]
    median, p95 = percentile(back, 0.5), percentile(back, 0.95)
    last_user = max(hit, key=lambda u: u.back - origin(u).start)
    value = round(last, 3)
    sentence = (f"recovery time {_s(last)} s: {len(hit)} of {total} {population} users hit, "
                f"median {_s(median)} s, p95 {_s(p95)} s, last user back {_s(last)} s after "
                f"{describe_fault(origin(last_user))} (target {tgt})")
    status = PASS if last <= target else FAIL
    health = steady_vs_after_heal(tl, population, w, until, heals=faults)
    detail.update(median_s=round(median, 3), p95_s=round(p95, 3), last_user=last_user.client,
                  last_back_at=last_user.back, tolerance=tolerance,
                  steady_availability=health["steady"], after_heal_availability=health["after_heal"],
                  steady_requests=health["steady_requests"],
                  after_heal_requests=health["after_heal_requests"], after_heal_since=health["since"],
                  after_heal_since_from=health["since_from"], after_heal_healed_by=health["healed_by"],
                  degraded=None)
    if health["after_heal"] is None:
        sentence += f"; availability after the heal unmeasured ({health['why']})"
    elif health["after_heal"] < health["steady"] - tolerance - 1e-12:
        detail["degraded"] = True
        degraded = (f"degraded after recovery: {population} {_pct(health['after_heal'])} of "
                    f"{health['after_heal_requests']} requests succeeded {_from_heal(w, health)} to the end, "
                    f"against {_pct(health['steady'])} of {health['steady_requests']} before {fault} "
                    f"(tolerance {tolerance * 100:g} points)")
        # the target missed leads; a recovery in time that left the service worse leads with that
        sentence = f"{sentence}; {degraded}" if status == FAIL else f"{degraded}; {sentence}"
        return verdict(FAIL, sentence, value, **detail)
    else:
        detail["degraded"] = False
    return verdict(status, sentence, value, **detail)

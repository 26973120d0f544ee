"""Availability and latency per population (and per phase): never one figure for everybody."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN, Verdict, judges

__all__ = ["availability", "percentile"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


@judges("availability")
def availability(tl: Timeline, *, population: str, minimum: float | None = None,
                 since: float | None = None, until: float | None = None, label: str = "") -> Verdict:
    probes = tl.probes(population, since=since, until=until)
    name = f"availability {population}{f' ({label})' if label else ''}"
    if not probes:
        return Verdict(name, UNKNOWN, f"{population}: no requests observed{f' ({label})' if label else ''}")
    ok = sum(1 for r in probes if r["ok"])
    ratio = ok / len(probes)
    lat = [r["latency"] for r in probes if r["ok"]]
    p95 = percentile(lat, 0.95) if lat else None       # no request answered: no latency, not NaN
    status = PASS if minimum is None or ratio >= minimum else FAIL
    target = f"≥ {minimum:.1%}" if minimum is not None else None
    return Verdict(name, status,
                   f"{population}: {ratio:.1%} of {len(probes)} requests succeeded"
                   f"{f' ({label})' if label else ''}, "
                   + (f"p95 latency {p95 * 1000:.0f} ms" if p95 is not None else "none answered")
                   + (f" (target {target})" if target else ""),
                   value=round(ratio, 4), unit="ratio", target=target,
                   details={"requests": len(probes), "ok": ok,
                            "p95_ms": None if p95 is None else round(p95 * 1000, 1)})

"""The named phases of a load shape: what each verdict judges apart (before / spike / after, step 3, ...).

A phase is a span of the shape's own time (seconds from the load's start) with its nominal level
(arrivals per second) and its factor over the base rate. Phases are what ``throughput``,
``load_p95``, ``shed`` and ``queue_time`` report one figure for.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.traffic.shapes import Constant, MondayBurst, Ramp, Shape, Spike, Steps, Surge, _Scaled

__all__ = ["Phase", "phases_of", "RAMP_PARTS"]

RAMP_PARTS = 5          # a continuous ramp is judged in this many equal parts


@dataclass(frozen=True)
class Phase:
    name: str
    start: float         # seconds from the load's start
    end: float
    rate: float          # nominal arrivals/s (the shape's level in the middle of the phase)
    factor: float        # rate over the base rate (1.0 = today's load)

    def as_dict(self, offset: float = 0.0) -> dict:
        return {"name": self.name, "start": round(self.start + offset, 6), "end": round(self.end + offset, 6),
                "rate": round(self.rate, 4), "factor": round(self.factor, 4)}


def _mid(shape: Shape, a: float, b: float) -> float:
    return shape.tick((a + b) / 2) or 0.0


def _spans(shape: Shape) -> list[tuple[str, float, float]]:
    d = shape.duration
    if isinstance(shape, _Scaled):
        return _spans(shape.inner)
    if isinstance(shape, Constant):
        return [("constant", 0.0, d)]
    if isinstance(shape, Spike):
        f = f"×{shape.factor:g}"
        return [("before", 0.0, shape.at), (f"spike {f}", shape.at, shape.at + shape.for_),
                ("after", shape.at + shape.for_, d)]
    if isinstance(shape, Surge):
        end = d if shape.for_ is None else shape.at + shape.for_
        return [("before", 0.0, shape.at), ("rise", shape.at, shape.at + shape.rise),
                (f"surge ×{shape.factor:g}", shape.at + shape.rise, end), ("after", end, d)]
    if isinstance(shape, MondayBurst):
        burst_end = shape.at + 3 * shape.half_life     # the excess is down to 1/8 by then
        return [("before", 0.0, shape.at), (f"burst ×{shape.factor:g}", shape.at, burst_end), ("after", burst_end, d)]
    if isinstance(shape, Steps):
        return [(f"step {k + 1}", k * shape.every, (k + 1) * shape.every) for k in range(shape.count)]
    if isinstance(shape, Ramp):
        n = shape.steps or RAMP_PARTS
        return [(f"ramp {k + 1}/{n}", d * k / n, d * (k + 1) / n) for k in range(n)]
    return [("load", 0.0, d)]


def phases_of(shape: Shape, base: float | None = None) -> list[Phase]:
    """The shape's phases, empty ones left out, each with its nominal rate and its factor over ``base``
    (default: the level at t = 0, today's load)."""
    if base is None:
        base = shape.tick(0.0) or 0.0
    out = []
    for name, a, b in _spans(shape):
        b = min(b, shape.duration)
        if b - a <= 1e-9:
            continue
        rate = _mid(shape, a, b)
        out.append(Phase(name, a, b, rate, rate / base if base else 0.0))
    return out

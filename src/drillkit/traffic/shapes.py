"""Load shapes (locust-style).

A shape answers one question: at ``t`` seconds into the load, what level should it run at?
``shape.tick(t)`` returns a number — arrivals per second for the open-loop generator
(:class:`drillkit.load.OpenLoop`, the one generator drillkit has), or a user count for a closed-loop
driver — or ``None`` when the load is over. Shapes are pure (no clock, no threads, no randomness):
unit-testable and reproducible.

=================  =========================================================================
``Constant``       ``value`` for ``duration`` seconds
``Spike``          ``base``, then ``base x factor`` (default 4: the overload of SCENARIOS.md, incident 3) from
                   ``at`` for ``for_`` seconds, then ``base`` again
``Ramp``           linear from ``start`` to ``end`` over ``duration`` (optionally in ``steps``)
``Steps``          ``start``, ``start + step``, ... every ``every`` seconds, up to ``maximum``
                   (the saturation search of the capacity benchmark)
``MondayBurst``    quiet before opening (``before`` x base), at opening (``at``) a jump to
                   ``base x factor`` that decays back to ``base`` with half-life ``half_life``
``Surge``          ``base`` until ``at``, then a rise within ``rise`` seconds to ``base x factor``
                   (default 20: the surge of SCENARIOS.md, incident 6), held for ``for_`` (default: to the end)
=================  =========================================================================

What a load does with a shape — arrivals open loop, each one iteration of a user kind of the
stack contract, every request a timeline record — is :mod:`drillkit.load.generator`'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Shape", "Constant", "Spike", "Ramp", "Steps", "MondayBurst", "Surge", "scaled", "percentile",
           "per_second", "QUARTER_OPENING_HOURS"]

# Opening hours of one quarter of a citizen office (SCENARIOS.md, incident 3): 13 weeks x (4 x 8 h + 10 h).
QUARTER_OPENING_HOURS = 13 * (4 * 8 + 10)


def per_second(per_quarter: float, *, drill_seconds_per_quarter: float) -> float:
    """A quarterly volume as a rate in drill time, when one quarter is compressed into
    ``drill_seconds_per_quarter`` seconds of drill (e.g. 25,000 bookings, 3600 s → 6.9/s)."""
    if drill_seconds_per_quarter <= 0:
        raise ValueError("drill_seconds_per_quarter must be positive")
    return per_quarter / drill_seconds_per_quarter


def _positive(name: str, value: float, allow_zero: bool = True) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'≥' if allow_zero else '>'} 0, got {value}")
    return float(value)


class Shape:
    """Base: ``tick(t)`` → level at ``t`` (≥ 0), or ``None`` once ``t ≥ duration``."""

    duration: float

    def level(self, t: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def tick(self, t: float) -> float | None:
        if t < 0:
            t = 0.0
        if t >= self.duration:
            return None
        return max(0.0, float(self.level(t)))

    @property
    def peak(self) -> float:
        """Highest level over the shape (sampled every 10 ms; exact for the piecewise shapes)."""
        n = max(1, int(self.duration * 100))
        return max(self.tick(i * self.duration / n) or 0.0 for i in range(n))

    def expected(self, dt: float = 0.01) -> float:
        """Integral of the level over the duration: the number of arrivals the shape asks for."""
        n = max(1, int(math.ceil(self.duration / dt)))
        step = self.duration / n
        return sum((self.tick((i + 0.5) * step) or 0.0) * step for i in range(n))


@dataclass(frozen=True)
class Constant(Shape):
    value: float
    duration: float

    def __post_init__(self):
        _positive("value", self.value)
        _positive("duration", self.duration, allow_zero=False)

    def level(self, t: float) -> float:
        return self.value


@dataclass(frozen=True)
class Spike(Shape):
    base: float
    duration: float
    at: float
    for_: float
    factor: float = 4.0

    def __post_init__(self):
        for n in ("base", "at", "factor"):
            _positive(n, getattr(self, n))
        _positive("duration", self.duration, allow_zero=False)
        _positive("for_", self.for_, allow_zero=False)

    def level(self, t: float) -> float:
        return self.base * self.factor if self.at <= t < self.at + self.for_ else self.base


@dataclass(frozen=True)
class Ramp(Shape):
    start: float
    end: float
    duration: float
    steps: int | None = None   # None: continuous; n: n flat steps from start to end

    def __post_init__(self):
        _positive("start", self.start)
        _positive("end", self.end)
        _positive("duration", self.duration, allow_zero=False)
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps must be a whole number ≥ 1, got {self.steps!r}")

    def level(self, t: float) -> float:
        frac = t / self.duration
        if self.steps:
            if self.steps == 1:
                return self.start
            frac = min(self.steps - 1, int(frac * self.steps)) / (self.steps - 1)
        return self.start + (self.end - self.start) * frac


@dataclass(frozen=True)
class Steps(Shape):
    start: float
    step: float
    every: float
    maximum: float

    def __post_init__(self):
        _positive("start", self.start)
        _positive("step", self.step, allow_zero=False)
        _positive("every", self.every, allow_zero=False)
        _positive("maximum", self.maximum)
        if self.maximum < self.start:
            raise ValueError(f"maximum {self.maximum} is below start {self.start}")

    @property
    def count(self) -> int:
        return int(math.floor((self.maximum - self.start) / self.step + 1e-9)) + 1

    @property
    def duration(self) -> float:  # type: ignore[override]
        return self.count * self.every

    def index(self, t: float) -> int:
        return min(self.count - 1, int(t // self.every))

    def level(self, t: float) -> float:
        return self.start + self.index(t) * self.step


@dataclass(frozen=True)
class MondayBurst(Shape):
    """Monday 08:00: everybody who waited over the weekend books at once."""

    base: float
    duration: float
    at: float = 0.0              # opening time, seconds into the load
    factor: float = 5.0          # peak = base x factor right at opening
    half_life: float = 2.0       # seconds for the excess over base to halve
    before: float = 0.0          # level before opening, as a fraction of base

    def __post_init__(self):
        for n in ("base", "at", "factor", "before"):
            _positive(n, getattr(self, n))
        _positive("duration", self.duration, allow_zero=False)
        _positive("half_life", self.half_life, allow_zero=False)

    def level(self, t: float) -> float:
        if t < self.at:
            return self.base * self.before
        excess = self.base * (self.factor - 1) * 0.5 ** ((t - self.at) / self.half_life)
        return self.base + excess


@dataclass(frozen=True)
class Surge(Shape):
    """An unannounced campaign: the load goes up by ``factor`` within ``rise`` seconds and stays."""

    base: float
    duration: float
    at: float
    factor: float = 20.0
    rise: float = 1.0
    for_: float | None = None    # None: until the end

    def __post_init__(self):
        for n in ("base", "at", "factor", "rise"):
            _positive(n, getattr(self, n))
        _positive("duration", self.duration, allow_zero=False)
        if self.for_ is not None:
            _positive("for_", self.for_, allow_zero=False)

    def level(self, t: float) -> float:
        if t < self.at or (self.for_ is not None and t >= self.at + self.for_):
            return self.base
        peak = self.base * self.factor
        if self.rise and t < self.at + self.rise:
            return self.base + (peak - self.base) * (t - self.at) / self.rise
        return peak


@dataclass(frozen=True)
class _Scaled(Shape):
    inner: Shape
    k: float

    @property
    def duration(self) -> float:  # type: ignore[override]
        return self.inner.duration

    def level(self, t: float) -> float:
        v = self.inner.tick(t)
        return 0.0 if v is None else v * self.k


def scaled(shape: Shape, k: float) -> Shape:
    """The same shape with every level multiplied by ``k`` (e.g. rates → user counts)."""
    _positive("k", k)
    return _Scaled(shape, float(k))


# --- figures ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]

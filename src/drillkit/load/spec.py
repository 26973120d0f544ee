"""Load as data: the ``load:`` section of a scenario (and the dict ``drill.load(...)`` takes).

```yaml
load:
  shape: spike            # constant | spike | ramp | steps | surge | burst
  rate: 10/s              # today's load: arrivals per second (one arrival = one iteration of a kind)
  factor: 4               # spike/surge/burst: the peak is rate x factor; ramp/steps: where they end
  at: 10s                 # spike/surge/burst: when it begins
  for: 20s                # spike/surge: how long it lasts; burst: how long the burst phase is judged
  duration: 40s           # the whole load
  actions: {citizens: 1}  # user kinds / clients of the environment, by name, with weights
```

Everything is checked when the scenario is loaded; a bad value is one ``ConfigError`` line naming
file:line, the field and the fix. :func:`parse_load` takes the scenario validator's helpers (or
:class:`PlainChecker` for Python callers).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from drillkit.errors import ConfigError
from drillkit.load.search import DEFAULT_FACTORS, SearchSpec
from drillkit.traffic.shapes import Constant, MondayBurst, Ramp, Shape, Spike, Steps, Surge
from drillkit.yamlsrc import DurationError, parse_duration

__all__ = ["LoadSpec", "SHAPES", "LOAD_KEYS", "SEARCH_KEYS", "parse_load", "parse_search", "parse_rate", "PlainChecker", "MAX_CONCURRENCY",
           "MAX_ARRIVALS", "MAX_LOAD_SECONDS"]

MAX_CONCURRENCY = 500          # arrivals in flight at once (the client pool's bound)
MAX_ARRIVALS = 200_000         # arrivals of one load
MAX_LOAD_SECONDS = 900.0       # the longest load

# shape -> (required keys, optional keys)
SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "constant": (("rate", "duration"), ()),
    "spike": (("rate", "at", "for", "duration"), ("factor",)),
    "surge": (("rate", "at", "duration"), ("factor", "rise", "for")),
    "burst": (("rate", "duration"), ("factor", "at", "for", "half_life", "before")),
    "ramp": (("rate", "factor", "duration"), ("steps",)),
    "steps": (("rate", "factor", "step", "every"), ()),
}
LOAD_KEYS = {"shape", "rate", "factor", "at", "for", "duration", "rise", "half_life", "before", "steps", "step",
             "every", "actions", "population", "concurrency", "timeout", "max_arrivals", "arrivals", "seed",
             "label"}
DEFAULT_FACTOR = {"spike": 4.0, "surge": 20.0, "burst": 5.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|m|min|h))?\s*$")


def parse_rate(value: Any) -> float:
    """``10``, ``"10/s"``, ``"600/m"``, ``"36000/h"`` -> arrivals per second (ValueError when not)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a rate: {value!r}")
    if isinstance(value, (int, float)):
        rate = float(value)
    elif isinstance(value, str) and (m := _RATE.match(value)):
        rate = float(m.group(1)) / {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
    else:
        raise ValueError(f"not a rate: {value!r}")
    if math.isnan(rate) or math.isinf(rate) or rate <= 0:
        raise ValueError(f"a rate must be above 0, not {value!r}")
    return rate


@dataclass(frozen=True)
class LoadSpec:
    """A validated load: the shape, the actions by name with weights, and its bounds."""

    shape: Shape
    shape_name: str
    base: float                                     # today's load, arrivals/s
    actions: tuple[tuple[Any, float], ...]          # (kind name or kind object, weight)
    population: str = "load"
    concurrency: int = 100
    timeout: float = 2.0
    max_arrivals: int = 50_000
    arrivals: str = "uniform"                       # uniform | poisson
    seed: int = 0
    label: str = "load"
    line: int | None = None
    params: dict[str, Any] = field(default_factory=dict)   # the shape's parameters as given

    @property
    def duration(self) -> float:
        return self.shape.duration

    def describe(self) -> str:
        p = self.params
        bits = [f"{self.shape_name} from {self.base:g}/s"]
        if "factor" in p:
            bits.append(f"×{p['factor']:g}")
        if "at" in p:
            bits.append(f"at {p['at']:g} s")
        if "for" in p:
            bits.append(f"for {p['for']:g} s")
        return " ".join(bits) + f", {self.duration:g} s"


class PlainChecker:
    """The checker protocol for Python callers: the same one-line errors, without file:line."""

    def __init__(self, where: str = "drill.load"):
        self.where = where

    def err(self, message: str, container: Any = None, key: Any = None, *, field: str, fix: str | None = None,
            line: int | None = None) -> ConfigError:
        return ConfigError(message, field=field, fix=fix)

    def mapping(self, value, parent, key, field, allowed=None, example="key: value") -> dict:
        if not isinstance(value, dict):
            raise self.err(f"must be a mapping, not {type(value).__name__}", field=field, fix=f"write {example}")
        for k in value:
            if allowed is not None and k not in allowed:
                raise self.err(f"unknown key {k!r}", field=f"{field}.{k}", fix=f"use {', '.join(sorted(allowed))}")
        return value

    def duration(self, value, parent, key, field) -> float:
        try:
            return parse_duration(value)
        except DurationError as exc:
            raise self.err(str(exc), field=field, fix="write e.g. 500ms, 3s, 1m or a number of seconds") from None

    def integer(self, value, parent, key, field, lo, hi) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.err(f"must be a whole number {lo}..{hi}, not {value!r}", field=field,
                           fix=f"give a whole number between {lo} and {hi}")
        return value

    def ratio(self, value, parent, key, field) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise self.err(f"must be a ratio 0..1, not {value!r}", field=field, fix="write e.g. 0.99 for 99 %")
        return float(value)


def _number(chk, value: Any, m: dict, k: str, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise chk.err(f"must be a number {lo:g}..{hi:g}, not {value!r}", m, k, field=where,
                      fix=f"give a number between {lo:g} and {hi:g}")
    return float(value)


def parse_actions(chk, raw: Any, m: dict, where: str, known: Callable[[str], bool] | None,
                  have: list[str]) -> tuple[tuple[Any, float], ...]:
    """``citizens`` | ``[citizens, readers]`` | ``{citizens: 3, readers: 1}`` -> ((name, weight), ...)."""
    if isinstance(raw, str):
        items = {raw: 1}
    elif isinstance(raw, list) and raw:
        items = {}
        for v in raw:
            if not isinstance(v, str):
                raise chk.err(f"an action is a kind's name, not {v!r}", m, "actions", field=where,
                              fix="write actions: [citizens] or {citizens: 3, readers: 1}")
            items[v] = 1
    elif isinstance(raw, dict) and raw:
        items = dict(raw)
    else:
        raise chk.err(f"must name at least one user kind or client, not {raw!r}", m, "actions", field=where,
                      fix=f"write actions: {have[0] if have else 'citizens'} (have: {', '.join(have) or 'none'})")
    out = []
    for name, weight in items.items():
        if known is not None and not known(str(name)):
            raise chk.err(f"no user kind or client {name!r} in this environment", raw if isinstance(raw, dict) else m,
                          name if isinstance(raw, dict) else "actions", field=f"{where}.{name}",
                          fix=f"use one of {', '.join(have) or '(none: declare x-drillkit.users)'}")
        w = _number(chk, weight, raw if isinstance(raw, dict) else m, name if isinstance(raw, dict) else "actions",
                    f"{where}.{name}", 0.001, 1e6)
        out.append((str(name), w))
    return tuple(out)


def parse_load(raw: Any, parent: Any, key: Any, chk: Any = None, *, where: str = "load",
               known: Callable[[str], bool] | None = None, have: list[str] = (), line: int | None = None,
               actions_required: bool = True) -> LoadSpec:
    """Check and build a :class:`LoadSpec` (``known(name)``: is it a kind of the environment)."""
    chk = chk or PlainChecker(where)
    example = "{shape: spike, rate: 10/s, factor: 4, at: 10s, for: 20s, duration: 40s, actions: [visitors]}"
    m = chk.mapping(raw, parent, key, where, LOAD_KEYS, example)
    shape_name = m.get("shape", "constant")
    if shape_name not in SHAPES:
        raise chk.err(f"unknown shape {shape_name!r}", m, "shape", field=f"{where}.shape",
                      fix=f"use one of {', '.join(SHAPES)}")
    required, optional = SHAPES[shape_name]
    for k in required:
        if k not in m:
            raise chk.err(f"a {shape_name} needs `{k}`", parent, key, field=f"{where}.{k}",
                          fix=f"add {k}: ... (a {shape_name} takes {', '.join(required + optional)})")
    shape_keys = {"rate", "factor", "at", "for", "duration", "rise", "half_life", "before", "steps", "step", "every"}
    for k in m:
        if k in shape_keys and k not in required + optional:
            raise chk.err(f"a {shape_name} has no `{k}`", m, k, field=f"{where}.{k}",
                          fix=f"drop {k} (a {shape_name} takes {', '.join(required + optional)})")
    try:
        base = parse_rate(m["rate"])
    except ValueError as exc:
        raise chk.err(str(exc), m, "rate", field=f"{where}.rate", fix="write e.g. rate: 10/s (arrivals per second)") from None
    if base > 10_000:
        raise chk.err(f"rate {base:g}/s is above 10000/s", m, "rate", field=f"{where}.rate", fix="lower the rate")
    p: dict[str, float] = {}
    for k in ("at", "for", "duration", "rise", "half_life", "every"):
        if k in m:
            p[k] = chk.duration(m[k], m, k, f"{where}.{k}")
    if "factor" in m:
        p["factor"] = _number(chk, m["factor"], m, "factor", f"{where}.factor", 0.01, 1000)
    elif shape_name in DEFAULT_FACTOR:
        p["factor"] = DEFAULT_FACTOR[shape_name]
    if "step" in m:
        p["step"] = _number(chk, m["step"], m, "step", f"{where}.step", 0.001, 1000)
    if "before" in m:
        p["before"] = chk.ratio(m["before"], m, "before", f"{where}.before")
    steps = chk.integer(m["steps"], m, "steps", f"{where}.steps", 1, 100) if "steps" in m else None
    for k in ("for", "duration", "every", "half_life"):
        if k in p and p[k] <= 0:
            raise chk.err(f"must be longer than 0 s", m, k, field=f"{where}.{k}", fix=f"e.g. {k}: 10s")
    try:
        shape = _shape(shape_name, base, p, steps)
    except ValueError as exc:
        raise chk.err(f"not a {shape_name}: {exc}", m, "shape", field=where, fix=example) from None
    if shape.duration > MAX_LOAD_SECONDS:
        raise chk.err(f"the load lasts {shape.duration:g} s, longer than {MAX_LOAD_SECONDS:g} s", m,
                      "duration" if "duration" in m else "every", field=f"{where}.duration",
                      fix="shorten it (loads are bounded in time)")
    for k in ("at",):
        if k in p and p[k] >= shape.duration:
            raise chk.err(f"{k} {p[k]:g} s is not before the end of the load ({shape.duration:g} s)", m, k,
                          field=f"{where}.{k}", fix=f"raise duration above {p[k]:g}s or move {k}")
    if "actions" in m:
        actions = parse_actions(chk, m["actions"], m, f"{where}.actions", known, list(have))
    elif actions_required:
        raise chk.err("missing `actions`: what each arrival does", parent, key, field=f"{where}.actions",
                      fix=f"add actions: [{have[0] if have else 'a user kind of x-drillkit.users'}]")
    else:
        actions = ()
    population = m.get("population", "load")
    if not isinstance(population, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", population):
        raise chk.err(f"population must be a name, not {population!r}", m, "population",
                      field=f"{where}.population", fix="e.g. population: load")
    label = m.get("label", population)
    if not isinstance(label, str) or not label.strip():
        raise chk.err("label must be text", m, "label", field=f"{where}.label", fix="e.g. label: x4")
    concurrency = chk.integer(m.get("concurrency", 100), m, "concurrency", f"{where}.concurrency", 1, MAX_CONCURRENCY)
    timeout = chk.duration(m.get("timeout", 2.0), m, "timeout", f"{where}.timeout")
    if not 0.05 <= timeout <= 120:
        raise chk.err(f"timeout {timeout:g} s is not 0.05..120 s", m, "timeout", field=f"{where}.timeout",
                      fix="e.g. timeout: 2s")
    max_arrivals = chk.integer(m.get("max_arrivals", 50_000), m, "max_arrivals", f"{where}.max_arrivals", 1,
                               MAX_ARRIVALS)
    arrivals = m.get("arrivals", "uniform")
    if arrivals not in ("uniform", "poisson"):
        raise chk.err(f"arrivals {arrivals!r} is not uniform or poisson", m, "arrivals", field=f"{where}.arrivals",
                      fix="uniform (evenly spaced) or poisson (random, the same mean rate)")
    seed = chk.integer(m.get("seed", 0), m, "seed", f"{where}.seed", 0, 2**31)
    expected = shape.expected()
    if expected > max_arrivals:
        raise chk.err(f"the shape asks for about {expected:.0f} arrivals, more than max_arrivals {max_arrivals}",
                      m, "max_arrivals" if "max_arrivals" in m else "rate", field=f"{where}.max_arrivals",
                      fix=f"lower the rate or the duration, or raise max_arrivals (≤ {MAX_ARRIVALS})")
    params = dict(p)
    return LoadSpec(shape=shape, shape_name=shape_name, base=base, actions=actions, population=population,
                    concurrency=concurrency, timeout=timeout, max_arrivals=max_arrivals, arrivals=arrivals,
                    seed=seed, label=label.strip(), line=line, params=params)


def _shape(name: str, base: float, p: dict[str, float], steps: int | None) -> Shape:
    if name == "constant":
        return Constant(base, p["duration"])
    if name == "spike":
        return Spike(base, p["duration"], p["at"], p["for"], p["factor"])
    if name == "surge":
        return Surge(base, p["duration"], p["at"], p["factor"], p.get("rise", 1.0), p.get("for"))
    if name == "burst":
        half = p.get("half_life", p["for"] / 3 if "for" in p else 2.0)
        return MondayBurst(base, p["duration"], p.get("at", 0.0), p["factor"], half, p.get("before", 0.0))
    if name == "ramp":
        return Ramp(base, base * p["factor"], p["duration"], steps)
    if name == "steps":
        if p["factor"] < 1:
            raise ValueError("steps go up: factor (where they end) must be ≥ 1")
        return Steps(base, base * p["step"], p["every"], base * p["factor"])
    raise ValueError(name)  # pragma: no cover - SHAPES is checked first


SEARCH_KEYS = {"rate", "actions", "slo", "factors", "hold", "warmup", "settle", "refine", "max_steps", "max_duration",
               "forecast", "population", "concurrency", "timeout", "seed"}


def parse_search(raw: Any, parent: Any, key: Any, chk: Any = None, *, where: str = "search",
                 known: Callable[[str], bool] | None = None, have: list[str] = (), line: int | None = None):
    """Check and build a :class:`drillkit.load.search.SearchSpec` from a scenario's ``search:``."""
    chk = chk or PlainChecker(where)
    example = "{rate: 10/s, actions: [visitors], slo: {p95: 1s, served: 0.99}, forecast: 4}"
    m = chk.mapping(raw, parent, key, where, SEARCH_KEYS, example)
    for k in ("rate", "actions", "slo"):
        if k not in m:
            raise chk.err(f"missing `{k}`", parent, key, field=f"{where}.{k}", fix=f"write search: {example}")
    try:
        base = parse_rate(m["rate"])
    except ValueError as exc:
        raise chk.err(str(exc), m, "rate", field=f"{where}.rate", fix="write e.g. rate: 10/s (today's load)") from None
    actions = parse_actions(chk, m["actions"], m, f"{where}.actions", known, list(have))
    slo = chk.mapping(m["slo"], m, "slo", f"{where}.slo", {"p95", "served"}, "{p95: 1s, served: 0.99}")
    p95 = chk.duration(slo["p95"], slo, "p95", f"{where}.slo.p95") if "p95" in slo else None
    served = chk.ratio(slo.get("served", 0.99), slo, "served", f"{where}.slo.served")
    factors = DEFAULT_FACTORS
    if "factors" in m:
        fs = m["factors"]
        if not isinstance(fs, list) or not fs:
            raise chk.err("must be a list of multiples of today's load", m, "factors", field=f"{where}.factors",
                          fix="write e.g. factors: [1, 2, 3, 4, 6, 8]")
        factors = tuple(_number(chk, f, m, "factors", f"{where}.factors", 0.01, 1000) for f in fs)
        if list(factors) != sorted(set(factors)):
            raise chk.err("factors must rise, each once", m, "factors", field=f"{where}.factors",
                          fix="write them in rising order, e.g. [1, 2, 3, 4]")
    hold = chk.duration(m.get("hold", 10.0), m, "hold", f"{where}.hold")
    if not 1 <= hold <= 300:
        raise chk.err(f"hold {hold:g} s is not 1..300 s", m, "hold", field=f"{where}.hold", fix="e.g. hold: 10s")
    max_duration = chk.duration(m.get("max_duration", 600.0), m, "max_duration", f"{where}.max_duration")
    if not hold <= max_duration <= MAX_LOAD_SECONDS:
        raise chk.err(f"max_duration {max_duration:g} s is not {hold:g}..{MAX_LOAD_SECONDS:g} s", m, "max_duration",
                      field=f"{where}.max_duration", fix="e.g. max_duration: 5m")
    forecast = _number(chk, m["forecast"], m, "forecast", f"{where}.forecast", 0.01, 1000) if "forecast" in m else None
    timeout = chk.duration(m.get("timeout", 2.0), m, "timeout", f"{where}.timeout")
    if not 0.05 <= timeout <= 120:
        raise chk.err(f"timeout {timeout:g} s is not 0.05..120 s", m, "timeout", field=f"{where}.timeout",
                      fix="e.g. timeout: 2s")
    if base * max(factors) * hold > MAX_ARRIVALS:
        raise chk.err(f"the largest step asks for {base * max(factors) * hold:.0f} arrivals, more than {MAX_ARRIVALS}",
                      m, "factors", field=f"{where}.factors", fix="lower the rate, the factors or hold")
    population = m.get("population", "load")
    if not isinstance(population, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", population):
        raise chk.err(f"population must be a name, not {population!r}", m, "population",
                      field=f"{where}.population", fix="e.g. population: load")
    return SearchSpec(
        base=base, actions=actions, p95=p95, served=served, factors=factors, hold=hold,
        warmup=chk.ratio(m.get("warmup", 0.2), m, "warmup", f"{where}.warmup"),
        settle=chk.duration(m.get("settle", 2.0), m, "settle", f"{where}.settle"),
        refine=chk.integer(m.get("refine", 2), m, "refine", f"{where}.refine", 0, 10),
        max_steps=chk.integer(m.get("max_steps", 12), m, "max_steps", f"{where}.max_steps", 1, 30),
        max_duration=max_duration, forecast=forecast, population=population,
        concurrency=chk.integer(m.get("concurrency", 200), m, "concurrency", f"{where}.concurrency", 1,
                                MAX_CONCURRENCY),
        timeout=timeout, seed=chk.integer(m.get("seed", 0), m, "seed", f"{where}.seed", 0, 2**31), line=line)

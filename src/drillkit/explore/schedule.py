"""A schedule: the value a trial runs — faults (kind, target, at, for, attributes, heal) and, when the
vocabulary varies them, the number of users per kind. It has one canonical text (the same schedule
always reads the same, whatever order it was drawn in), a size, and its scenario: the user's base
(environment, users, expect, ...) with these ``faults:`` and an ``observe:`` long enough for every
heal, which ``drill run`` reproduces.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from drillkit.errors import ConfigError
from drillkit.explore.durations import format_duration, parse_duration
from drillkit.explore.targets import KNOWN_KINDS, NODE_KINDS, Target, freeze, thaw

__all__ = ["FaultDraw", "Schedule", "scenario_yaml", "next_found_path"]

_TARGET_KEYS = ("target", "link", "side_a", "side_b", "zone")
_TIMING_KEYS = ("kind", "at", "for", "heal")


@dataclass(frozen=True)
class FaultDraw:
    """One fault of a schedule: ``name`` is the vocabulary's kind (``hard_restart``, a change fault's
    name), ``kind`` the scenario's (``restart``); ``attrs`` frozen (see `targets.freeze`); ``at`` and
    ``duration`` in seconds from the start of the inject phase."""

    name: str
    kind: str
    target: Target | None
    at: float
    duration: float
    attrs: tuple[tuple[str, Any], ...] = ()
    heal: str | None = None

    @property
    def end(self) -> float:
        return self.at + self.duration

    @property
    def label(self) -> str:
        return f"{self.name} {self.target.label}" if self.target is not None else self.name

    def overlaps(self, other: "FaultDraw") -> bool:
        return self.at < other.end and other.at < self.end

    def text(self) -> str:
        implied = NODE_KINDS.get(self.name, (None, {}))[1]
        shown = [] if self.target is None else [f"{k}={_text(thaw(v))}" for k, v in self.attrs if implied.get(k) != v]
        heal = [f"heal={self.heal}"] if self.heal else []
        return " ".join([self.label, *shown, f"at {format_duration(self.at)} for {format_duration(self.duration)}", *heal])

    def to_fault(self) -> dict[str, Any]:
        """The scenario's fault mapping."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.target is not None:
            out.update(self.target.fields())
        out.update({k: thaw(v) for k, v in self.attrs})
        out["at"] = format_duration(self.at)
        out["for"] = format_duration(self.duration)
        if self.heal:
            out["heal"] = self.heal
        return out


def _text(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, list) else str(v)


def _sort_key(d: FaultDraw) -> tuple:
    return (d.at, d.label, d.duration, repr(d.attrs), d.heal or "")


@dataclass(frozen=True)
class Schedule:
    faults: tuple[FaultDraw, ...]
    users: tuple[tuple[str, int], ...] = ()
    text: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(sorted(self.faults, key=_sort_key)))
        object.__setattr__(self, "users", tuple(sorted(self.users)))
        parts = [d.text() for d in self.faults]
        if self.users:
            parts.append("users " + " ".join(f"{k}={n}" for k, n in self.users))
        object.__setattr__(self, "text", "; ".join(parts) or "no faults")

    def __str__(self) -> str:
        return self.text

    @property
    def size(self) -> int:
        """The number of faults."""
        return len(self.faults)

    @property
    def sort_key(self) -> tuple:
        """Smaller is simpler: fewer faults, then shorter, then earlier, then fewer users."""
        return (self.size, round(sum(d.duration for d in self.faults), 3), round(sum(d.at for d in self.faults), 3),
                sum(n for _, n in self.users), self.text)

    @property
    def last_injection(self) -> float:
        return max((d.at for d in self.faults), default=0.0)

    @property
    def end(self) -> float:
        """When the last fault heals, from the start of the inject phase."""
        return max((d.end for d in self.faults), default=0.0)

    def labels(self) -> tuple[str, ...]:
        return tuple(d.label for d in self.faults)

    # -- as a scenario --------------------------------------------------------------------------------
    def to_scenario(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The user's base scenario with this schedule as its ``faults:``; ``observe`` raised so that
        every fault heals before observe ends (the validator refuses a later heal); user counts set
        when the schedule varies them. The base's ``faults`` and ``explore`` are replaced."""
        if not isinstance(base, Mapping):
            raise ConfigError(f"the base scenario must be a mapping, not {type(base).__name__}",
                              fix="pass the scenario file's top level (environment, users, expect, ...)")
        if "search" in base:
            raise ConfigError("a breaking-point search cannot be explored", field="search",
                              fix="explore a scenario without search: (a load: is fine)")
        for i, entry in enumerate(base.get("runbook") or []):
            if isinstance(entry, Mapping) and "after" in entry:
                raise ConfigError("a runbook run after a fault of the base cannot follow generated faults",
                                  field=f"runbook[{i}].after",
                                  fix="give it at:, or make it a fault's heal (explore: heal: {role:primary: <runbook>})")
        out: dict[str, Any] = {}
        for key, value in base.items():
            if key not in ("faults", "explore"):
                out[key] = copy.deepcopy(value)
        out["faults"] = [d.to_fault() for d in self.faults]
        base_observe = 0.0
        if base.get("observe") is not None:
            try:
                base_observe = parse_duration(base["observe"])
            except ValueError as exc:
                raise ConfigError(str(exc), field="observe", fix="observe: 10s") from None
        observe = max(base_observe, round(self.end - self.last_injection, 3))
        out["observe"] = format_duration(observe)
        if self.users:
            users = out.setdefault("users", {}) or {}
            out["users"] = users
            for kind, count in self.users:
                entry = users.get(kind)
                if isinstance(entry, dict):
                    entry["count"] = count
                else:
                    users[kind] = count
        keys = [k for k in base if k not in ("faults", "explore")]
        if "faults" not in keys:   # where a reader expects it: after steady_state, else at the end
            keys.insert(keys.index("steady_state") + 1 if "steady_state" in keys else len(keys), "faults")
        for key in ("observe", "users"):
            if key not in keys:
                keys.insert(keys.index("faults") + 1, key)
        return {k: out[k] for k in keys if k in out}

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any], vocabulary: Any = None) -> "Schedule":
        """The schedule a scenario's ``faults:`` says (the inverse of `to_scenario`). With the
        vocabulary, change faults get their names back; without it, their kind is their name."""
        faults = scenario.get("faults")
        if not isinstance(faults, list):
            raise ConfigError("the scenario has no faults: list", field="faults",
                              fix="read a scenario written by drill explore")
        draws = []
        for i, f in enumerate(faults):
            if not isinstance(f, Mapping) or "kind" not in f or f.get("for") is None:
                raise ConfigError("a fault of an explored schedule has kind and for", field=f"faults[{i}]",
                                  fix="read a scenario written by drill explore")
            draws.append(_draw_from_fault(f, vocabulary))
        users: list[tuple[str, int]] = []
        if vocabulary is not None and getattr(vocabulary, "users", None):
            raw_users = scenario.get("users") or {}
            for kind in vocabulary.users:
                entry = raw_users.get(kind)
                users.append((kind, int(entry["count"] if isinstance(entry, Mapping) else entry)))
        return cls(tuple(draws), tuple(users))


def _draw_from_fault(f: Mapping[str, Any], vocabulary: Any) -> FaultDraw:
    kind = str(f["kind"])
    at, duration = parse_duration(f.get("at", 0)), parse_duration(f["for"])
    heal = f.get("heal")
    rest = {k: v for k, v in f.items() if k not in _TIMING_KEYS}
    if vocabulary is not None:   # a named change fault: its mapping is its option's attributes
        for option in vocabulary.options:
            if option.target is None and option.kind == kind and freeze(rest) == freeze(dict(option.attrs_thawed())):
                return FaultDraw(option.name, kind, None, at, duration, option.attrs, heal)
    if kind not in KNOWN_KINDS and kind != "restart":
        return FaultDraw(kind, kind, None, at, duration, tuple(freeze(rest)), heal)
    target = Target.from_fields(f)
    if vocabulary is not None and target is not None:   # the vocabulary knows the target's nodes
        known = next((t for t in vocabulary.targets if t == target), None)
        target = known or target
    attrs = {k: v for k, v in rest.items() if k not in _TARGET_KEYS}
    name = kind
    if kind == "restart" and attrs.get("grace") == 0:
        name = "hard_restart"
    return FaultDraw(name, kind, target, at, duration, tuple(freeze(attrs)), heal)


class _Flow(dict):
    """A mapping written on one line (a fault, a target)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):   # lists indented under their key
        return super().increase_indent(flow, False)


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(),
                                                                    flow_style=True))


def scenario_yaml(scenario: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The scenario as YAML, each fault on one line, under ``# header`` lines."""
    body = dict(scenario)
    if isinstance(body.get("faults"), list):
        body["faults"] = [_Flow(f) for f in body["faults"]]
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096)
    head = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return head + text


_FOUND = re.compile(r"^(?P<stack>.+)-(?P<n>\d+)\.yaml$")


def next_found_path(directory: str | Path, stack: str) -> Path:
    """``<directory>/<stack>-<n>.yaml`` with the next free number (1, 2, ...)."""
    directory = Path(directory)
    taken = [int(m["n"]) for p in directory.glob(f"{stack}-*.yaml")
             if (m := _FOUND.match(p.name)) and m["stack"] == stack]
    return directory / f"{stack}-{max(taken, default=0) + 1}.yaml"

"""The vocabulary of an exploration: which faults on which targets, when and for how long, how many
at once, how much time and how many trials it may spend, its seed, and how many runs confirm a
failure. `Vocabulary.derive(topology)` builds the default from what a stack offers; the search draws
schedules from it (`strategies`), and so does the random baseline — the same words, two ways of
choosing among them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from drillkit.errors import ConfigError
from drillkit.explore.durations import format_duration, format_elapsed
from drillkit.explore.schedule import FaultDraw, Schedule
from drillkit.explore.targets import (KNOWN_KINDS, LINK_KINDS, NODE_KINDS, RUNBOOK_HEALED_KINDS, FaultOption,
                                      Target, freeze)
from drillkit.explore.topology import Topology

__all__ = ["Budget", "Vocabulary", "Pick", "DEFAULT_KINDS"]

#: the default kinds, mildest first (shrinking moves a fault towards the front of this list)
DEFAULT_KINDS = ("latency", "pause", "restart", "hard_restart", "kill", "link_down", "partition", "zone_kill")
_CHANGE_DRAWN = ("at", "for", "repeat")
_MAX_GRID = 10_000


def _err(message: str, field: str, fix: str) -> ConfigError:
    return ConfigError(message, field=f"explore.{field}", fix=fix)


@dataclass(frozen=True)
class Budget:
    """What an exploration may spend: wall time in seconds and/or trials — every run of the
    environment counts, confirmations and shrinking included. At least one bound."""

    time: float | None = None
    trials: int | None = None

    def __post_init__(self) -> None:
        if self.time is None and self.trials is None:
            raise _err("a budget needs time or trials", "budget", "e.g. budget: {time: 30m, trials: 200}")
        if self.time is not None and not (isinstance(self.time, (int, float)) and self.time > 0):
            raise _err(f"time must be a positive duration, not {self.time!r}", "budget.time", "e.g. time: 30m")
        if self.trials is not None and (isinstance(self.trials, bool) or not isinstance(self.trials, int)
                                        or self.trials < 1):
            raise _err(f"trials must be a whole number ≥ 1, not {self.trials!r}", "budget.trials", "e.g. trials: 200")

    def text(self) -> str:
        parts = []
        if self.time is not None:
            parts.append(format_elapsed(self.time))
        if self.trials is not None:
            parts.append(f"{self.trials} trials")
        return " or ".join(parts)


@dataclass(frozen=True)
class Pick:
    """One fault as drawn, before it is laid out in time: indices into the vocabulary's options and
    the option's variants, and grid steps (``time``: of ``at`` — or of the gap after the previous
    fault when faults may not overlap —, ``duration``: above the shortest ``for``)."""

    option: int
    variant: int
    time: int
    duration: int


@dataclass(frozen=True)
class Vocabulary:
    """See the module docstring. ``kinds`` in the order shrinking prefers (earlier = milder);
    ``heals``: target label -> runbook that heals a ``kill``/``stop`` of it (``role:primary`` ->
    ``promote-replica``); ``changes``: named change faults (a scenario fault mapping without
    ``at``/``for``), drawn when their name is among ``kinds``; ``latency``: the latencies drawn (ms,
    mildest first); ``users``: per user kind the (fewest, most) users a schedule may run with."""

    stack: str
    kinds: tuple[str, ...]
    targets: tuple[Target, ...]
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    heals: Mapping[str, str] = field(default_factory=dict)
    latency: tuple[int, ...] = (100, 1000)
    max_faults: int = 3
    at: tuple[float, float] = (0.0, 20.0)
    duration: tuple[float, float] = (1.0, 10.0)
    step: float = 1.0
    overlap: bool = True
    budget: Budget = field(default_factory=lambda: Budget(trials=100))
    seed: int = 0
    confirm: int = 2
    users: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    max_nodes: int | None = None
    options: tuple[FaultOption, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "latency", tuple(sorted(self.latency)))
        self._check()
        object.__setattr__(self, "options", self._options())

    # -- checks ------------------------------------------------------------------------------------
    def _check(self) -> None:
        for name, fault in self.changes.items():
            if not isinstance(fault, Mapping) or not isinstance(fault.get("kind"), str):
                raise _err("a change fault is a scenario fault mapping with a kind", f"changes.{name}",
                           "e.g. {kind: rolling_upgrade, target: {service: app}, build_args: {V: '2'}}")
            for key in _CHANGE_DRAWN:
                if key in fault:
                    raise _err(f"`{key}` is drawn by the search, not written", f"changes.{name}.{key}",
                               f"remove {key}: (explore.at and explore.for set the range)")
            if name in KNOWN_KINDS:
                raise _err(f"a change fault may not be called {name!r} (a fault kind)", f"changes.{name}",
                           "give it a name of its own, e.g. v2-upgrade")
        if not self.kinds:
            raise _err("no fault kinds to explore", "kinds", f"name some of {', '.join(DEFAULT_KINDS)}")
        for i, kind in enumerate(self.kinds):
            if kind not in KNOWN_KINDS and kind not in self.changes:
                raise _err(f"unknown kind {kind!r}", f"kinds[{i}]",
                           f"use {', '.join(KNOWN_KINDS)}, or name a change fault of explore.changes"
                           + (f" ({', '.join(self.changes)})" if self.changes else ""))
            if kind in self.kinds[:i]:
                raise _err(f"kind {kind!r} is listed twice", f"kinds[{i}]", "name each kind once")
        labels = [t.label for t in self.targets]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise _err(f"target {label!r} is listed twice", f"targets[{i}]", "name each target once")
        for label, runbook in self.heals.items():
            if label not in labels:
                raise _err(f"heal names target {label!r}, which is not explored", f"heal.{label}",
                           f"use one of {', '.join(labels)}")
            if not isinstance(runbook, str) or not runbook:
                raise _err(f"heal of {label} must be a runbook name, not {runbook!r}", f"heal.{label}",
                           "e.g. heal: {role:primary: promote-replica}")
        for ms in self.latency:
            if isinstance(ms, bool) or not isinstance(ms, int) or ms < 1:
                raise _err(f"latencies are whole milliseconds ≥ 1, not {ms!r}", "latency", "e.g. latency: [100, 1000]")
        if not self.latency:
            raise _err("no latency to draw", "latency", "e.g. latency: [100, 1000]")
        if isinstance(self.max_faults, bool) or not isinstance(self.max_faults, int) or not 1 <= self.max_faults <= 20:
            raise _err(f"must be 1..20, not {self.max_faults!r}", "max_faults", "e.g. max_faults: 3")
        if not (isinstance(self.step, (int, float)) and self.step > 0):
            raise _err(f"step must be a positive duration, not {self.step!r}", "step", "e.g. step: 1s")
        for key, (lo, hi) in (("at", self.at), ("for", self.duration)):
            if lo > hi:
                raise _err(f"range [{format_duration(lo)}, {format_duration(hi)}] runs backwards", key,
                           f"write {key}: [{format_duration(hi)}, {format_duration(lo)}]")
            if lo < 0 or key == "for" and lo <= 0:
                raise _err(f"starts at {format_duration(lo)}: " + ("a fault must last" if key == "for" else "before inject"),
                           key, f"start {key} at {'1s' if key == 'for' else '0s'} or more")
            if (hi - lo) / self.step > _MAX_GRID:
                raise _err(f"[{format_duration(lo)}, {format_duration(hi)}] in steps of {format_duration(self.step)} "
                           f"is more than {_MAX_GRID} times", key, "raise step or narrow the range")
        if isinstance(self.confirm, bool) or not isinstance(self.confirm, int) or not 1 <= self.confirm <= 10:
            raise _err(f"must be 1..10 runs, not {self.confirm!r}", "confirm",
                       "confirm: 2 (a failure counts when it fails 2 of 2 runs)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise _err(f"seed must be a whole number, not {self.seed!r}", "seed", "e.g. seed: 1")
        for kind, span in self.users.items():
            if (not isinstance(span, tuple) or len(span) != 2 or not all(isinstance(n, int) for n in span)
                    or not 1 <= span[0] <= span[1]):
                raise _err(f"users of {kind} must be a range [fewest, most] of whole numbers ≥ 1, not {span!r}",
                           f"users.{kind}", f"e.g. users: {{{kind}: [2, 20]}}")
        if self.max_nodes is not None and (isinstance(self.max_nodes, bool) or not isinstance(self.max_nodes, int)
                                           or self.max_nodes < 1):
            raise _err(f"max_nodes must be a whole number ≥ 1, not {self.max_nodes!r}", "max_nodes", "e.g. max_nodes: 2")

    def _options(self) -> tuple[FaultOption, ...]:
        out: list[FaultOption] = []
        for i, kind in enumerate(self.kinds):
            if kind in self.changes:
                fault = dict(self.changes[kind])
                scenario_kind = fault.pop("kind")
                heal = fault.pop("heal", None)
                out.append(FaultOption(kind, scenario_kind, None, tuple(freeze(fault)), heal=heal))
                continue
            fitting = [t for t in self.targets if t.fits(kind)]
            made = []
            for t in fitting:
                scenario_kind, fixed = NODE_KINDS.get(kind, (kind, {}))
                variants: tuple = ((),)
                if kind == "latency":
                    variants = tuple(((("latency", ms),) for ms in self.latency))
                heal = self.heals.get(t.label) if kind in RUNBOOK_HEALED_KINDS else None
                option = FaultOption(kind, scenario_kind, t, tuple(sorted(fixed.items())), variants, heal)
                if self.max_nodes is None or option.blast <= self.max_nodes:
                    made.append(option)
            if not made:
                family = ("a service, replica or role" if kind in NODE_KINDS else "a link (x-drillkit.links)"
                          if kind in LINK_KINDS else "two services or roles that can be cut apart (NET_ADMIN)"
                          if kind == "partition" else "two zones or more")
                why = f" within max_nodes {self.max_nodes}" if fitting else ""
                raise _err(f"kind {kind!r} has no target{why}: it needs {family}", f"kinds[{i}]",
                           f"drop {kind} from kinds, or explore targets it can act on")
            out.extend(made)
        return tuple(out)

    # -- derived from a stack ----------------------------------------------------------------------
    @classmethod
    def derive(cls, topology: Topology, *, exclude: Iterable[str] = (), changes: Mapping[str, Mapping] | None = None,
               **fields: Any) -> "Vocabulary":
        """The default vocabulary of a stack: every replica (a single-replica service as a whole), every
        role, link and zone (when there are two or more), the partitions along its links (cut from the
        side whose containers take iptables rules) and between roles of one service; the default kinds
        that have targets, plus every named change fault; a role's runbook as the heal of its kill.
        ``exclude``: target labels or service names never to fault (e.g. the load balancer).
        ``fields`` override the rest (``max_faults=2``, ``budget=Budget(time=600)``, ...)."""
        excluded = list(exclude)
        known = {s.name for s in topology.services}
        targets: list[Target] = []
        for s in topology.services:
            if s.name in excluded:
                continue
            if s.replicas == 1:
                targets.append(Target.node(s.name, None, frozenset(s.nodes())))
            else:
                targets.extend(Target.node(s.name, r, frozenset({n})) for r, n in enumerate(s.nodes(), 1))
        targets.extend(Target.for_role(r.name) for r in topology.roles)
        targets.extend(Target.for_link(link.name) for link in topology.links)
        seen: set[frozenset] = set()

        def add_pair(a: tuple[str, ...], b: tuple[str, ...], nodes: frozenset[str]) -> None:
            key = frozenset({frozenset(a), frozenset(b)})
            if key not in seen:
                seen.add(key)
                targets.append(Target.pair(a, b, nodes))

        def side_nodes(names: Sequence[str]) -> frozenset[str]:
            return frozenset(n for name in names for n in topology.service(name).nodes())

        for link in topology.links:
            if all(topology.service(x).net_admin for x in link.sources):
                add_pair(link.sources, (link.to,), side_nodes(link.sources))
            elif topology.service(link.to).net_admin:
                add_pair((link.to,), link.sources, side_nodes([link.to]))
        for i, r1 in enumerate(topology.roles):
            for r2 in topology.roles[i + 1:]:
                shared = set(r1.services) & set(r2.services)
                if shared and all(topology.service(x).net_admin for x in shared):
                    add_pair((r1.name,), (r2.name,), frozenset({f"role:{r1.name}"}))
        if len(topology.zones) >= 2:
            targets.extend(Target.for_zone(z, frozenset(topology.zone_nodes(z))) for z in topology.zones)
        labels = {t.label for t in targets} | {f"role:{r.name}" for r in topology.roles}
        for i, name in enumerate(excluded):
            if name not in known and name not in labels:
                raise _err(f"the stack has no service or target {name!r}", f"exclude[{i}]",
                           f"use a service ({', '.join(sorted(known))}) or a target label")
        targets = [t for t in targets if t.label not in excluded]
        changes = dict(changes or {})
        kinds = fields.pop("kinds", None)
        if kinds is None:   # the default kinds that can act on something (within max_nodes)
            max_nodes = fields.get("max_nodes")
            kinds = tuple(k for k in DEFAULT_KINDS if any(
                t.fits(k) and (max_nodes is None or FaultOption(k, k, t).blast <= max_nodes) for t in targets))
            kinds += tuple(changes)
        heals = {f"role:{r.name}": r.heal for r in topology.roles if r.heal and f"role:{r.name}" not in excluded}
        heals.update(fields.pop("heals", {}))
        return cls(stack=fields.pop("stack", topology.stack), kinds=tuple(kinds), targets=tuple(targets),
                   changes=changes, heals=heals, **fields)

    def with_(self, **fields: Any) -> "Vocabulary":
        """A copy with some fields changed (checked again)."""
        return replace(self, **fields)

    # -- what the search draws ---------------------------------------------------------------------
    @property
    def at_steps(self) -> int:
        return int(math.floor((self.at[1] - self.at[0]) / self.step + 1e-9))

    @property
    def duration_steps(self) -> int:
        return int(math.floor((self.duration[1] - self.duration[0]) / self.step + 1e-9))

    def schedule(self, picks: Sequence[Pick], users: Sequence[tuple[str, int]] = ()) -> Schedule:
        """Lay picks out in time and keep what may run together: faults overlap only when ``overlap``
        (otherwise each starts a gap after the previous one heals, and those past the ``at`` range are
        dropped); of two overlapping faults on the same node, link or pair the later one is dropped,
        and so is one that would fault more than ``max_nodes`` at once. Draws that differ only in what
        was dropped give the same schedule."""
        laid: list[tuple[FaultOption, tuple, float, float]] = []
        cursor = self.at[0]
        for p in picks:
            option = self.options[p.option]
            variant = option.variants[p.variant % len(option.variants)]
            duration = round(self.duration[0] + p.duration * self.step, 3)
            if self.overlap:
                at = round(self.at[0] + p.time * self.step, 3)
            else:
                at = round(cursor + p.time * self.step, 3)
                if at > self.at[1] + 1e-9:
                    break
                cursor = at + duration
            laid.append((option, variant, at, duration))
        kept: list[tuple[FaultOption, float, float]] = []
        draws: list[FaultDraw] = []
        for option, variant, at, duration in sorted(laid, key=lambda x: x[2]):
            live = [(o, a, d) for o, a, d in kept if a <= at < a + d]
            if any(o.footprint & option.footprint for o, _, _ in live):
                continue
            if self.max_nodes is not None:
                down = set(option.down).union(*(o.down for o, _, _ in live))
                if len(down) > self.max_nodes:
                    continue
            kept.append((option, at, duration))
            attrs = tuple(sorted((*option.attrs, *variant)))
            draws.append(FaultDraw(option.name, option.kind, option.target, at, duration, attrs, option.heal))
        return Schedule(tuple(draws), tuple(users))

    def locate(self, draw: FaultDraw) -> tuple[int, int]:
        """(option index, variant index) of a drawn fault; `ConfigError` when this vocabulary
        cannot draw it (a schedule of another vocabulary)."""
        for i, o in enumerate(self.options):
            if o.label == draw.label and o.heal == draw.heal:
                for j, variant in enumerate(o.variants):
                    if tuple(sorted((*o.attrs, *variant))) == draw.attrs:
                        return i, j
        raise ConfigError(f"{draw.text()} is not a fault this exploration draws", field="explore",
                          fix="explore the vocabulary the schedule was found with")

    @property
    def digest(self) -> str:
        """Names what the search can draw (options, times, sizes — not budget, seed or confirm): the
        example database of one vocabulary is not replayed into another."""
        words = [repr((o.label, o.kind, o.attrs, o.variants, o.heal)) for o in self.options]
        words.append(repr((self.max_faults, self.at, self.duration, self.step, self.overlap,
                           sorted(self.users.items()), self.max_nodes, "explore-1")))
        return hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]

    def describe(self) -> str:
        kinds = ", ".join(self.kinds)
        return (f"{len(self.options)} faults ({kinds}) on {len(self.targets)} targets, up to {self.max_faults} "
                f"per schedule{', overlapping' if self.overlap else ', one after another'}, at {format_duration(self.at[0])}.."
                f"{format_duration(self.at[1])} for {format_duration(self.duration[0])}..{format_duration(self.duration[1])}; "
                f"budget {self.budget.text()}; seed {self.seed}; confirmed {self.confirm} of {self.confirm}")

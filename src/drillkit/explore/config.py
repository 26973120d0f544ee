"""The ``explore:`` section of a scenario, read into vocabulary overrides (docs/explore.md).

```yaml
explore:
  kinds: [kill, hard_restart, partition, latency]   # default: every kind the stack has targets for
  targets: [app-2, role:primary, link:app-db, "app|db", zone:zone-a]   # default: all it offers
  exclude: [lb]                    # never fault these (target labels or service names)
  changes: {v2: {kind: rolling_upgrade, target: {service: app}, build_args: {VERSION: "2"}}}
  heal: {role:primary: promote-replica}
  latency: [100, 1000]             # ms drawn for a latency fault, mildest first
  max_faults: 3
  at: [0s, 20s]
  for: [1s, 10s]
  step: 1s
  overlap: true
  users: {clerks: [2, 20]}
  budget: {time: 8m, trials: 200}
  seed: 1
  confirm: 2
```

`parse_explore` checks the section's form (one-line errors through an error factory, so the scenario
validator can put ``file:line`` on them); `ExploreConfig.vocabulary(topology)` checks it against the
stack and builds the `Vocabulary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from drillkit.errors import ConfigError
from drillkit.explore.durations import parse_duration
from drillkit.explore.topology import Topology
from drillkit.explore.vocabulary import Budget, Vocabulary

__all__ = ["ExploreConfig", "parse_explore", "EXPLORE_KEYS", "ErrorFactory", "default_error"]

EXPLORE_KEYS = {
    "kinds": "fault kinds to draw, mildest first: kill, stop, restart, hard_restart, pause, partition, latency, "
             "link_down, zone_kill, zone_partition, or a name of changes",
    "targets": "target labels to draw from (app-2, db, role:primary, link:app-db, app|db, zone:zone-a)",
    "exclude": "target labels or services never to fault",
    "changes": "named change faults: scenario fault mappings without at/for",
    "heal": "target label -> runbook that heals a kill of it, e.g. {role:primary: promote-replica}",
    "latency": "latencies drawn for a latency fault, in ms, mildest first",
    "max_faults": "most faults in one schedule",
    "at": "[earliest, latest] injection, from the start of the inject phase",
    "for": "[shortest, longest] time a fault lasts",
    "step": "the grid of at and for",
    "overlap": "whether faults may be active at the same time",
    "users": "per user kind, [fewest, most] users a schedule may run with",
    "budget": "{time, trials}: what the exploration may spend (every run counts)",
    "seed": "the seed of the search (and of the random baseline)",
    "confirm": "runs that must all fail for a failure to count",
}

#: ``error(message, field=..., fix=..., container=..., key=...) -> Exception``: ``container[key]`` is the
#: offending YAML node (the scenario validator turns it into file:line)
ErrorFactory = Callable[..., Exception]


def default_error(message: str, *, field: str, fix: str, container: Any = None, key: Any = None) -> Exception:
    return ConfigError(message, field=field, fix=fix)


def _kind_of(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class ExploreConfig:
    """The section's values, checked for form; None = the default."""

    raw: Mapping[str, Any]
    where: str
    error: ErrorFactory
    kinds: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    heal: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)   # Vocabulary fields: latency, max_faults, at, ...

    def vocabulary(self, topology: Topology, *, max_nodes: int | None = None) -> Vocabulary:
        """The vocabulary for this stack: its derived default with this section over it. ``max_nodes``:
        the scenario's blast radius (schedules keep within it). Errors name the section's field."""
        try:
            every = Vocabulary.derive(topology, exclude=self.exclude, changes=self.changes, max_nodes=max_nodes,
                                      **self.fields)
            targets = every.targets
            if self.targets is not None:
                labels = [t.label for t in every.targets]
                for i, label in enumerate(self.targets):
                    if label not in labels:
                        raise ConfigError(f"the stack offers no target {label!r}", field=f"explore.targets[{i}]",
                                          fix=f"use one of {', '.join(labels)}")
                targets = tuple(every.targets[labels.index(label)] for label in self.targets)
            kinds = self.kinds
            if kinds is None:
                kinds = tuple(k for k in every.kinds if k in self.changes or any(t.fits(k) for t in targets))
            chosen = {t.label for t in targets}
            heals = {k: v for k, v in every.heals.items() if k in chosen}
            heals.update(self.heal)
            return every.with_(kinds=kinds, targets=targets, heals=heals)
        except ConfigError as exc:
            if not (exc.field or "").startswith("explore."):
                raise
            path = exc.field[len("explore."):]
            message = exc.message.removeprefix(f"{exc.field}: ")   # ConfigError put the field in front
            container, key = _locate(self.raw, path)
            raise self.error(message, field=f"{self.where}.{path}", fix=exc.fix or "", container=container,
                             key=key) from None


def _locate(raw: Mapping[str, Any], path: str) -> tuple[Any, Any]:
    """The YAML node a field path names (``kinds[2]``, ``changes.v2.at``), as (container, key): as
    deep as the section goes; the section itself when the path names nothing in it."""
    container: Any = raw
    key: Any = None
    for part in path.replace("]", "").replace("[", ".").split("."):
        if key is not None:
            nxt = container[key] if _has(container, key) else None
            if not isinstance(nxt, (Mapping, list)):
                break
            container = nxt
        k: Any = int(part) if part.isdigit() and isinstance(container, list) else part
        if not _has(container, k):
            break
        key = k
    return container, key


def _has(container: Any, key: Any) -> bool:
    if isinstance(container, Mapping):
        return key in container
    if isinstance(container, list):
        return isinstance(key, int) and 0 <= key < len(container)
    return False


def parse_explore(raw: Any, *, where: str = "explore", error: ErrorFactory = default_error) -> ExploreConfig:
    """Check the ``explore:`` section's form; the first problem is one error from ``error`` (a
    `ConfigError` by default) naming the field and the fix."""
    def err(message: str, key: Any, fix: str, container: Any = None, sub: str = "") -> Exception:
        return error(message, field=f"{where}.{key}{sub}" if key is not None else where, fix=fix,
                     container=raw if container is None else container, key=key)

    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise error(f"must be a mapping, not {_kind_of(raw)}", field=where, fix="e.g. explore: {max_faults: 3, budget: {time: 10m}}",
                    container=None, key=None)
    for key in raw:
        if key not in EXPLORE_KEYS:
            raise err(f"unknown key {key!r}", key, f"use {', '.join(EXPLORE_KEYS)}")

    def names(key: str) -> tuple[str, ...] | None:
        if key not in raw:
            return None
        v = raw[key]
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise err(f"must be a list of names, not {_kind_of(v)}", key, f"e.g. {key}: [{'kill, partition' if key == 'kinds' else 'app-2, role:primary'}]")
        return tuple(v)

    def duration(value: Any, key: str, sub: str, container: Any, ckey: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise error(f"{exc}", field=f"{where}.{key}{sub}", fix="a duration: 500ms, 3s, 1m or seconds",
                        container=container, key=ckey) from None

    def span(key: str) -> tuple[float, float] | None:
        if key not in raw:
            return None
        v = raw[key]
        if not isinstance(v, list) or len(v) != 2:
            raise err(f"must be a range [from, to], not {_kind_of(v)}", key,
                      f"e.g. {key}: {'[0s, 20s]' if key == 'at' else '[1s, 10s]'}")
        lo, hi = (duration(x, key, f"[{i}]", v, i) for i, x in enumerate(v))
        return lo, hi

    def whole(key: str, lo: int, hi: int | None, fix: str, value: Any = None, container: Any = None,
              sub: str = "", ckey: Any = None) -> int:
        v = raw[key] if value is None else value
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f"≥ {lo}"
            raise error(f"must be a whole number {rng}, not {v!r}", field=f"{where}.{key}{sub}", fix=fix,
                        container=raw if container is None else container, key=key if ckey is None else ckey)
        return v

    fields: dict[str, Any] = {}
    kinds, targets = names("kinds"), names("targets")
    exclude = names("exclude") or ()
    changes: dict[str, Mapping[str, Any]] = {}
    if raw.get("changes") is not None:
        v = raw["changes"]
        if not isinstance(v, Mapping):
            raise err(f"must be a mapping of names to faults, not {_kind_of(v)}", "changes",
                      "e.g. changes: {v2: {kind: rolling_upgrade, target: {service: app}, build_args: {V: '2'}}}")
        for name, fault in v.items():
            if not isinstance(fault, Mapping) or not isinstance(fault.get("kind"), str):
                raise error("a change fault is a fault mapping with a kind", field=f"{where}.changes.{name}",
                            fix="e.g. {kind: config_drift, target: {service: app}, environment: {POOL: small}}",
                            container=v, key=name)
            changes[str(name)] = dict(fault)
    heal: dict[str, str] = {}
    if raw.get("heal") is not None:
        v = raw["heal"]
        if not isinstance(v, Mapping) or not all(isinstance(r, str) and r for r in v.values()):
            raise err(f"must map target labels to runbook names, not {_kind_of(v)}", "heal",
                      "e.g. heal: {role:primary: promote-replica}")
        heal = {str(k): r for k, r in v.items()}
    if "latency" in raw:
        v = raw["latency"]
        values = v if isinstance(v, list) else [v]
        ms = []
        for i, x in enumerate(values):
            if isinstance(x, str):
                x = round(duration(x, "latency", f"[{i}]", values if isinstance(v, list) else raw,
                                   i if isinstance(v, list) else "latency") * 1000)
            ms.append(whole("latency", 1, None, "milliseconds, e.g. latency: [100, 1000] (or 100ms, 1s)", x,
                            values if isinstance(v, list) else raw, f"[{i}]" if isinstance(v, list) else "",
                            i if isinstance(v, list) else "latency"))
        if not ms:
            raise err("no latency to draw", "latency", "e.g. latency: [100, 1000]")
        fields["latency"] = tuple(ms)
    if "max_faults" in raw:
        fields["max_faults"] = whole("max_faults", 1, 20, "e.g. max_faults: 3")
    if (at := span("at")) is not None:
        fields["at"] = at
    if (dur := span("for")) is not None:
        fields["duration"] = dur
    if "step" in raw:
        step = duration(raw["step"], "step", "", raw, "step")
        if step <= 0:
            raise err("step must be longer than 0", "step", "e.g. step: 1s (or 500ms)")
        fields["step"] = step
    if "overlap" in raw:
        if not isinstance(raw["overlap"], bool):
            raise err(f"must be true or false, not {raw['overlap']!r}", "overlap", "overlap: true")
        fields["overlap"] = raw["overlap"]
    if raw.get("users") is not None:
        v = raw["users"]
        if not isinstance(v, Mapping):
            raise err(f"must be a mapping of user kinds to [fewest, most], not {_kind_of(v)}", "users",
                      "e.g. users: {clerks: [2, 20]}")
        users = {}
        for kind, r in v.items():
            if isinstance(r, int) and not isinstance(r, bool):
                r = [r, r]
            if not isinstance(r, list) or len(r) != 2:
                raise error(f"must be [fewest, most], not {_kind_of(r)}", field=f"{where}.users.{kind}",
                            fix=f"e.g. {kind}: [2, 20]", container=v, key=kind)
            lo, hi = (whole("users", 1, None, f"e.g. {kind}: [2, 20]", x, r, f".{kind}[{i}]", i) for i, x in enumerate(r))
            if lo > hi:
                raise error(f"[{lo}, {hi}] runs backwards", field=f"{where}.users.{kind}", fix=f"write [{hi}, {lo}]",
                            container=v, key=kind)
            users[str(kind)] = (lo, hi)
        fields["users"] = users
    if "budget" in raw:
        v = raw["budget"]
        if not isinstance(v, Mapping) or not v:
            raise err(f"must be a mapping with time and/or trials, not {_kind_of(v)}", "budget",
                      "e.g. budget: {time: 30m, trials: 200}")
        for k in v:
            if k not in ("time", "trials"):
                raise error(f"unknown key {k!r}", field=f"{where}.budget.{k}", fix="use time, trials",
                            container=v, key=k)
        t = duration(v["time"], "budget", ".time", v, "time") if v.get("time") is not None else None
        if t is not None and t <= 0:
            raise error("time must be longer than 0", field=f"{where}.budget.time", fix="e.g. time: 30m",
                        container=v, key="time")
        n = whole("budget", 1, None, "e.g. trials: 200", v["trials"], v, ".trials", "trials") \
            if v.get("trials") is not None else None
        if t is None and n is None:
            raise err("a budget needs time or trials", "budget", "e.g. budget: {time: 30m, trials: 200}")
        fields["budget"] = Budget(time=t, trials=n)
    if "seed" in raw:
        fields["seed"] = whole("seed", 0, None, "e.g. seed: 1")
    if "confirm" in raw:
        fields["confirm"] = whole("confirm", 1, 10, "confirm: 2 (a failure counts when it fails 2 of 2 runs)")
    return ExploreConfig(raw=raw, where=where, error=error, kinds=kinds, targets=targets, exclude=exclude,
                         changes=changes, heal=heal, fields=fields)


def example() -> str:
    """The section with every key, as docs/explore.md shows it."""
    return (__doc__ or "").split("```yaml\n", 1)[1].split("```", 1)[0]


